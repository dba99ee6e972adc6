"""One attempt at a time per delivery (a lease taken by one atomic UPDATE),
and the sweep that retries the attempts of killed workers."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable

import pytest
from django.db import connection, connections
from django.db.models import Q
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from base.testing import run_concurrently
from rewards.tests.test_interleavings import interleave
from webhooks import net, services
from webhooks.models import Delivery, WebhookEndpoint
from webhooks.tests.conftest import endpoint_for
from webhooks.tests.helpers import checkin_event, delivery_of, refused_url

SECOND = dt.timedelta(seconds=1)
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks under READ COMMITTED are PostgreSQL's"
)


def deliver_tasks(delivery: Delivery) -> int:
    return DBTaskResult.objects.filter(
        task_path="webhooks.tasks.deliver", args_kwargs__kwargs__delivery_id=delivery.pk
    ).count()


@pytest.mark.django_db(transaction=True)
def test_an_attempt_in_flight_keeps_a_second_one_out(receiver):
    endpoint_for(receiver)
    now = timezone.now()
    delivery = delivery_of(checkin_event(now), now=now)
    receiver.script(["hold"])
    outcomes: list[services.AttemptOutcome] = []

    def first() -> None:
        try:
            outcomes.append(services.attempt(delivery_id=delivery.pk, now=now))
        finally:
            connections.close_all()

    sender = threading.Thread(target=first, daemon=True)
    sender.start()
    assert receiver.holding.wait(10)

    second = services.attempt(delivery_id=delivery.pk, now=now + SECOND)
    receiver.release()
    sender.join(10)

    assert second.status == "skipped"
    assert [o.status for o in outcomes] == ["delivered"]
    assert receiver.ids() == [str(delivery.event_id)]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.lease_token) == ("delivered", 1, None)


@postgres_only
@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_concurrent_attempts_on_postgresql_send_once(receiver):
    endpoint_for(receiver)
    now = timezone.now()
    deliveries = [delivery_of(checkin_event(now), now=now) for _ in range(5)]

    def attempt_of(delivery_id: int) -> Callable[[int], str]:
        return lambda _: services.attempt(delivery_id=delivery_id, now=now).status

    for delivery in deliveries:
        outcomes = run_concurrently(8, attempt_of(delivery.pk))
        assert sorted(outcomes) == ["delivered"] + ["skipped"] * 7

    assert sorted(receiver.ids()) == sorted(str(d.event_id) for d in deliveries)
    assert receiver.overlaps == []


def lease_through_a_join(delivery_id: int, now: dt.datetime) -> bool:
    """The lease as first written: the endpoint's flag through the relation."""
    return bool(
        Delivery.objects.filter(
            pk=delivery_id, status="pending", next_attempt_at__lte=now, endpoint__is_active=True
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + services.lease_length(), lease_token=uuid.uuid4())
    )


@postgres_only
@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("lease", "both_took_it"),
    [
        (lambda pk, now: services._lease(pk, now=now) is not None, False),
        # Control: Django runs an UPDATE filtered across a relation as
        # ``WHERE id IN (SELECT ... FROM webhooks_delivery JOIN ...)``. The
        # second UPDATE waits for the first one's row lock, then re-checks
        # only the row's own conditions, and the subquery still sees the row
        # without a lease: two workers would send the same delivery at once.
        (lease_through_a_join, True),
    ],
    ids=["lease", "control-join"],
)
def test_a_lease_waiting_for_another_is_refused_after_it_commits(lease, both_took_it):
    now = timezone.now()
    services.endpoint_create(url=refused_url(), event_types=[], now=now)
    delivery = delivery_of(checkin_event(now), now=now)

    first, second = interleave(
        first_holds_lock=lambda: lease(delivery.pk, now),
        second=lambda: lease(delivery.pk, now + SECOND),
    )

    assert first is True
    assert second is both_took_it


@pytest.mark.django_db
def test_an_attempt_does_not_record_over_a_lease_it_lost(receiver):
    """A lease that expired (the attempt outlived it) and was taken anew:
    the late attempt's outcome is not written over the new one's."""
    endpoint_for(receiver)
    now = timezone.now()
    delivery = delivery_of(checkin_event(now), now=now)
    stale_token = services._lease(delivery.pk, now=now)
    assert stale_token is not None
    later = now + services.lease_length() + SECOND
    assert services.attempt(delivery_id=delivery.pk, now=later).status == "delivered"

    delivery.refresh_from_db()
    late = services._record(
        delivery,
        token=stale_token,
        response=net.Response(500, "HTTP 500", "", 10),
        at=now,
        finished=now,
    )

    assert late.status == "lost"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert delivery.attempt_log.count() == 1


@pytest.mark.django_db
def test_the_sweep_retries_a_delivery_whose_worker_died(settings):
    settings.WEBHOOK_STALL_SECONDS = 30
    t0 = timezone.now()
    services.endpoint_create(url=refused_url(), event_types=[], now=t0)
    dead_worker = delivery_of(checkin_event(t0), now=t0)
    in_flight = delivery_of(checkin_event(t0), now=t0)
    assert services._lease(dead_worker.pk, now=t0) is not None
    lease_ends = t0 + services.lease_length()
    # Taken again just before the other lease ran out: still in force.
    assert services._lease(in_flight.pk, now=lease_ends - 5 * SECOND) is not None
    not_stalled = delivery_of(checkin_event(lease_ends), now=lease_ends)
    before = {d.pk: deliver_tasks(d) for d in (dead_worker, in_flight, not_stalled)}

    result = services.sweep(now=lease_ends + SECOND)

    assert result == services.SweepResult(requeued=1, given_up=0)
    after = {d.pk: deliver_tasks(d) for d in (dead_worker, in_flight, not_stalled)}
    assert after == {
        dead_worker.pk: before[dead_worker.pk] + 1,
        in_flight.pk: before[in_flight.pk],
        not_stalled.pk: before[not_stalled.pk],
    }
    dead_worker.refresh_from_db()
    assert dead_worker.next_attempt_at == lease_ends + SECOND
    # The next sweep waits for that attempt rather than enqueueing it again.
    assert services.sweep(now=lease_ends + 2 * SECOND).requeued == 0
    # The re-enqueued attempt takes the expired lease and runs.
    outcome = services.attempt(delivery_id=dead_worker.pk, now=lease_ends + 2 * SECOND)
    assert outcome.error == "Connection refused or unreachable."


@pytest.mark.django_db
def test_the_sweep_leaves_disabled_endpoints_alone_until_their_window_ends():
    t0 = timezone.now()
    endpoint_id = services.endpoint_create(url=refused_url(), event_types=[], now=t0).endpoint_id
    delivery = delivery_of(checkin_event(t0), now=t0)
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(is_active=False)

    assert services.sweep(now=t0 + dt.timedelta(hours=1)) == services.SweepResult(0, 0)
    assert services.sweep(now=t0 + dt.timedelta(hours=24)) == services.SweepResult(0, 1)
    delivery.refresh_from_db()
    assert delivery.status == "dead"
