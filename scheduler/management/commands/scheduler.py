import logging
import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections
from django.utils import timezone

from scheduler.services import enqueue_due, forget_old_runs, jobs, next_boundary

logger = logging.getLogger("scheduler")


class Command(BaseCommand):
    help = (
        "Enqueue the periodic jobs of settings.SCHEDULE on the task queue, each on the "
        "boundaries of its period. Safe to run on several machines: each slot is "
        "enqueued once. Workers (manage.py db_worker) run what it enqueues."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once",
            action="store_true",
            help="Enqueue the jobs that are due now, then exit (for cron or a test).",
        )

    def handle(self, *args: Any, once: bool, **options: Any) -> None:
        if once:
            self._tick()
            return
        stop = threading.Event()

        def shut_down(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, shut_down)
        signal.signal(signal.SIGINT, shut_down)
        period = min(job.every for job in jobs())
        names = ", ".join(f"{job.name} every {job.every}s" for job in jobs())
        self.stdout.write(f"Scheduler started: {names}")
        while not stop.is_set():
            self._tick()
            wait = (next_boundary(timezone.now(), period) - timezone.now()).total_seconds()
            stop.wait(max(wait, 0) + 0.01)
        self.stdout.write("Scheduler stopped.")

    def _tick(self) -> None:
        close_old_connections()
        now = timezone.now()
        try:
            for job in enqueue_due(now=now):
                logger.info("enqueued %s for %s", job.name, now.isoformat())
            forget_old_runs(now=now)
        except Exception:
            # A database restart must not end the scheduler: log, and try again
            # at the next boundary.
            logger.exception("scheduler tick failed")
        finally:
            close_old_connections()
