"""Reads of the reward catalog, the user's rewards, the shop and the inventory."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Q, QuerySet

from engagement import rules
from engagement.models import UserState, initial_state
from rewards.models import InventoryItem, Reward, Tool, UserReward
from rewards.rules import Progress, progress

RewardStatusName = Literal["locked", "unlocked", "claimed"]


@dataclass(frozen=True)
class RewardStatus:
    """One catalog reward as one user sees it."""

    reward: Reward
    status: RewardStatusName
    unlocked_at: dt.datetime | None
    claimed_at: dt.datetime | None
    progress: Progress


def reward_status(*, reward: Reward, owned: UserReward | None, state: rules.State) -> RewardStatus:
    """Pure: a reward, the user's ownership row (if any) and their state."""
    if owned is None:
        status: RewardStatusName = "locked"
    elif owned.claimed_at is None:
        status = "unlocked"
    else:
        status = "claimed"
    return RewardStatus(
        reward=reward,
        status=status,
        unlocked_at=owned.unlocked_at if owned else None,
        claimed_at=owned.claimed_at if owned else None,
        progress=progress(
            rule=reward.rule, threshold=reward.threshold, state=state, owned=owned is not None
        ),
    )


def user_rules_state(*, user_id: uuid.UUID, using: str = DEFAULT_DB_ALIAS) -> rules.State:
    """The user's state as plain values; the initial state before the row exists."""
    row = UserState.objects.using(using).filter(user_id=user_id).first()
    return row.as_rules_state() if row else initial_state()


def rewards_for_user(*, user_id: uuid.UUID, using: str = DEFAULT_DB_ALIAS) -> list[RewardStatus]:
    """Every active reward, and every reward the user owns (ownership is
    forever: staff taking a reward off the catalog does not take it from
    those who unlocked it), with the user's status and progress, in three
    queries whatever the size of the catalog: the user's ownership rows,
    rewards, state; all three from the database ``using`` names."""
    owned = {ur.reward_id: ur for ur in UserReward.objects.using(using).filter(user_id=user_id)}
    rewards = list(
        Reward.objects.using(using)
        .filter(Q(active=True) | Q(pk__in=list(owned)))
        .order_by("rule", "threshold", "id")
    )
    state = user_rules_state(user_id=user_id, using=using)
    return [
        reward_status(reward=reward, owned=owned.get(reward.pk), state=state) for reward in rewards
    ]


def tools_for_sale(*, using: str = DEFAULT_DB_ALIAS) -> QuerySet[Tool]:
    """The active shop catalog, cheapest first."""
    return Tool.objects.using(using).filter(active=True).order_by("price", "id")


def inventory_capacity() -> int:
    return int(settings.ENGAGEMENT["INVENTORY_CAPACITY"])


@dataclass(frozen=True)
class Inventory:
    capacity_max: int
    items: list[InventoryItem]

    @property
    def capacity_used(self) -> int:
        return len(self.items)


def inventory_for_user(*, user_id: uuid.UUID) -> Inventory:
    """The tools the user holds (quantity > 0), cheapest first, in one query."""
    items = list(
        InventoryItem.objects.filter(user_id=user_id, quantity__gt=0)
        .select_related("tool")
        .order_by("tool__price", "tool_id")
    )
    return Inventory(capacity_max=inventory_capacity(), items=items)
