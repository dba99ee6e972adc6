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

from django.db import transaction
from django.utils import timezone

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
        # robust: the change has committed; a failed enqueue must not turn its
        # response into an error (the periodic sweep relays what is left).
        transaction.on_commit(relay_soon, robust=True)


_OUTBOX_COLUMNS = ("event_ids", "created_at")

# The relay runs this long after the first commit that asks for it; every
# commit of this process until shortly before then leaves it to that run.
RELAY_DELAY = dt.timedelta(seconds=0.5)
# A commit this close to the pending run's start enqueues another: the
# workers' clocks may be slightly ahead of this one.
RELAY_MARGIN = dt.timedelta(seconds=0.1)

_relay_lock = threading.Lock()
_relay_runs_at: dt.datetime | None = None


def relay_soon() -> None:
    """After a commit that staged a fan-out: make sure a relay task starts
    after this moment. A worker never starts a task before its ``run_after``,
    so a pending relay due later than now (with a margin for clocks) will see
    this commit's outbox row: a busy process enqueues at most about one relay
    per ``RELAY_DELAY``, instead of one task row per change."""
    global _relay_runs_at
    now = timezone.now()
    with _relay_lock:
        if _relay_runs_at is not None and now < _relay_runs_at - RELAY_MARGIN:
            return
        _relay_runs_at = now + RELAY_DELAY
        run_after = _relay_runs_at
    from webhooks.tasks import relay

    relay.using(run_after=run_after).enqueue()


def forget_relay() -> None:
    """The next commit that stages a fan-out enqueues a relay (tests)."""
    global _relay_runs_at
    _relay_runs_at = None
