"""Reward ownership and the shop: unlock, claim, buy and use.

Every use case here owns its transaction and follows one shape: lock the
user's state row (``state_lock``, always first), re-check the rules against the
locked row, record each state change as a ledger step through ``rules.apply``,
unlock rewards the new state meets, then save the state and its ledger.
:func:`rewards_unlock` is the exception: it joins a transaction that another
use case (check-in, admin grant) opened and locked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Exists, F, FilteredRelation, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from engagement import rules
from engagement.models import LedgerEntry, UserState
from engagement.services import StateChange, limits, state_lock
from rewards.effects import EFFECT_LIMIT, effects_kwargs
from rewards.errors import (
    AlreadyClaimed,
    InsufficientLoyalty,
    InvalidStaffChange,
    InventoryFull,
    NothingToApply,
    NotInInventory,
    ReasonRequired,
    RewardLocked,
    RewardNotFound,
    ToolNotFound,
)
from rewards.models import InventoryItem, Reward, Tool, UserReward
from rewards.rules import rule_values
from rewards.selectors import RewardStatus, inventory_capacity, reward_status
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


def _unowned_active_rewards(*, user_id) -> list[Reward]:
    """Active rewards the user does not own yet. Read after the state lock, in
    its own statement, so it sees every unlock committed before the lock was
    granted (ownership changes only under that lock)."""
    owned = UserReward.objects.filter(user_id=user_id, reward_id=OuterRef("pk"))
    return list(Reward.objects.filter(active=True).filter(~Exists(owned)).order_by("id"))


def rewards_unlock(*, change: StateChange, now: dt.datetime) -> list[Unlocked]:
    """Unlock every active reward whose rule the current state meets and that the
    user does not own yet; claim the ``auto_claim`` ones at once. Claiming changes
    the state, which may meet further rules, so this repeats until nothing new is
    met (at most once per reward in the catalog).

    Runs inside the caller's transaction, after the caller locked the state row;
    call it once, after the last state change and before ``change.save()``. It
    costs one read (the candidates) plus one insert per round that unlocks
    something. A reward added to the catalog later unlocks at the user's next
    state change."""
    user_id = change.row.user_id
    pending = _unowned_active_rewards(user_id=user_id)
    unlocked: list[Unlocked] = []
    while pending:
        values = rule_values(change.current)
        met = [reward for reward in pending if values[reward.rule] >= reward.threshold]
        if not met:
            break
        pending = [reward for reward in pending if reward not in met]
        UserReward.objects.bulk_create(
            [
                UserReward(
                    user_id=user_id,
                    reward_id=reward.pk,
                    unlocked_at=now,
                    claimed_at=now if reward.auto_claim else None,
                )
                for reward in met
            ]
        )
        for reward in met:
            if reward.auto_claim:
                change.record(
                    LedgerEntry.Kind.REWARD_CLAIM,
                    reward.id,
                    rules.apply(change.current, **effects_kwargs(reward.effects), limits=limits()),
                )
            unlocked.append(Unlocked(reward=reward, auto_claimed=reward.auto_claim))
        if not any(reward.auto_claim for reward in met):
            break
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

    Refuses an unknown reward, or an inactive one the user does not own (404);
    one the user has not unlocked (``reward_locked``) and one already claimed
    (``already_claimed``). Ownership is forever: an unlocked reward staff took
    off the catalog since stays claimable. The ``claimed_at IS NULL`` condition
    on the update backs the lock up: a second claim can never apply the
    effects twice."""
    now = now or timezone.now()
    with transaction.atomic():
        row = state_lock(user_id=user.pk)
        change = StateChange(row)
        # The reward and the user's ownership of it, in one statement.
        reward = (
            Reward.objects.filter(pk=reward_id)
            .annotate(
                own=FilteredRelation("owners", condition=Q(owners__user_id=user.pk)),
                owned_id=F("own__id"),
                owned_unlocked_at=F("own__unlocked_at"),
                owned_claimed_at=F("own__claimed_at"),
            )
            .first()
        )
        if reward is None or (not reward.active and reward.owned_id is None):
            raise RewardNotFound()
        if reward.owned_id is None:
            raise RewardLocked()
        if reward.owned_claimed_at is not None:
            raise AlreadyClaimed()
        owned = UserReward(
            id=reward.owned_id,
            user_id=user.pk,
            reward=reward,
            unlocked_at=reward.owned_unlocked_at,
            claimed_at=max(now, reward.owned_unlocked_at),
        )
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
        state = change.save(now)
    return RewardClaimResult(
        reward=reward_status(reward=reward, owned=owned, state=change.current),
        state=state,
        step=step,
        unlocked=unlocked,
        today=local_date(now, row.user_timezone),
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
        row = state_lock(user_id=user.pk)
        change = StateChange(row)
        tool = _tool_with_holding(user_id=user.pk, tool_id=tool_id, on_sale=True)
        if tool is None:
            raise ToolNotFound()
        _inventory_check_room(tool)
        if change.current.loyalty < tool.price:
            raise InsufficientLoyalty()
        # A negative loyalty delta is never multiplied; the check above keeps it whole.
        step = change.record(
            LedgerEntry.Kind.TOOL_BUY,
            tool.pk,
            rules.apply(change.current, loyalty=-tool.price, limits=limits()),
        )
        item = _inventory_add(user_id=user.pk, tool=tool, quantity=1, now=now)
        unlocked = rewards_unlock(change=change, now=now)
        state = change.save(now)
    return ToolBuyResult(
        item=item,
        state=state,
        step=step,
        unlocked=unlocked,
        today=local_date(now, row.user_timezone),
    )


def _inventory_check_room(tool: Tool) -> None:
    """A tool the user holds stacks in its slot; a new one needs a free slot.
    ``tool`` comes from :func:`_tool_with_holding`."""
    if not tool.held_quantity and tool.slots_used >= inventory_capacity():
        raise InventoryFull()


def _inventory_add(*, user_id, tool: Tool, quantity: int, now: dt.datetime) -> InventoryItem:
    """Add ``quantity`` of a tool read by :func:`_tool_with_holding`. Exact
    without re-reading: every inventory write holds the user's state lock."""
    if tool.held_id is None:
        return InventoryItem.objects.create(user_id=user_id, tool=tool, quantity=quantity)
    InventoryItem.objects.filter(pk=tool.held_id).update(
        quantity=F("quantity") + quantity, updated_at=now
    )
    return InventoryItem(
        id=tool.held_id, user_id=user_id, tool=tool, quantity=tool.held_quantity + quantity
    )


def _tool_with_holding(*, user_id, tool_id: str, on_sale: bool) -> Tool | None:
    """The tool, how many the user holds (``held_id``, ``held_quantity``) and how
    many inventory slots the user fills (``slots_used``), in one statement."""
    tools = Tool.objects.filter(pk=tool_id)
    if on_sale:
        tools = tools.filter(active=True)
    slots = (
        InventoryItem.objects.filter(user_id=user_id, quantity__gt=0)
        .order_by()
        .values("user_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return tools.annotate(
        mine=FilteredRelation("holders", condition=Q(holders__user_id=user_id)),
        held_id=F("mine__id"),
        held_quantity=Coalesce(F("mine__quantity"), 0),
        slots_used=Coalesce(Subquery(slots), 0),
    ).first()


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
        row = state_lock(user_id=user.pk)
        change = StateChange(row)
        tool = _tool_with_holding(user_id=user.pk, tool_id=tool_id, on_sale=False)
        if tool is None:
            raise ToolNotFound()
        if not tool.held_quantity:
            raise NotInInventory()
        taken = InventoryItem.objects.filter(pk=tool.held_id, quantity__gt=0).update(
            quantity=F("quantity") - 1, updated_at=now
        )
        if not taken:
            raise NotInInventory()
        item = InventoryItem(
            id=tool.held_id, user_id=user.pk, tool=tool, quantity=tool.held_quantity - 1
        )
        step = change.record(
            LedgerEntry.Kind.TOOL_USE,
            tool.pk,
            rules.apply(change.current, **effects_kwargs(tool.effects), limits=limits()),
        )
        unlocked = rewards_unlock(change=change, now=now)
        state = change.save(now)
    return ToolUseResult(
        item=item,
        state=state,
        step=step,
        unlocked=unlocked,
        today=local_date(now, row.user_timezone),
    )


# --- Staff grants and adjustments -----------------------------------------------------
# The admin actions and ``manage.py grant`` call these; nothing else changes a state
# on staff's behalf. Each one locks the state row, records one ``admin_grant`` or
# ``admin_adjust`` step through ``rules.apply`` (so every bound holds) with the
# required reason, unlocks what the new state meets and saves, like any use case.

REASON_MAX_LENGTH = 500
TOOL_GRANT_MAX_QUANTITY = 100

__all__ += [
    "REASON_MAX_LENGTH",
    "TOOL_GRANT_MAX_QUANTITY",
    "StaffChangeResult",
    "freezes_grant",
    "loyalty_grant",
    "state_adjust",
    "tool_grant",
]


@dataclass(frozen=True)
class StaffChangeResult:
    state: UserState
    step: rules.Transition
    unlocked: list[Unlocked]
    item: InventoryItem | None = None

    def describe(self) -> str:
        """What changed, e.g. ``loyalty +50`` or ``coffee now x3, unlocked streak_3``."""
        applied = {k: v for k, v in self.step.applied.as_dict().items() if v}
        parts = [f"{key} {value:+d}" for key, value in applied.items()]
        if self.item is not None:
            parts.append(f"{self.item.tool_id} now x{self.item.quantity}")
        parts += [f"unlocked {u.reward.pk}" for u in self.unlocked]
        return ", ".join(parts) or "no change"


def staff_limits() -> rules.Limits:
    """Staff amounts are exact: the level's loyalty multiplier rewards play, not
    a staff decision, so it is 1 here. Clamping and level-ups apply as always."""
    return dataclasses.replace(limits(), loyalty_multiplier_step=Decimal(0))


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired()
    if len(reason) > REASON_MAX_LENGTH:
        raise InvalidStaffChange(f"The reason is longer than {REASON_MAX_LENGTH} characters.")
    return reason


def _check_amount(name: str, value: int, *, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidStaffChange(f"{name} must be an integer from {low} to {high}.")


def _staff_state_change(
    *,
    user: User,
    kind: str,
    ref: str,
    reason: str,
    now: dt.datetime,
    energy: int = 0,
    fatigue: int = 0,
    loyalty: int = 0,
    freezes: int = 0,
) -> StaffChangeResult:
    with transaction.atomic():
        change = StateChange(state_lock(user_id=user.pk))
        transition = rules.apply(
            change.current,
            energy=energy,
            fatigue=fatigue,
            loyalty=loyalty,
            freezes=freezes,
            limits=staff_limits(),
        )
        if transition.applied == rules.Deltas():
            raise NothingToApply()
        step = change.record(kind, ref, transition, reason=reason)
        unlocked = rewards_unlock(change=change, now=now)
        state = change.save(now)
    return StaffChangeResult(state=state, step=step, unlocked=unlocked)


def loyalty_grant(
    *, user: User, amount: int, reason: str, now: dt.datetime | None = None
) -> StaffChangeResult:
    """Give ``amount`` (1 to 1,000,000) loyalty points, exactly."""
    reason = _clean_reason(reason)
    _check_amount("amount", amount, low=1, high=EFFECT_LIMIT)
    return _staff_state_change(
        user=user,
        kind=LedgerEntry.Kind.ADMIN_GRANT,
        ref="loyalty",
        reason=reason,
        now=now or timezone.now(),
        loyalty=amount,
    )


def freezes_grant(
    *, user: User, count: int, reason: str, now: dt.datetime | None = None
) -> StaffChangeResult:
    """Give ``count`` streak freezes, up to the maximum a state can hold; the
    ledger records how many were really added. ``nothing_to_apply`` (409) when
    the user already holds the maximum."""
    reason = _clean_reason(reason)
    _check_amount("count", count, low=1, high=limits().max_freezes)
    return _staff_state_change(
        user=user,
        kind=LedgerEntry.Kind.ADMIN_GRANT,
        ref="streak_freezes",
        reason=reason,
        now=now or timezone.now(),
        freezes=count,
    )


def state_adjust(
    *,
    user: User,
    reason: str,
    energy: int = 0,
    fatigue: int = 0,
    loyalty: int = 0,
    freezes: int = 0,
    now: dt.datetime | None = None,
) -> StaffChangeResult:
    """Correct a state by signed deltas through ``rules.apply``: energy and
    fatigue stay in 0..100 (energy reaching 100 levels up), loyalty never goes
    below 0, freezes stay in 0..max. Loyalty is exact (no multiplier). The
    ledger records the applied deltas; ``nothing_to_apply`` (409) when the
    bounds leave nothing to change."""
    reason = _clean_reason(reason)
    deltas = {"energy": energy, "fatigue": fatigue, "loyalty": loyalty, "freezes": freezes}
    for name, value in deltas.items():
        _check_amount(name, value, low=-EFFECT_LIMIT, high=EFFECT_LIMIT)
    if not any(deltas.values()):
        raise InvalidStaffChange("An adjustment needs at least one non-zero delta.")
    return _staff_state_change(
        user=user,
        kind=LedgerEntry.Kind.ADMIN_ADJUST,
        ref="adjust",
        reason=reason,
        now=now or timezone.now(),
        **deltas,
    )


def tool_grant(
    *,
    user: User,
    tool_id: str,
    reason: str,
    quantity: int = 1,
    now: dt.datetime | None = None,
) -> StaffChangeResult:
    """Put ``quantity`` (1 to 100) of a tool into the user's inventory for free.

    Any tool in the catalog, on sale or not. Capacity holds as in the shop: a
    tool the user holds stacks; a new one needs a free slot (``inventory_full``,
    409 -- staff cannot overfill an inventory either). The inventory is written
    only under the state lock, like every inventory write, and the grant is one
    ``admin_grant`` ledger entry (ref ``tool:<id> x<quantity>``) with no deltas."""
    reason = _clean_reason(reason)
    _check_amount("quantity", quantity, low=1, high=TOOL_GRANT_MAX_QUANTITY)
    now = now or timezone.now()
    with transaction.atomic():
        change = StateChange(state_lock(user_id=user.pk))
        tool = _tool_with_holding(user_id=user.pk, tool_id=tool_id, on_sale=False)
        if tool is None:
            raise ToolNotFound()
        _inventory_check_room(tool)
        step = change.record(
            LedgerEntry.Kind.ADMIN_GRANT,
            f"tool:{tool.pk} x{quantity}",
            rules.apply(change.current, limits=staff_limits()),
            reason=reason,
        )
        item = _inventory_add(user_id=user.pk, tool=tool, quantity=quantity, now=now)
        unlocked = rewards_unlock(change=change, now=now)
        state = change.save(now)
    return StaffChangeResult(state=state, step=step, unlocked=unlocked, item=item)
