"""Event ids: UUIDv7-shaped (RFC 9562), so that their order is time order.

The first 48 bits are the milliseconds of the event's ``created_at``, then a
counter (the events of one change, which share ``created_at``, sort in the
order they were emitted), then random bits. Because ids grow with time, "the
events since T" is a range of the primary key (:func:`first_id_at`): the
webhooks' replay walks it through the primary key's index, where a scan by
``created_at`` would need an index of its own on the hot insert path.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

from django.utils import timezone

_MILLIS_MASK = (1 << 48) - 1


def _millis(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000) & _MILLIS_MASK


def event_ids(now: dt.datetime, count: int) -> list[uuid.UUID]:
    millis = _millis(now)
    return [
        uuid.UUID(
            int=(millis << 80) | (0x7 << 76) | (i << 64) | (0b10 << 62) | secrets.randbits(62)
        )
        for i in range(count)
    ]


def new_event_id() -> uuid.UUID:
    """The model's default (events are written by ``events.services`` with
    their change's ``now``; this covers any other path)."""
    return event_ids(timezone.now(), 1)[0]


def first_id_at(moment: dt.datetime) -> uuid.UUID:
    """No id of an event created at ``moment`` or later is smaller."""
    return uuid.UUID(int=_millis(moment) << 80)
