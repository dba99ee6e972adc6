"""Webhook delivery under faults, with real `manage.py db_worker` processes on
PostgreSQL and a real receiver that checks every signature: a worker killed
mid-delivery, several workers racing over hundreds of deliveries, and a
receiver that is down for a while. Nothing may be lost, and no webhook-id may
be in flight twice at once."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import BASE_ENV, MANAGE, ROOT, wait_until

# Short windows, so a killed worker's delivery is retried within seconds.
WEBHOOK_ENV = {
    "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    "WEBHOOK_TIMEOUT_SECONDS": "3",
    "WEBHOOK_STALL_SECONDS": "1",
    "WEBHOOK_BACKOFF_SECONDS": "0.3",
    "WEBHOOK_BACKOFF_MAX_SECONDS": "1",
}
EVENTS = 200


class Workers:
    """`manage.py db_worker` processes, each in a process group of its own."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []

    def start(self, count: int = 1) -> list[subprocess.Popen]:
        started = []
        for _ in range(count):
            index = len(self.processes)
            with (self.log_dir / f"worker-{index}.log").open("w") as log:
                process = subprocess.Popen(
                    [*MANAGE, "db_worker", "--no-startup-delay", "--interval", "0.05"],
                    cwd=ROOT,
                    env={**BASE_ENV, **WEBHOOK_ENV, "LOG_LEVEL": "WARNING"},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.processes.append(process)
            started.append(process)
        return started

    def kill(self, process: subprocess.Popen) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.log_dir.glob("worker-*.log"))
        )


@pytest.fixture
def workers(tmp_path):
    workers = Workers(tmp_path)
    yield workers
    workers.stop_all()


@pytest.fixture
def hooks():
    """Webhook settings for this process (it creates endpoints and events);
    no endpoint or task of an earlier test is left."""
    from django.test import override_settings
    from django_tasks_db.models import DBTaskResult

    from webhooks import subscriptions
    from webhooks.models import WebhookEndpoint

    WebhookEndpoint.objects.update(is_active=False)
    DBTaskResult.objects.all().delete()
    with override_settings(WEBHOOK_ALLOWED_HOSTS=["127.0.0.1"]):
        subscriptions.forget_snapshot()
        yield
    subscriptions.forget_snapshot()


@pytest.fixture
def receiver():
    from webhooks.tests.receiver import Receiver

    receiver = Receiver(slow_seconds=5).start()
    yield receiver
    receiver.stop()


def endpoint_for(receiver, event_types=()) -> int:
    from django.utils import timezone

    from webhooks import services, subscriptions

    created = services.endpoint_create(
        url=receiver.url, event_types=list(event_types), now=timezone.now()
    )
    receiver.secrets.append(created.secret)
    subscriptions.forget_snapshot()
    return created.endpoint_id


def checkins(users) -> list[str]:
    """Each user checks in (the real service): their checkin.created event ids."""
    from django.utils import timezone

    from checkins.services import checkin_create
    from events.models import Event

    for user, _ in users:
        checkin_create(user_id=user.pk, now=timezone.now())
    return [
        str(i)
        for i in Event.objects.filter(
            user__in=[u for u, _ in users], type="checkin.created"
        ).values_list("id", flat=True)
    ]


def many_events(count: int) -> list[str]:
    """``count`` events of one user, written in one change's transaction."""
    from django.db import transaction
    from django.utils import timezone

    from events.services import record_events
    from users.models import User

    user = User.objects.create(email=f"hooks-{time.monotonic_ns()}@example.com", password="!")
    with transaction.atomic():
        recorded = record_events(
            now=timezone.now(),
            events=[(user.pk, "tool.used", {"tool_id": f"t{i}"}) for i in range(count)],
        )
    return [str(e.id) for e in recorded]


def deliveries(endpoint_id: int) -> dict[str, str]:
    from webhooks.models import Delivery

    return {
        str(event_id): status
        for event_id, status in Delivery.objects.filter(endpoint_id=endpoint_id).values_list(
            "event_id", "status"
        )
    }


def enqueue_sweep() -> None:
    from django.utils import timezone

    from webhooks.tasks import sweep

    sweep.enqueue(slot=timezone.now().isoformat())


def all_delivered(endpoint_id: int, event_ids: list[str]) -> bool:
    found = deliveries(endpoint_id)
    return all(found.get(event_id) == "delivered" for event_id in event_ids)


