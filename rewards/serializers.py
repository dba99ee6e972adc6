from rest_framework import serializers

from base.serializers import ProblemSerializer, StrictInputSerializer
from engagement.serializers import StateOutputSerializer, StepMetaOutputSerializer
from rewards.models import RewardRule

REWARD_STATUSES = ["locked", "unlocked", "claimed"]


class NoInputSerializer(StrictInputSerializer):
    """Bodiless actions: an empty body or ``{}`` passes; any field is refused, so a
    client that believes it can send, say, a quantity learns otherwise."""


class EffectsOutputSerializer(serializers.Serializer):
    """Only the keys an entry sets are present."""

    energy = serializers.IntegerField(required=False)
    fatigue = serializers.IntegerField(required=False)
    loyalty = serializers.IntegerField(required=False)
    streak_freezes = serializers.IntegerField(required=False)


class ToolEffectsOutputSerializer(EffectsOutputSerializer):
    """Only the keys an entry sets are present."""

    streak_repair = serializers.IntegerField(
        required=False,
        help_text="1: using the tool restores the streak the last reset check-in lost, within "
        "REPAIR_WINDOW_DAYS local days of the loss.",
    )


class RewardProgressOutputSerializer(serializers.Serializer):
    current = serializers.IntegerField(help_text="The rule's value, capped at the target.")
    target = serializers.IntegerField()


class RewardOutputSerializer(serializers.Serializer):
    """A catalog reward with the caller's status (from a ``RewardStatus``)."""

    id = serializers.CharField(source="reward.id")
    title = serializers.CharField(source="reward.title")
    description = serializers.CharField(source="reward.description")
    rule = serializers.ChoiceField(source="reward.rule", choices=RewardRule.choices)
    threshold = serializers.IntegerField(source="reward.threshold")
    effects = EffectsOutputSerializer(source="reward.effects")
    auto_claim = serializers.BooleanField(source="reward.auto_claim")
    status = serializers.ChoiceField(
        choices=REWARD_STATUSES,
        help_text="locked: not unlocked yet; unlocked: ready to claim; claimed: done.",
    )
    unlocked_at = serializers.DateTimeField(allow_null=True)
    claimed_at = serializers.DateTimeField(allow_null=True)
    progress = RewardProgressOutputSerializer()


class RewardUnlockedOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="reward.id")
    title = serializers.CharField(source="reward.title")
    auto_claimed = serializers.BooleanField()


class RewardClaimOutputSerializer(serializers.Serializer):
    reward = RewardOutputSerializer()
    state = StateOutputSerializer()
    unlocked = RewardUnlockedOutputSerializer(
        many=True, help_text="Rewards the new state unlocked (auto-claimed ones included)."
    )
    meta = StepMetaOutputSerializer()


class ToolOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    price = serializers.IntegerField()
    effects = ToolEffectsOutputSerializer()


class InventoryItemOutputSerializer(serializers.Serializer):
    tool = ToolOutputSerializer()
    quantity = serializers.IntegerField()


class InventoryCapacityOutputSerializer(serializers.Serializer):
    max = serializers.IntegerField(help_text="Distinct tools the inventory can hold.")
    used = serializers.IntegerField(help_text="Distinct tools held (quantity > 0).")


class InventoryOutputSerializer(serializers.Serializer):
    capacity = InventoryCapacityOutputSerializer()
    items = InventoryItemOutputSerializer(many=True)


class ToolBuyOutputSerializer(serializers.Serializer):
    item = InventoryItemOutputSerializer()
    state = StateOutputSerializer()
    unlocked = RewardUnlockedOutputSerializer(many=True)


class ToolUseOutputSerializer(serializers.Serializer):
    item = InventoryItemOutputSerializer()
    state = StateOutputSerializer()
    meta = StepMetaOutputSerializer()
    unlocked = RewardUnlockedOutputSerializer(many=True)


class ToolBuyConflictSerializer(ProblemSerializer):
    """A refused purchase (409); ``insufficient_loyalty`` says what is missing."""

    price = serializers.IntegerField(
        required=False, help_text="`insufficient_loyalty` only: the tool's price."
    )
    loyalty = serializers.IntegerField(
        required=False, help_text="`insufficient_loyalty` only: the caller's loyalty."
    )
