"""A task run "soon after this commit", enqueued at most once per short
period per process instead of once per change.

A hot path that leaves work behind (an outbox row, histogram rows to fold)
must not pay a task row each time. :class:`SoonAfterCommit` enqueues its task
with a ``run_after`` a little later than now, and skips the enqueue while the
pending run is still due after this commit: a worker never starts a task
before its ``run_after``, so that run will see what this commit wrote. A busy
process thus enqueues about one task per ``delay``; a quiet one, one per
commit. A periodic job must still run the task as a backstop: an enqueue can
fail after its commit (it is ``robust``: the change has committed).
"""

from __future__ import annotations

import datetime as dt
import threading

from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string


class SoonAfterCommit:
    def __init__(
        self,
        task_path: str,
        *,
        delay: dt.timedelta,
        margin: dt.timedelta = dt.timedelta(seconds=0.1),
    ) -> None:
        self.task_path = task_path
        self.delay = delay
        # A commit this close to the pending run's start enqueues another: the
        # workers' clocks may be slightly ahead of this one.
        self.margin = margin
        self._lock = threading.Lock()
        self._runs_at: dt.datetime | None = None

    def after_commit(self) -> None:
        """Ask for a run after the current transaction commits (none if it
        rolls back). Outside a transaction: now."""
        transaction.on_commit(self.enqueue_if_needed, robust=True)

    def enqueue_if_needed(self) -> None:
        now = timezone.now()
        with self._lock:
            if self._runs_at is not None and now < self._runs_at - self.margin:
                return
            self._runs_at = run_after = now + self.delay
        import_string(self.task_path).using(run_after=run_after).enqueue()

    def forget(self) -> None:
        """The next request enqueues (tests: no run pending from another test)."""
        with self._lock:
            self._runs_at = None
