import datetime as dt

from rest_framework import serializers

from engagement import rules
from engagement.models import LedgerEntry


class StateNumbersSerializer(serializers.Serializer):
    """The numeric state fields (rules.STATE_FIELDS), as values or as deltas."""

    level = serializers.IntegerField()
    energy = serializers.IntegerField()
    fatigue = serializers.IntegerField()
    loyalty = serializers.IntegerField()
    streak = serializers.IntegerField()
    longest_streak = serializers.IntegerField()
    total_checkins = serializers.IntegerField()
    streak_freezes = serializers.IntegerField()


class StateOutputSerializer(StateNumbersSerializer):
    last_checkin_date = serializers.DateField(allow_null=True)
    lost_streak = serializers.IntegerField(
        help_text="Length of the streak the last reset check-in lost, kept for one restore "
        "(a streak_repair tool within REPAIR_WINDOW_DAYS of streak_lost_on, or staff); "
        "0 when there is nothing to restore."
    )
    streak_lost_on = serializers.DateField(
        allow_null=True, help_text="Local date that streak was lost on; null with lost_streak 0."
    )
    streak_status = serializers.ChoiceField(choices=rules.STREAK_STATUSES)


def state_data(state: rules.State, today: dt.date) -> dict:
    """The ``state`` object of every response that carries one, as
    ``StateOutputSerializer`` documents it. Built directly: it is on every hot
    path, and a serializer instance per response costs more than the query
    (engagement/tests/test_statements.py checks they agree)."""
    data: dict = {field: getattr(state, field) for field in rules.STATE_FIELDS}
    last = state.last_checkin_date
    data["last_checkin_date"] = last.isoformat() if last else None
    data["lost_streak"] = state.lost_streak
    lost_on = state.streak_lost_on
    data["streak_lost_on"] = lost_on.isoformat() if lost_on else None
    data["streak_status"] = rules.streak_status(state, today)
    return data


class DeltasOutputSerializer(StateNumbersSerializer):
    """Applied changes of the numeric state fields."""


class LedgerEntryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=LedgerEntry.Kind.choices)
    ref = serializers.CharField()
    deltas = DeltasOutputSerializer()
    state_after = serializers.DictField()
    created_at = serializers.DateTimeField()


class StepMetaOutputSerializer(serializers.Serializer):
    leveled_up = serializers.BooleanField()
    loyalty_multiplier = serializers.FloatField()
    loyalty_applied = serializers.IntegerField()
    applied = DeltasOutputSerializer(help_text="What the operation itself changed.")


def step_meta(step: rules.Transition) -> dict:
    """The ``meta`` object of a response: what one transition did."""
    return {
        "leveled_up": step.leveled_up,
        "loyalty_multiplier": float(step.loyalty_multiplier),
        "loyalty_applied": step.loyalty_applied,
        "applied": step.applied.as_dict(),
    }
