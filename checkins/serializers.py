from rest_framework import serializers

from engagement import rules
from engagement.serializers import DeltasOutputSerializer, StateOutputSerializer


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


class UnlockedRewardOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    auto_claimed = serializers.BooleanField()


class CheckinMetaOutputSerializer(serializers.Serializer):
    leveled_up = serializers.BooleanField()
    loyalty_multiplier = serializers.FloatField()
    loyalty_applied = serializers.IntegerField()
    applied = DeltasOutputSerializer(help_text="What the check-in itself changed.")


class CheckinCreateOutputSerializer(serializers.Serializer):
    checkin = CheckinOutputSerializer()
    state = StateOutputSerializer()
    streak = StreakOutputSerializer()
    freezes_used = serializers.IntegerField()
    unlocked = UnlockedRewardOutputSerializer(many=True)
    meta = CheckinMetaOutputSerializer()
