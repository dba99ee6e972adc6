"""Domain events: the after-change step of every state change.

Registered with the state-change envelope after rewards' unlock step
(``EventsConfig.ready``), it turns what the change recorded (its ledger steps
and the rewards it unlocked) into events, written with one insert in the
change's own transaction: an event exists iff its change committed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from engagement import rules, statements
from engagement.models import RECONCILE_REF, LedgerEntry
from engagement.services import LedgerStep, StateChange
from events.ids import event_ids
from events.models import Event, EventType
from events.signals import events_recorded
from rewards.services.unlock import unlocked_in

EVENTS_STEP = "events.record"
_EVENT_COLUMNS = ("id", "user", "type", "created_at", "data")

_Kind = LedgerEntry.Kind


def streak_lost_data(state: rules.State) -> dict[str, Any]:
    """``streak.lost``'s data, the same whoever reports the loss (the periodic
    job or the check-in that resets the streak): the local date the streak was
    lost (the first missed day the freezes could not cover), its length and
    its last check-in."""
    lost_on, last = rules.streak_lost_on(state), state.last_checkin_date
    if lost_on is None or last is None:
        raise ValueError("a state without a streak has nothing to lose")
    return {
        "date": lost_on.isoformat(),
        "lost_streak": state.streak,
        "last_checkin_date": last.isoformat(),
    }


def streak_restored_data(step: LedgerStep, *, tool_id: str | None) -> dict[str, Any]:
    """``streak.restored``'s data: the local date the streak was lost on (the
    entry's ref), its length, the streak now, and who restored it (``staff``,
    or a ``tool`` the same change used)."""
    before, after = step.transition.before, step.transition.after
    data: dict[str, Any] = {
        "date": step.ref,
        "lost_streak": before.lost_streak,
        "streak": after.streak,
        "source": "staff" if tool_id is None else "tool",
    }
    if tool_id is not None:
        data["tool_id"] = tool_id
    return data


def is_reconciliation(step: LedgerStep) -> bool:
    """A reconciliation records a difference the state already had: no level
    was raised by it (``verify_invariants --reconcile``)."""
    return step.kind == _Kind.ADMIN_ADJUST and step.ref == RECONCILE_REF


def _step_events(
    step: LedgerStep,
    *,
    auto_claimed: bool,
    loss_reported_for: dt.date | None = None,
    tool_id: str | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    before, after = step.transition.before, step.transition.after
    if step.kind == _Kind.CHECKIN:
        yield EventType.CHECKIN_CREATED, {"date": step.ref, "streak": after.streak}
        if after.streak > 1:
            yield EventType.STREAK_EXTENDED, {"date": step.ref, "streak": after.streak}
        elif rules.streak_lost_on(before) and loss_reported_for != before.last_checkin_date:
            # Unless the periodic job (events.streaks) reported it already: it
            # marks the state row, read by the same lock as this change.
            yield EventType.STREAK_LOST, streak_lost_data(before)
    elif step.kind == _Kind.FREEZE_USED:
        yield (
            EventType.STREAK_FREEZE_CONSUMED,
            {
                "date": step.ref,
                "freezes_used": before.streak_freezes - after.streak_freezes,
                "freezes_left": after.streak_freezes,
            },
        )
    elif step.kind == _Kind.REWARD_CLAIM:
        yield EventType.REWARD_CLAIMED, {"reward_id": step.ref, "auto_claimed": auto_claimed}
    elif step.kind == _Kind.TOOL_BUY:
        yield (
            EventType.TOOL_PURCHASED,
            {"tool_id": step.ref, "price": before.loyalty - after.loyalty},
        )
    elif step.kind == _Kind.TOOL_USE:
        yield EventType.TOOL_USED, {"tool_id": step.ref}
    elif step.kind == _Kind.STREAK_RESTORE:
        yield EventType.STREAK_RESTORED, streak_restored_data(step, tool_id=tool_id)
    if after.level > before.level and not is_reconciliation(step):
        yield EventType.LEVEL_UP, {"level": after.level, "previous_level": before.level}


def change_events(change: StateChange) -> list[tuple[str, dict[str, Any]]]:
    """The events of a change, in order: those of the use case's own steps,
    then each unlocked reward (followed by its claim when it was auto-claimed)."""
    unlocked = unlocked_in(change)
    auto = {u.reward.id for u in unlocked if u.auto_claimed}

    def is_auto_claim(step: LedgerStep) -> bool:
        return step.kind == _Kind.REWARD_CLAIM and step.ref in auto

    claims = {step.ref: step for step in change.steps if is_auto_claim(step)}
    # A restore in the same change as a tool use is that tool's doing.
    tool_id = next((step.ref for step in change.steps if step.kind == _Kind.TOOL_USE), None)
    events: list[tuple[str, dict[str, Any]]] = []
    for step in change.steps:
        if not is_auto_claim(step):
            events.extend(
                _step_events(
                    step,
                    auto_claimed=False,
                    loss_reported_for=change.locked.loss_reported_for,
                    tool_id=tool_id,
                )
            )
    for u in unlocked:
        events.append(
            (
                EventType.REWARD_UNLOCKED,
                {"reward_id": u.reward.id, "title": u.reward.title, "auto_claimed": u.auto_claimed},
            )
        )
        if u.auto_claimed:
            events.extend(_step_events(claims[u.reward.id], auto_claimed=True))
    return events


@dataclass(frozen=True)
class RecordedEvent:
    id: uuid.UUID
    type: str


def _event_rows(
    *, now: dt.datetime, events: Sequence[tuple[uuid.UUID, str, dict[str, Any]]], in_feed: bool
) -> tuple[list[RecordedEvent], statements.Rows]:
    ids = event_ids(now, len(events))
    rows = [
        [event_id, user_id if in_feed else None, kind, now, {"user_id": str(user_id), **data}]
        for event_id, (user_id, kind, data) in zip(ids, events, strict=True)
    ]
    recorded = [
        RecordedEvent(event_id, kind) for event_id, (_, kind, _) in zip(ids, events, strict=True)
    ]
    return recorded, statements.Rows(Event, _EVENT_COLUMNS, rows)


def record_events(
    *,
    now: dt.datetime,
    events: Sequence[tuple[uuid.UUID, str, dict[str, Any]]],
    in_feed: bool = True,
) -> list[RecordedEvent]:
    """Write ``events`` (user id, type, data) in one insert, in the caller's
    transaction, and tell the listeners of :data:`events_recorded` (webhooks
    stage their fan-out there, in the same transaction).

    Every event's ``data`` starts with the ``user_id`` it is about. Events not
    ``in_feed`` belong to no account (``user.deleted``: the account is gone)."""
    if not events:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_events() must run in the transaction of its change.")
    recorded, rows = _event_rows(now=now, events=events, in_feed=in_feed)
    statements.insert_rows(rows)
    events_recorded.send(sender=Event, events=recorded, now=now, write=statements.insert_rows)
    return recorded


def events_record(change: StateChange) -> list[RecordedEvent]:
    """The envelope's after-change step: the change's events, inserted in the
    change's own write (one statement with the state row and the ledger on
    PostgreSQL: the hot path pays no round trip for them). A backfill's
    events carry ``backfill: true`` in their data."""
    user_id = change.user_id
    # A backfill's events say so: the user did nothing, the catalog changed.
    mark = {"backfill": True} if change.backfill else {}
    events = [(user_id, kind, {**data, **mark}) for kind, data in change_events(change)]
    if not events:
        return []
    recorded, rows = _event_rows(now=change.now, events=events, in_feed=True)
    change.write_with(rows)
    events_recorded.send(sender=Event, events=recorded, now=change.now, write=change.write_with)
    return recorded
