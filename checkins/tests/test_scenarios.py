"""Multi-day stories through the real check-in service, on a controlled clock."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from checkins.errors import AlreadyCheckedIn
from checkins.models import CheckIn
from checkins.services import checkin_create
from engagement.invariants import ledger_replay_mismatches
from engagement.models import LedgerEntry, UserState
from rewards.services import freezes_grant
from users.services import user_update_profile
from users.tests.factories import UserFactory, client_for

pytestmark = pytest.mark.django_db


def at(day: int, hour: int = 12) -> dt.datetime:
    """Day ``day`` of May 2026 at ``hour`` UTC."""
    return dt.datetime(2026, 5, day, hour, tzinfo=dt.UTC)


def grant_freezes(user, count: int) -> None:
    """Give freezes the way staff do: locked, applied, ledgered."""
    freezes_grant(user_id=user.pk, count=count, reason="test setup", now=timezone.now())


def state_of(user) -> UserState:
    return UserState.objects.get(user=user)


def test_consecutive_days_build_a_streak(user):
    for day in (1, 2, 3):
        result = checkin_create(user_id=user.pk, now=at(day))

    assert result.state.streak == 3
    assert result.state.longest_streak == 3
    assert result.state.total_checkins == 3
    assert (result.state.level, result.state.energy) == (2, 0)  # 50+20+20+20 reached 100
    assert ledger_replay_mismatches(user_id=user.pk) == []


def test_energy_overflow_levels_up_and_raises_the_loyalty_multiplier(user):
    results = [checkin_create(user_id=user.pk, now=at(day)) for day in (1, 2, 3, 4)]

    # 50 +20 +20 -> 90, +20 reaches 100: level 2, energy 0; then +20.
    assert [r.state.level for r in results] == [1, 1, 2, 2]
    assert [r.state.energy for r in results] == [70, 90, 0, 20]
    assert results[2].checkin_step.leveled_up is True
    # Level 2 multiplies gains by 1.05: 5 * 1.05 = 5.25 -> 5.
    assert results[3].checkin_step.loyalty_multiplier == Decimal("1.05")
    assert results[3].state.loyalty == 20


def test_missing_a_day_without_freezes_restarts_the_streak(user):
    checkin_create(user_id=user.pk, now=at(1))
    checkin_create(user_id=user.pk, now=at(2))

    result = checkin_create(user_id=user.pk, now=at(4))

    assert result.state.streak == 1
    assert result.state.longest_streak == 2
    assert result.freezes_used == 0


def test_freezes_bridge_a_gap_they_cover(user):
    checkin_create(user_id=user.pk, now=at(1))
    grant_freezes(user, 2)

    result = checkin_create(user_id=user.pk, now=at(4))  # days 2 and 3 missed

    assert result.freezes_used == 2
    assert result.state.streak == 2
    assert result.state.streak_freezes == 0
    assert result.checkin.freezes_used == 2
    kinds = list(
        LedgerEntry.objects.filter(user=user).order_by("id").values_list("kind", "streak_freezes")
    )
    assert kinds == [("checkin", 0), ("admin_grant", 2), ("freeze_used", -2), ("checkin", 0)]
    assert ledger_replay_mismatches(user_id=user.pk) == []


def test_a_gap_longer_than_the_freezes_keeps_them_and_restarts(user):
    checkin_create(user_id=user.pk, now=at(1))
    grant_freezes(user, 1)

    result = checkin_create(user_id=user.pk, now=at(4))

    assert result.freezes_used == 0
    assert result.state.streak == 1
    assert result.state.streak_freezes == 1


def test_streak_status_follows_the_calendar(user):
    checkin_create(user_id=user.pk, now=at(1))
    grant_freezes(user, 1)

    def status_on(day: int) -> str:
        with time_machine.travel(at(day), tick=False):
            return client_for(user).get("/api/v1/me").json()["state"]["streak_status"]

    assert status_on(1) == "active"
    assert status_on(2) == "at_risk"
    assert status_on(3) == "at_risk"  # one missed day, covered by the freeze
    assert status_on(4) == "broken"


def test_the_date_is_the_users_local_date(db):
    tokyo = UserFactory(timezone="Asia/Tokyo")  # UTC+9
    honolulu = UserFactory(timezone="Pacific/Honolulu")  # UTC-10
    moment = dt.datetime(2026, 5, 1, 20, tzinfo=dt.UTC)

    assert checkin_create(user_id=tokyo.pk, now=moment).checkin.date == dt.date(2026, 5, 2)
    assert checkin_create(user_id=honolulu.pk, now=moment).checkin.date == dt.date(2026, 5, 1)


def test_a_new_local_day_allows_the_next_checkin_at_local_midnight(db):
    user = UserFactory(timezone="Europe/Warsaw")  # UTC+2 in May
    checkin_create(user_id=user.pk, now=dt.datetime(2026, 5, 1, 21, 59, tzinfo=dt.UTC))

    with pytest.raises(AlreadyCheckedIn):
        checkin_create(user_id=user.pk, now=dt.datetime(2026, 5, 1, 21, 30, tzinfo=dt.UTC))
    result = checkin_create(user_id=user.pk, now=dt.datetime(2026, 5, 1, 22, 0, tzinfo=dt.UTC))

    assert result.checkin.date == dt.date(2026, 5, 2)
    assert result.state.streak == 2


def test_moving_west_cannot_buy_a_second_checkin_for_a_used_day(db):
    user = UserFactory(timezone="Asia/Tokyo")
    moment = dt.datetime(2026, 5, 1, 20, tzinfo=dt.UTC)  # May 2 in Tokyo, May 1 in Honolulu
    checkin_create(user_id=user.pk, now=moment)
    user_update_profile(user_id=user.pk, timezone_name="Pacific/Honolulu", now=moment)

    with pytest.raises(AlreadyCheckedIn):
        checkin_create(user_id=user.pk, now=moment + dt.timedelta(hours=1))
    # Still refused on Honolulu's May 2, the date already used in Tokyo.
    with pytest.raises(AlreadyCheckedIn):
        checkin_create(user_id=user.pk, now=dt.datetime(2026, 5, 2, 20, tzinfo=dt.UTC))
    result = checkin_create(user_id=user.pk, now=dt.datetime(2026, 5, 3, 20, tzinfo=dt.UTC))

    assert result.checkin.date == dt.date(2026, 5, 3)
    assert result.state.streak == 2
    assert CheckIn.objects.filter(user=user).count() == 2


def test_a_long_run_keeps_every_invariant(user):
    days = [1, 2, 3, 5, 6, 9, 10, 11, 12, 20, 21]
    for day in days:
        checkin_create(user_id=user.pk, now=at(day))

    state = state_of(user)
    assert state.total_checkins == len(days) == CheckIn.objects.filter(user=user).count()
    assert state.streak == 2
    assert state.longest_streak == 4
    assert ledger_replay_mismatches(user_id=user.pk) == []
