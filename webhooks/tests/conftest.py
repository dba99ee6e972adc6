"""Fixtures for the webhook tests: a real receiver, fast retry settings, and a
worker loop that runs the task queue as production does."""

from __future__ import annotations

import datetime as dt
import signal
import time
from collections.abc import Callable, Iterator

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max

from webhooks import services, subscriptions
from webhooks.tests.receiver import Receiver

# The sender gives up after this long; a ``slow`` answer comes after it.
TIMEOUT = 0.5


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_TIMEOUT_SECONDS = TIMEOUT
    settings.WEBHOOK_BACKOFF_SECONDS = 0.02
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 0.1
    return settings


@pytest.fixture(autouse=True)
def _fresh_snapshot() -> Iterator[None]:
    """The subscription snapshot is per process: no test sees another's
    endpoints (a test transaction that rolls back never runs its on_commit)."""
    subscriptions.forget_snapshot()
    yield
    subscriptions.forget_snapshot()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(slow_seconds=TIMEOUT + 1.0).start()
    yield receiver
    receiver.stop()


def endpoint_for(receiver: Receiver, *, event_types=(), now: dt.datetime | None = None) -> int:
    """An endpoint pointing at ``receiver``, which then verifies with its secret."""
    created = services.endpoint_create(
        url=receiver.url, event_types=list(event_types), now=now or timezone.now()
    )
    receiver.secrets.append(created.secret)
    subscriptions.forget_snapshot()
    return created.endpoint_id


def pending_tasks(horizon: float) -> QuerySet[DBTaskResult]:
    """Task rows that are ready, or will be within ``horizon`` seconds."""
    soon = timezone.now() + dt.timedelta(seconds=horizon)
    return DBTaskResult.objects.filter(status="READY").filter(
        Q(run_after=get_date_max()) | Q(run_after__lte=soon)
    )


def run_worker(*, horizon: float = 3.0, timeout: float = 30.0) -> None:
    """Run ``manage.py db_worker --batch`` until no task is due within
    ``horizon`` seconds (a catch-up replay half a minute away is left alone),
    waiting for retries' ``run_after``. Fails the test if any task failed."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    deadline = time.monotonic() + timeout
    try:
        while True:
            call_command(
                "db_worker", batch=True, reload=False, startup_delay=False, interval=0, verbosity=0
            )
            waiting = pending_tasks(horizon)
            if not waiting.exists():
                break
            assert time.monotonic() < deadline, list(waiting.values("task_path", "run_after"))
            time.sleep(0.02)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert_no_failed_tasks()


def assert_no_failed_tasks() -> None:
    failed = DBTaskResult.objects.filter(status="FAILED")
    assert not failed.exists(), [(t.task_path, t.traceback) for t in failed]


def run_until(condition: Callable[[], bool], *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition was not met in time"
        run_worker(timeout=timeout)
        time.sleep(0.02)


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"
