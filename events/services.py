"""Domain events: the after-change step of every state change.

Registered with the state-change envelope after rewards' unlock step
(``EventsConfig.ready``), it turns what the change recorded (its ledger steps
and the rewards it unlocked) into events, written with one insert in the
change's own transaction: an event exists iff its change committed.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

from engagement import statements
from engagement.models import LedgerEntry
from engagement.services import LedgerStep, StateChange
from events.models import Event, EventType
from rewards.services.unlock import unlocked_in

EVENTS_STEP = "events.record"
_EVENT_COLUMNS = ("id", "user", "type", "created_at", "data")

_Kind = LedgerEntry.Kind


def event_ids(now: dt.datetime, count: int) -> list[uuid.UUID]:
    """UUIDv7-shaped ids (RFC 9562): ``now`` in milliseconds, then a counter,
    then random bits, so the events of one change, which share ``created_at``,
    sort by id in the order they were emitted."""
    millis = int(now.timestamp() * 1000) & ((1 << 48) - 1)
    return [
        uuid.UUID(
            int=(millis << 80) | (0x7 << 76) | (i << 64) | (0b10 << 62) | secrets.randbits(62)
        )
        for i in range(count)
    ]


def _step_events(step: LedgerStep, *, auto_claimed: bool) -> Iterator[tuple[str, dict[str, Any]]]:
    before, after = step.transition.before, step.transition.after
    if step.kind == _Kind.CHECKIN:
        yield EventType.CHECKIN_CREATED, {"date": step.ref, "streak": after.streak}
        if after.streak > 1:
            yield EventType.STREAK_EXTENDED, {"date": step.ref, "streak": after.streak}
        elif before.streak > 0:
            yield EventType.STREAK_LOST, {"date": step.ref, "lost_streak": before.streak}
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
    if after.level > before.level:
        yield EventType.LEVEL_UP, {"level": after.level, "previous_level": before.level}


def change_events(change: StateChange) -> list[tuple[str, dict[str, Any]]]:
    """The events of a change, in order: those of the use case's own steps,
    then each unlocked reward (followed by its claim when it was auto-claimed)."""
    unlocked = unlocked_in(change)
    auto = {u.reward.id for u in unlocked if u.auto_claimed}

    def is_auto_claim(step: LedgerStep) -> bool:
        return step.kind == _Kind.REWARD_CLAIM and step.ref in auto

    claims = {step.ref: step for step in change.steps if is_auto_claim(step)}
    events: list[tuple[str, dict[str, Any]]] = []
    for step in change.steps:
        if not is_auto_claim(step):
            events.extend(_step_events(step, auto_claimed=False))
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


def events_record(change: StateChange) -> int:
    """Write the change's events: one insert. Returns how many."""
    events = change_events(change)
    if not events:
        return 0
    user_id = str(change.user_id)
    ids = event_ids(change.now, len(events))
    # Compiled once, like the envelope's own statements: on every state change.
    statements.insert_rows(
        Event,
        _EVENT_COLUMNS,
        [
            [event_id, change.user_id, kind, change.now, {"user_id": user_id, **data}]
            for event_id, (kind, data) in zip(ids, events, strict=True)
        ],
    )
    return len(events)
