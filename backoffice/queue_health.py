"""The webhook queue's health for the staff dashboard: three queries, each
bounded by the backlog rather than by history.

- pending deliveries: the sweep's partial index (pending rows only), counted up
  to a cap;
- dead deliveries of the last 24 h: whose last attempt, or retry window, ended
  then (capped);
- tasks waiting in the ``django_tasks_db`` queue (ready and due, the queue's
  partial index) and how long the oldest has waited: since it was enqueued, or
  since its ``run_after`` for a delayed one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Min, Q
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult, get_date_max

from webhooks.models import Delivery
from webhooks.selectors import COUNT_CAP

DEAD_WINDOW = dt.timedelta(hours=24)


@dataclass(frozen=True)
class QueueHealth:
    pending_deliveries: int
    dead_last_day: int
    tasks_waiting: int
    oldest_wait: dt.timedelta | None
    cap: int = COUNT_CAP

    @property
    def oldest_wait_text(self) -> str:
        if self.oldest_wait is None:
            return "-"
        seconds = max(0, int(self.oldest_wait.total_seconds()))
        if seconds < 120:
            return f"{seconds} s"
        if seconds < 2 * 3600:
            return f"{seconds // 60} min"
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"

    def shown(self, count: int) -> str:
        return f"{self.cap}+" if count > self.cap else str(count)

    @property
    def pending_text(self) -> str:
        return self.shown(self.pending_deliveries)

    @property
    def dead_text(self) -> str:
        return self.shown(self.dead_last_day)


def queue_health(*, now: dt.datetime) -> QueueHealth:
    pending = Delivery.objects.filter(status=Delivery.Status.PENDING)
    since = now - DEAD_WINDOW
    dead = Delivery.objects.filter(status=Delivery.Status.DEAD).filter(
        Q(last_attempt_at__gte=since) | Q(give_up_at__gte=since)
    )
    never = get_date_max()  # run_after of a task enqueued without one
    tasks = DBTaskResult.objects.filter(status=TaskResultStatus.READY).filter(
        Q(run_after=never) | Q(run_after__lte=now)
    )
    waiting = tasks.aggregate(
        count=Count("pk"),
        oldest_enqueued=Min("enqueued_at", filter=Q(run_after=never)),
        oldest_due=Min("run_after", filter=Q(run_after__lte=now)),
    )
    starts = [t for t in (waiting["oldest_enqueued"], waiting["oldest_due"]) if t is not None]
    return QueueHealth(
        pending_deliveries=pending.values("pk")[: COUNT_CAP + 1].count(),
        dead_last_day=dead.values("pk")[: COUNT_CAP + 1].count(),
        tasks_waiting=waiting["count"],
        oldest_wait=now - min(starts) if starts else None,
    )
