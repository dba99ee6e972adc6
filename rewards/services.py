"""Reward ownership and the shop: unlock, claim, buy and use.

Every use case here owns its transaction and follows one shape: lock the
user's state row (``state_lock``, always first), re-check the rules against the
locked row, record each state change as a ledger step through ``rules.apply``,
unlock rewards the new state meets, then save the state and its ledger.
:func:`rewards_unlock` is the exception: it joins a transaction that another
use case (check-in, admin grant) opened and locked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from engagement import rules
from engagement.models import LedgerEntry, UserState
from engagement.services import StateChange, limits, state_lock
from rewards.effects import effects_kwargs
from rewards.errors import (
    AlreadyClaimed,
    InsufficientLoyalty,
    InventoryFull,
    NotInInventory,
    RewardLocked,
    RewardNotFound,
    ToolNotFound,
)
from rewards.models import InventoryItem, Reward, Tool, UserReward
from rewards.rules import rule_values
from rewards.selectors import RewardStatus, inventory_capacity, inventory_used, reward_status
from users.models import User
from users.timezones import local_date

__all__ = [
    "RewardClaimResult",
    "ToolBuyResult",
    "ToolUseResult",
    "Unlocked",
    "reward_claim",
    "rewards_unlock",
    "rule_values",
    "tool_buy",
    "tool_use",
]


@dataclass(frozen=True)
class Unlocked:
    reward: Reward
    auto_claimed: bool


def _rewards_newly_met(*, user_id, state: rules.State) -> list[Reward]:
    met = Q()
    for rule, value in rule_values(state).items():
        met |= Q(rule=rule, threshold__lte=value)
    owned = UserReward.objects.filter(user_id=user_id, reward_id=OuterRef("pk"))
    return list(Reward.objects.filter(met, active=True).filter(~Exists(owned)).order_by("id"))


def rewards_unlock(*, change: StateChange, now: dt.datetime) -> list[Unlocked]:
    """Unlock every active reward whose rule the current state meets and that the
    user does not own yet; claim the ``auto_claim`` ones at once. Claiming changes
    the state, which may meet further rules, so this repeats until nothing new is
    met (at most once per reward in the catalog).

    Runs inside the caller's transaction, after the caller locked the state row;
    call it after the last state change and before ``change.save()``. A reward
    added to the catalog later unlocks at the user's next state change."""
    user_id = change.row.user_id
    unlocked: list[Unlocked] = []
    while True:
        rewards = _rewards_newly_met(user_id=user_id, state=change.current)
        if not rewards:
            return unlocked
        UserReward.objects.bulk_create(
            [
                UserReward(
                    user_id=user_id,
                    reward=reward,
                    unlocked_at=now,
                    claimed_at=now if reward.auto_claim else None,
                )
                for reward in rewards
            ]
        )
        for reward in rewards:
            if reward.auto_claim:
                change.record(
                    LedgerEntry.Kind.REWARD_CLAIM,
                    reward.id,
                    rules.apply(change.current, **effects_kwargs(reward.effects), limits=limits()),
                )
            unlocked.append(Unlocked(reward=reward, auto_claimed=reward.auto_claim))
        if not any(reward.auto_claim for reward in rewards):
            return unlocked


# --- Claim --------------------------------------------------------------------------
@dataclass(frozen=True)
class RewardClaimResult:
    reward: RewardStatus
    state: UserState
    step: rules.Transition
    unlocked: list[Unlocked]
    today: dt.date


def reward_claim(
    *, user: User, reward_id: str, now: dt.datetime | None = None
) -> RewardClaimResult:
    """Claim an unlocked reward: apply its effects once, mark it claimed.

    Refuses an unknown or inactive reward (404), one the user has not unlocked
    (``reward_locked``) and one already claimed (``already_claimed``). The
    ``claimed_at IS NULL`` condition on the update backs the lock up: a second
    claim can never apply the effects twice."""
    now = now or timezone.now()
    with transaction.atomic():
        change = StateChange(state_lock(user_id=user.pk))
        reward = Reward.objects.filter(pk=reward_id, active=True).first()
        if reward is None:
            raise RewardNotFound()
        owned = UserReward.objects.filter(user_id=user.pk, reward_id=reward.pk).first()
        if owned is None:
            raise RewardLocked()
        if owned.claimed_at is not None:
            raise AlreadyClaimed()
        owned.claimed_at = max(now, owned.unlocked_at)
        claimed = UserReward.objects.filter(pk=owned.pk, claimed_at__isnull=True).update(
            claimed_at=owned.claimed_at
        )
        if not claimed:
            raise AlreadyClaimed()
        step = change.record(
            LedgerEntry.Kind.REWARD_CLAIM,
            reward.pk,
            rules.apply(change.current, **effects_kwargs(reward.effects), limits=limits()),
        )
        unlocked = rewards_unlock(change=change, now=now)
        state = change.save()
    return RewardClaimResult(
        reward=reward_status(reward=reward, owned=owned, state=change.current),
        state=state,
        step=step,
        unlocked=unlocked,
        today=local_date(now, user.timezone),
    )


