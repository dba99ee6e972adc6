"""The periodic jobs of ``settings.SCHEDULE``, enqueued on the task queue.

Each job runs on the boundaries of its period (a *slot*: the epoch floored to
``every`` seconds) and receives its slot as ``slot`` (ISO 8601), so a job
computes with the time it was scheduled for, not when a worker got to it.
Several schedulers may run: a slot is enqueued by whichever inserts its
:class:`ScheduledRun` row first, in the same transaction as the task row.
A scheduler that was down does not replay the slots it missed; the jobs are
written to catch up on their own (docs/OPERATIONS.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string

from scheduler.models import ScheduledRun

# Slot rows older than this are deleted as the scheduler goes.
KEEP_RUNS = dt.timedelta(days=7)


@dataclass(frozen=True)
class Job:
    name: str
    task: str  # dotted path of a Task that takes ``slot``
    every: int  # seconds


def jobs() -> list[Job]:
    schedule: dict[str, dict[str, Any]] = settings.SCHEDULE
    return [Job(name, spec["task"], int(spec["every"])) for name, spec in schedule.items()]


def slot_of(now: dt.datetime, every: int) -> dt.datetime:
    seconds = int(now.timestamp()) // every * every
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def next_boundary(now: dt.datetime, every: int) -> dt.datetime:
    return slot_of(now, every) + dt.timedelta(seconds=every)


def enqueue_due(*, now: dt.datetime) -> list[Job]:
    """Enqueue every job whose current slot nobody has enqueued yet. Returns
    the jobs this call enqueued."""
    enqueued = []
    for job in jobs():
        slot = slot_of(now, job.every)
        try:
            with transaction.atomic():
                ScheduledRun.objects.create(job=job.name, slot=slot, enqueued_at=now)
                import_string(job.task).enqueue(slot=slot.isoformat())
        except IntegrityError:
            continue  # another scheduler, or an earlier tick, enqueued this slot
        enqueued.append(job)
    return enqueued


def forget_old_runs(*, now: dt.datetime) -> int:
    deleted, _ = ScheduledRun.objects.filter(slot__lt=now - KEEP_RUNS).delete()
    return deleted
