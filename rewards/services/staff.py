"""Staff grants and adjustments.

The admin actions and ``manage.py grant`` call these; nothing else changes a
state on staff's behalf. Each goes through the state-change envelope like any
use case: one ``admin_grant`` or ``admin_adjust`` step through ``rules.apply``
(so every bound holds) with the required reason; rewards the new state meets
unlock. ``streak_restore`` gives back the streak a check-in reset, at any
time (the repair tool's window does not bind staff), once per loss.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal

from engagement import rules
from engagement.models import LedgerEntry
from engagement.services import limits, state_change
from rewards.effects import EFFECT_LIMIT
from rewards.errors import (
    InvalidStaffChange,
    NothingToApply,
    ReasonRequired,
    ToolNotFound,
)
from rewards.services.repair import record_streak_restore
from rewards.services.results import ChangeResult
from rewards.services.shop import inventory_add, inventory_check_room, tool_with_holding

REASON_MAX_LENGTH = 500
TOOL_GRANT_MAX_QUANTITY = 100


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


def _check_amount(name: str, value: object, *, low: int, high: int) -> None:
    # ``object``: callers outside Python's type checks (forms, commands) may pass anything.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidStaffChange(f"{name} must be an integer from {low} to {high}.")


def _staff_change(
    *,
    user_id: uuid.UUID,
    kind: str,
    ref: str,
    reason: str,
    now: dt.datetime,
    deltas: dict[str, int],
) -> ChangeResult:
    with state_change(user_id=user_id, now=now) as change:
        transition = rules.apply(change.current, **deltas, limits=staff_limits())
        if transition.applied == rules.Deltas():
            raise NothingToApply()
        step = change.record(kind, ref, transition, reason=reason)
    return ChangeResult.of(change, step)


def loyalty_grant(
    *, user_id: uuid.UUID, amount: int, reason: str, now: dt.datetime
) -> ChangeResult:
    """Give ``amount`` (1 to 1,000,000) loyalty points, exactly."""
    reason = _clean_reason(reason)
    _check_amount("amount", amount, low=1, high=EFFECT_LIMIT)
    return _staff_change(
        user_id=user_id,
        kind=LedgerEntry.Kind.ADMIN_GRANT,
        ref="loyalty",
        reason=reason,
        now=now,
        deltas={"loyalty": amount},
    )


def freezes_grant(*, user_id: uuid.UUID, count: int, reason: str, now: dt.datetime) -> ChangeResult:
    """Give ``count`` streak freezes, up to the maximum a state can hold; the
    ledger records how many were really added. ``nothing_to_apply`` (409) when
    the user already holds the maximum."""
    reason = _clean_reason(reason)
    _check_amount("count", count, low=1, high=limits().max_freezes)
    return _staff_change(
        user_id=user_id,
        kind=LedgerEntry.Kind.ADMIN_GRANT,
        ref="streak_freezes",
        reason=reason,
        now=now,
        deltas={"freezes": count},
    )


def state_adjust(
    *,
    user_id: uuid.UUID,
    reason: str,
    now: dt.datetime,
    energy: int = 0,
    fatigue: int = 0,
    loyalty: int = 0,
    freezes: int = 0,
) -> ChangeResult:
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
    return _staff_change(
        user_id=user_id,
        kind=LedgerEntry.Kind.ADMIN_ADJUST,
        ref="adjust",
        reason=reason,
        now=now,
        deltas=deltas,
    )


def tool_grant(
    *,
    user_id: uuid.UUID,
    tool_id: str,
    reason: str,
    now: dt.datetime,
    quantity: int = 1,
) -> ChangeResult:
    """Put ``quantity`` (1 to 100) of a tool into the user's inventory for free.

    Any tool in the catalog, on sale or not. Capacity holds as in the shop: a
    tool the user holds stacks; a new one needs a free slot (``inventory_full``,
    409 -- staff cannot overfill an inventory either). The grant is one
    ``admin_grant`` ledger entry (ref ``tool:<id> x<quantity>``) with no deltas."""
    reason = _clean_reason(reason)
    _check_amount("quantity", quantity, low=1, high=TOOL_GRANT_MAX_QUANTITY)
    with state_change(user_id=user_id, now=now) as change:
        tool = tool_with_holding(user_id=user_id, tool_id=tool_id, on_sale=False)
        if tool is None:
            raise ToolNotFound()
        inventory_check_room(tool)
        step = change.record(
            LedgerEntry.Kind.ADMIN_GRANT,
            f"tool:{tool.pk} x{quantity}",
            rules.apply(change.current, limits=staff_limits()),
            reason=reason,
        )
        item = inventory_add(user_id=user_id, tool=tool, quantity=quantity, now=now)
    return ChangeResult.of(change, step, item=item)


def streak_restore(*, user_id: uuid.UUID, reason: str, now: dt.datetime) -> ChangeResult:
    """Give back the streak the user's last reset check-in lost: ``streak =
    lost + streak``, ``longest_streak`` follows (``rules.streak_restore``).
    One ``streak_restore`` entry (ref: the local date the streak was lost on)
    with the reason; rewards the restored streak meets unlock, and
    ``streak.restored`` is written. Once per loss: ``nothing_to_repair`` (409)
    when no loss is kept (none, or restored already)."""
    reason = _clean_reason(reason)
    with state_change(user_id=user_id, now=now) as change:
        step = record_streak_restore(change, reason=reason)
    return ChangeResult.of(change, step)