# --- Shop ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ToolBuyResult:
    item: InventoryItem
    state: UserState
    step: rules.Transition
    unlocked: list[Unlocked]
    today: dt.date


def tool_buy(*, user: User, tool_id: str, now: dt.datetime | None = None) -> ToolBuyResult:
    """Buy one of an active tool for its price in loyalty (no multiplier).

    A tool the user already holds stacks in its slot; a new one needs a free
    slot (``inventory_full`` beyond ``ENGAGEMENT["INVENTORY_CAPACITY"]``
    distinct tools). Then the price must be covered (``insufficient_loyalty``)."""
    now = now or timezone.now()
    with transaction.atomic():
        change = StateChange(state_lock(user_id=user.pk))
        tool = Tool.objects.filter(pk=tool_id, active=True).first()
        if tool is None:
            raise ToolNotFound()
        item = InventoryItem.objects.filter(user_id=user.pk, tool_id=tool.pk).first()
        if (item is None or item.quantity == 0) and inventory_used(
            user_id=user.pk
        ) >= inventory_capacity():
            raise InventoryFull()
        if change.current.loyalty < tool.price:
            raise InsufficientLoyalty()
        # A negative loyalty delta is never multiplied; the check above keeps it whole.
        step = change.record(
            LedgerEntry.Kind.TOOL_BUY,
            tool.pk,
            rules.apply(change.current, loyalty=-tool.price, limits=limits()),
        )
        if item is None:
            item = InventoryItem.objects.create(user_id=user.pk, tool=tool, quantity=1)
        else:
            InventoryItem.objects.filter(pk=item.pk).update(
                quantity=F("quantity") + 1, updated_at=timezone.now()
            )
            item.quantity += 1  # exact: every inventory write holds the state lock
            item.tool = tool
        unlocked = rewards_unlock(change=change, now=now)
        state = change.save()
    return ToolBuyResult(
        item=item,
        state=state,
        step=step,
        unlocked=unlocked,
        today=local_date(now, user.timezone),
    )


@dataclass(frozen=True)
class ToolUseResult:
    item: InventoryItem
    state: UserState
    step: rules.Transition
    unlocked: list[Unlocked]
    today: dt.date


def tool_use(*, user: User, tool_id: str, now: dt.datetime | None = None) -> ToolUseResult:
    """Use one held tool: quantity - 1, then its effects through ``rules.apply``.

    A tool taken off sale (inactive) can still be used by those who hold it.
    The decrement is a compare-and-set (``quantity > 0``), so even without the
    lock the quantity could never go negative or be spent twice."""
    now = now or timezone.now()
    with transaction.atomic():
        change = StateChange(state_lock(user_id=user.pk))
        tool = Tool.objects.filter(pk=tool_id).first()
        if tool is None:
            raise ToolNotFound()
        taken = InventoryItem.objects.filter(
            user_id=user.pk, tool_id=tool.pk, quantity__gt=0
        ).update(quantity=F("quantity") - 1, updated_at=timezone.now())
        if not taken:
            raise NotInInventory()
        step = change.record(
            LedgerEntry.Kind.TOOL_USE,
            tool.pk,
            rules.apply(change.current, **effects_kwargs(tool.effects), limits=limits()),
        )
        unlocked = rewards_unlock(change=change, now=now)
        state = change.save()
        item = InventoryItem.objects.get(user_id=user.pk, tool_id=tool.pk)
        item.tool = tool
    return ToolUseResult(
        item=item,
        state=state,
        step=step,
        unlocked=unlocked,
        today=local_date(now, user.timezone),
    )
