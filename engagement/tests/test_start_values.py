"""A new user's starting state comes from settings.ENGAGEMENT's START_* values."""

import datetime as dt

import pytest
from django.conf import settings

from checkins.services import checkin_create
from engagement import rules
from engagement.invariants import ledger_replay_mismatches
from engagement.models import UserState
from engagement.services import state_get_or_create
from users.tests.factories import UserFactory

NOW = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


def test_the_defaults_are_the_rules_own_starting_state():
    assert rules.initial_state(settings.ENGAGEMENT) == rules.INITIAL_STATE
    assert (rules.INITIAL_STATE.level, rules.INITIAL_STATE.energy) == (1, 50)


@pytest.mark.django_db
def test_a_new_state_row_starts_from_the_settings_and_the_ledger_replays_from_them(settings):
    settings.ENGAGEMENT = {
        **settings.ENGAGEMENT,
        "START_LEVEL": 3,
        "START_ENERGY": 10,
        "START_FATIGUE": 5,
        "START_LOYALTY": 100,
        "START_STREAK_FREEZES": 1,
    }
    user = UserFactory()

    state_get_or_create(user_id=user.pk)
    row = UserState.objects.get(user=user)
    assert (row.level, row.energy, row.fatigue, row.loyalty, row.streak_freezes) == (
        3,
        10,
        5,
        100,
        1,
    )
    assert (row.streak, row.longest_streak, row.total_checkins) == (0, 0, 0)

    checkin_create(user_id=user.pk, now=NOW)

    row.refresh_from_db()
    assert (row.energy, row.fatigue) == (30, 15)
    assert ledger_replay_mismatches(user_id=user.pk) == []


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("START_LEVEL", 0, "START_LEVEL must be 1 or more, not 0."),
        ("START_ENERGY", 100, "START_ENERGY must be 0 to 99, not 100."),
        ("START_FATIGUE", -1, "START_FATIGUE must be 0 to 100, not -1."),
        ("START_LOYALTY", -5, "START_LOYALTY must be 0 or more, not -5."),
        ("START_STREAK_FREEZES", 3, "START_STREAK_FREEZES must be 0 to 2, not 3."),
    ],
)
def test_a_starting_value_out_of_bounds_is_refused(key, value, message):
    config = dict(settings.ENGAGEMENT) | {key: value}
    with pytest.raises(ValueError, match=message):
        rules.initial_state(config)  # type: ignore[arg-type]  # a dict of the same keys