def test_a_worker_killed_mid_delivery_loses_nothing(hooks, receiver, workers, make_users):
    """SIGKILL the worker while the receiver holds its request open; a new
    worker and the sweep deliver it once the dead worker's lease runs out."""
    from webhooks.models import Delivery

    endpoint_id = endpoint_for(receiver, event_types=["checkin.created"])
    receiver.script(["hold"])
    event_ids = checkins(make_users(6))
    (first,) = workers.start(1)

    wait_until(receiver.holding.is_set, timeout=30, interval=0.02)
    held = receiver.received[0].webhook_id
    workers.kill(first)
    receiver.release()  # its answer goes to a dead socket
    killed_at = time.monotonic()
    assert deliveries(endpoint_id)[held] == "pending"

    workers.start(1)

    def swept_and_delivered() -> bool:
        if all_delivered(endpoint_id, event_ids):
            return True
        enqueue_sweep()  # what the scheduler does every minute
        return False

    try:
        wait_until(swept_and_delivered, timeout=40, interval=0.5)
    except AssertionError:
        raise AssertionError(f"{deliveries(endpoint_id)}\n{workers.logs()}") from None
    recovered_after = time.monotonic() - killed_at

    ids = Counter(receiver.ids())
    assert set(ids) == set(event_ids)
    assert ids[held] == 2  # the killed attempt, then the retry
    assert all(ids[e] == 1 for e in event_ids if e != held)
    assert receiver.unverified() == []
    assert receiver.overlaps == []
    delivery = Delivery.objects.get(endpoint_id=endpoint_id, event_id=held)
    assert delivery.attempts == 1  # the killed attempt never recorded an outcome
    # The lease (timeout 3 s + 1 s) had to run out first.
    assert recovered_after >= 3, recovered_after
    print(f"\nkilled worker's delivery retried after {recovered_after:.1f} s")


@pytest.mark.parametrize("count", [2, 4])
def test_workers_in_parallel_never_send_one_delivery_twice_at_once(hooks, receiver, workers, count):
    """Hundreds of deliveries, each with its attempt enqueued twice (as a
    sweep's duplicate would be), raced over by several workers: every event
    arrives, and no webhook-id is ever in flight twice at once."""
    from django_tasks_db.models import DBTaskResult

    from webhooks import services
    from webhooks.models import Delivery

    endpoint_id = endpoint_for(receiver)
    receiver.on_request = lambda _: time.sleep(0.002)  # keep requests in flight a while
    event_ids = many_events(EVENTS)
    services.fan_out(event_ids=event_ids, now=_now())
    # Each attempt twice in a row in the queue, so two workers take the two
    # tasks of one delivery at the same moment.
    DBTaskResult.objects.filter(task_path="webhooks.tasks.deliver").delete()
    ids = Delivery.objects.filter(endpoint_id=endpoint_id).values_list("id", flat=True)
    services._enqueue_attempts(pk for pk in ids for _ in range(2))

    started = time.monotonic()
    workers.start(count)
    try:
        wait_until(lambda: all_delivered(endpoint_id, event_ids), timeout=60, interval=0.2)
    except AssertionError:
        raise AssertionError(f"{Counter(deliveries(endpoint_id).values())}") from None
    seconds = time.monotonic() - started

    assert receiver.overlaps == []
    assert receiver.unverified() == []
    ids = Counter(receiver.ids())
    assert set(ids) >= set(event_ids)
    # Two tasks per delivery, but the lease and the status let one send.
    assert max(ids.values()) == 1, ids.most_common(3)
    print(f"\n{count} workers: {len(event_ids)} deliveries in {seconds:.1f} s")


def test_a_receiver_down_for_a_while_gets_everything_when_it_is_back(
    hooks, receiver, workers, make_users
):
    from webhooks.models import DeliveryAttempt, WebhookEndpoint

    endpoint_id = endpoint_for(receiver, event_types=["checkin.created"])
    port = receiver.port
    receiver.stop()  # the port is closed: connections are refused
    event_ids = checkins(make_users(5))
    workers.start(1)

    def failed_twice_each() -> bool:
        failed = Counter(
            DeliveryAttempt.objects.filter(
                delivery__endpoint_id=endpoint_id, status_code__isnull=True
            ).values_list("delivery__event_id", flat=True)
        )
        return len(failed) == len(event_ids) and min(failed.values()) >= 2

    wait_until(failed_twice_each, timeout=30, interval=0.2)
    assert WebhookEndpoint.objects.get(pk=endpoint_id).failing_since is not None
    receiver.start(port=port)

    wait_until(lambda: all_delivered(endpoint_id, event_ids), timeout=30, interval=0.2)

    assert sorted(receiver.ids()) == sorted(event_ids)
    assert receiver.unverified() == []
    assert WebhookEndpoint.objects.get(pk=endpoint_id).failing_since is None
    assert set(
        DeliveryAttempt.objects.filter(
            delivery__endpoint_id=endpoint_id, status_code__isnull=True
        ).values_list("error", flat=True)
    ) == {"Connection refused or unreachable."}


def _now() -> dt.datetime:
    from django.utils import timezone

    return timezone.now()
