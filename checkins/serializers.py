from rest_framework import serializers

from engagement import rules
from engagement.serializers import StateOutputSerializer, StepMetaOutputSerializer
from rewards.serializers import RewardUnlockedOutputSerializer


class CheckinOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    date = serializers.DateField()
    streak = serializers.IntegerField()
    freezes_used = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class StreakOutputSerializer(serializers.Serializer):
    current = serializers.IntegerField()
    longest = serializers.IntegerField()
    status = serializers.ChoiceField(choices=rules.STREAK_STATUSES)


class CheckinCreateOutputSerializer(serializers.Serializer):
    checkin = CheckinOutputSerializer()
    state = StateOutputSerializer()
    streak = StreakOutputSerializer()
    freezes_used = serializers.IntegerField()
    unlocked = RewardUnlockedOutputSerializer(
        many=True, help_text="Rewards the check-in unlocked (auto-claimed ones included)."
    )
    meta = StepMetaOutputSerializer()
