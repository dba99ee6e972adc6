"""The migration that keeps each user's last lost streak (checkins 0005) finds
what the check-ins that reset those streaks keep today."""

import datetime as dt
import importlib

import pytest
from django.apps import apps
from django.utils import timezone

from checkins.services import checkin_create
from engagement.models import LedgerEntry, UserState
from rewards.services import freezes_grant
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("checkins.migrations.0005_backfill_streak_loss")


def at(day: int) -> dt.datetime:
    return dt.datetime(2026, 5, day, 12, tzinfo=dt.UTC)


def check_in(user, *days: int) -> None:
    for day in days:
        checkin_create(user_id=user.pk, now=at(day))


def kept(user) -> tuple[int, dt.date | None]:
    return kept_by(user.pk)


def kept_by(user_id) -> tuple[int, dt.date | None]:
    state = UserState.objects.get(user_id=user_id)
    return state.lost_streak, state.streak_lost_on


def forget_and_backfill() -> None:
    """As before the migration: nothing kept; then run it."""
    UserState.objects.update(lost_streak=0, streak_lost_on=None)
    migration.backfill(apps, None)


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(migration, "BATCH_SIZE", 2)


def test_the_backfill_keeps_what_the_reset_checkins_kept():
    plain = UserFactory()
    check_in(plain, 1, 2, 5)  # lost 2 on May 3
    frozen = UserFactory()
    check_in(frozen, 1, 2, 3)
    freezes_grant(user_id=frozen.pk, count=1, reason="setup", now=timezone.now())
    check_in(frozen, 8)  # May 4 covered by the freeze; lost 3 on May 5
    twice = UserFactory()
    check_in(twice, 1, 2, 3, 4, 10, 11, 20)  # the latest loss: 2 lost on May 12
    never = UserFactory()
    check_in(never, 1, 2, 3)
    fresh = UserFactory()
    UserState.objects.create(user=fresh)
    expected = {user.pk: kept(user) for user in (plain, frozen, twice, never, fresh)}
    assert expected[plain.pk] == (2, dt.date(2026, 5, 3))
    assert expected[frozen.pk] == (3, dt.date(2026, 5, 5))
    assert expected[twice.pk] == (2, dt.date(2026, 5, 12))
    assert expected[never.pk] == expected[fresh.pk] == (0, None)

    forget_and_backfill()

    assert {user_id: kept_by(user_id) for user_id in expected} == expected


def test_without_the_reset_checkins_ledger_entry_no_freezes_are_assumed():
    user = UserFactory()
    check_in(user, 1, 2, 3)
    freezes_grant(user_id=user.pk, count=2, reason="setup", now=timezone.now())
    check_in(user, 9)  # lost 3 on May 6 (two freezes)
    assert kept(user) == (3, dt.date(2026, 5, 6))
    LedgerEntry.objects.filter(user=user, kind="checkin", ref="2026-05-09").delete()

    forget_and_backfill()

    assert kept(user) == (3, dt.date(2026, 5, 4))


def test_an_extended_streak_keeps_the_loss_that_started_it():
    user = UserFactory()
    check_in(user, 1, 2, 3, 4, 7, 8, 9)

    forget_and_backfill()

    assert kept(user) == (4, dt.date(2026, 5, 5))
