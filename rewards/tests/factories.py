"""Factories for the rewards models, and state builders that change a user's
state the way production does (locked, through ``rules.apply``, in the ledger)."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from base.testing import ModelFactory
from checkins.services import CheckinResult, checkin_create
from engagement import rules
from engagement.models import LedgerEntry, UserState
from engagement.services import limits, state_change
from rewards.models import InventoryItem, Reward, Tool, UserReward
from users.models import User
from users.tests.factories import UserFactory


class RewardFactory(ModelFactory[Reward]):
    class Meta:
        model = Reward

    id = factory.Sequence(lambda n: f"reward_{n}")
    title = factory.Sequence(lambda n: f"Reward {n}")
    rule = Reward.Rule.STREAK
    threshold = 3
    effects = factory.LazyFunction(lambda: {"loyalty": 10})
    auto_claim = False
    active = True


class ToolFactory(ModelFactory[Tool]):
    class Meta:
        model = Tool

    id = factory.Sequence(lambda n: f"tool_{n}")
    name = factory.Sequence(lambda n: f"Tool {n}")
    price = 10
    effects = factory.LazyFunction(lambda: {"energy": 15})
    active = True


class UserRewardFactory(ModelFactory[UserReward]):
    class Meta:
        model = UserReward

    user = factory.SubFactory(UserFactory)
    reward = factory.SubFactory(RewardFactory)
    unlocked_at = factory.LazyFunction(timezone.now)
    claimed_at = None


class InventoryItemFactory(ModelFactory[InventoryItem]):
    class Meta:
        model = InventoryItem

    user = factory.SubFactory(UserFactory)
    tool = factory.SubFactory(ToolFactory)
    quantity = 1


T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def state_grant(
    user: User,
    *,
    energy: int = 0,
    fatigue: int = 0,
    loyalty: int = 0,
    freezes: int = 0,
    now: dt.datetime = T0,
) -> UserState:
    """A test-only admin grant: one ledger step, rewards evaluated, state saved."""
    with state_change(user_id=user.pk, now=now) as change:
        change.record(
            LedgerEntry.Kind.ADMIN_GRANT,
            "test",
            rules.apply(
                change.current,
                energy=energy,
                fatigue=fatigue,
                loyalty=loyalty,
                freezes=freezes,
                limits=limits(),
            ),
        )
    return UserState.objects.get(user_id=user.pk)


def checkin_days(user: User, days: int, *, start: dt.datetime = T0) -> list[CheckinResult]:
    """Check ``user`` in on ``days`` consecutive days from ``start``."""
    return [checkin_create(user_id=user.pk, now=start + dt.timedelta(days=i)) for i in range(days)]


def state_of(user: User) -> UserState:
    return UserState.objects.get(user_id=user.pk)
