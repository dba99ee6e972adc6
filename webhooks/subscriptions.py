"""Which event types some active endpoint receives, as the hot path sees it.

Each state change asks whether any of its events has a subscriber; the answer
comes from a per-process snapshot of the active endpoints, re-read at most
every :data:`SNAPSHOT_SECONDS`, so a change with nobody listening pays
nothing and one with subscribers pays one outbox row, written in its own
statement (:func:`stage_fan_out`); the relay turns outbox rows into
deliveries.

A snapshot can be up to :data:`SNAPSHOT_SECONDS` old in another process. An
endpoint that starts receiving a type therefore also gets a *catch-up* task
(:func:`webhooks.services.endpoint_saved`) that runs after the snapshots have
turned over and creates any delivery the stale ones missed.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from base.soon import SoonAfterCommit
from engagement.statements import Rows
from events.services import RecordedEvent

SNAPSHOT_SECONDS = 5.0
# Every type: an active endpoint with an empty filter.
ALL = "*"

_lock = threading.Lock()
_snapshot: tuple[float, frozenset[str]] | None = None


def subscribed_types() -> frozenset[str]:
    global _snapshot
    snapshot = _snapshot
    if snapshot is not None and time.monotonic() - snapshot[0] < SNAPSHOT_SECONDS:
        return snapshot[1]
    with _lock:
        from webhooks.models import WebhookEndpoint

        types: set[str] = set()
        for event_types in WebhookEndpoint.objects.filter(is_active=True).values_list(
            "event_types", flat=True
        ):
            types.update(event_types or [ALL])
        _snapshot = (time.monotonic(), frozenset(types))
        return _snapshot[1]


def forget_snapshot() -> None:
    """This process re-reads the endpoints at the next change (after staff edit one)."""
    global _snapshot
    _snapshot = None


_OUTBOX_COLUMNS = ("event_ids", "created_at")


def stage_fan_out(
    sender: Any,
    *,
    events: Sequence[RecordedEvent],
    now: dt.datetime,
    write: Callable[[Rows], None],
    **kwargs: Any,
) -> None:
    """Receiver of ``events_recorded``: the events some endpoint receives go
    to the outbox in the change's own write (:class:`PendingFanOut`), and the
    relay is asked to run soon after the commit."""
    types = subscribed_types()
    if not types:
        return
    wanted = [str(e.id) for e in events if ALL in types or e.type in types]
    if wanted:
        from webhooks.models import PendingFanOut

        write(Rows(PendingFanOut, _OUTBOX_COLUMNS, [[wanted, now]]))
        # What no relay takes (an enqueue failed after the commit) the
        # periodic sweep relays.
        relay_soon.after_commit()


# After a commit that staged a fan-out, the relay runs within about half a
# second; a busy process enqueues one relay per half second, not one task row
# per change (base/soon.py).
relay_soon = SoonAfterCommit("webhooks.tasks.relay", delay=dt.timedelta(seconds=0.5))
