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


class CalendarQuerySerializer(serializers.Serializer):
    month = serializers.RegexField(
        r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$",
        max_length=7,
        help_text="The month, YYYY-MM (years 1000 to 9999), in the user's local dates.",
        error_messages={"invalid": "Enter a month as YYYY-MM, e.g. 2026-12."},
    )


class CalendarDayOutputSerializer(serializers.Serializer):
    date = serializers.DateField()
    status = serializers.ChoiceField(
        choices=["checked_in", "frozen"],
        help_text="checked_in: a check-in on that date; frozen: a day a streak freeze bridged.",
    )


class CalendarOutputSerializer(serializers.Serializer):
    month = serializers.CharField()
    days = CalendarDayOutputSerializer(many=True)
