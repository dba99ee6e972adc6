"""Replay from a time, "retry now", and the catch-up after an endpoint starts."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from webhooks import services
from webhooks.models import Delivery
from webhooks.tests.conftest import endpoint_for, run_worker
from webhooks.tests.helpers import checkin_event, delivery_of

pytestmark = pytest.mark.django_db(transaction=True)

SECOND = dt.timedelta(seconds=1)


def test_replay_from_t_sends_every_event_since_t_again(receiver):
    t0 = timezone.now() - dt.timedelta(minutes=10)
    endpoint_id = endpoint_for(receiver, now=t0)
    before = checkin_event(t0 + SECOND)
    since = [checkin_event(t0 + 3 * SECOND), checkin_event(t0 + 4 * SECOND)]
    run_worker()
    assert sorted(receiver.ids()) == sorted(str(e.id) for e in [before, *since])

    count = services.replay(
        endpoint_id=endpoint_id, since=t0 + 2 * SECOND, now=timezone.now(), only_missing=False
    )
    run_worker()

    assert count == 2
    assert Counter(receiver.ids()) == {str(before.id): 1, str(since[0].id): 2, str(since[1].id): 2}
    assert receiver.unverified() == []
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_replay_only_missing_creates_what_is_missing(receiver):
    t0 = timezone.now() - dt.timedelta(minutes=10)
    endpoint_id = endpoint_for(receiver, now=t0)
    delivered = checkin_event(t0 + SECOND)
    run_worker()
    missing = checkin_event(t0 + 2 * SECOND)
    Delivery.objects.filter(event=missing).delete()  # its fan-out never ran
    DBTaskResult.objects.all().delete()

    count = services.replay(
        endpoint_id=endpoint_id, since=t0, now=timezone.now(), only_missing=True
    )
    run_worker()

    assert count == 1
    assert Counter(receiver.ids()) == {str(delivered.id): 1, str(missing.id): 1}


def test_replay_reaches_back_before_the_endpoint_existed(receiver):
    old = checkin_event(timezone.now() - dt.timedelta(hours=2))
    endpoint_id = endpoint_for(receiver)

    count = services.replay(
        endpoint_id=endpoint_id,
        since=old.created_at - SECOND,
        now=timezone.now(),
        only_missing=True,
    )
    run_worker()

    assert count == 1
    assert receiver.ids() == [str(old.id)]


def test_replay_keeps_a_lease_in_force(receiver):
    """A replay of a delivery whose attempt is in flight: that attempt still
    records its outcome, and the replayed one does not send beside it."""
    endpoint_id = endpoint_for(receiver)
    now = timezone.now()
    delivery = delivery_of(checkin_event(now), now=now)
    token = services._lease(delivery.pk, now=now)

    services.replay(endpoint_id=endpoint_id, since=now - SECOND, now=now, only_missing=False)

    assert services.attempt(delivery_id=delivery.pk, now=now + SECOND).status == "skipped"
    delivery.refresh_from_db()
    assert delivery.lease_token == token


def test_retry_now_gives_a_dead_delivery_a_new_window(receiver):
    t0 = timezone.now() - dt.timedelta(days=2)
    endpoint_for(receiver, now=t0)
    delivery = delivery_of(checkin_event(t0), now=t0)
    Delivery.objects.filter(pk=delivery.pk).update(status="dead", attempts=30)
    DBTaskResult.objects.all().delete()
    now = timezone.now()

    assert services.retry_now(delivery_ids=[delivery.pk], now=now) == 1
    run_worker()

    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert delivery.give_up_at == now + dt.timedelta(hours=24)
    assert delivery.attempts == 31
    assert receiver.ids() == [str(delivery.event_id)]


def test_retry_now_leaves_delivered_and_in_flight_ones_alone(receiver):
    endpoint_for(receiver)
    now = timezone.now()
    delivered = delivery_of(checkin_event(now), now=now)
    in_flight = delivery_of(checkin_event(now), now=now)
    assert services.attempt(delivery_id=delivered.pk, now=now).status == "delivered"
    assert services._lease(in_flight.pk, now=now) is not None

    assert services.retry_now(delivery_ids=[delivered.pk, in_flight.pk], now=now) == 0


def test_the_catch_up_covers_changes_made_with_a_stale_snapshot(receiver):
    """Another process still believes nobody listens (its snapshot predates
    the endpoint): its change enqueues no fan-out. The catch-up replay that
    the endpoint's creation enqueued delivers the event anyway."""
    from webhooks import subscriptions

    assert subscriptions.subscribed_types() == frozenset()  # the stale snapshot
    endpoint_for(receiver)
    subscriptions._snapshot = (subscriptions.time.monotonic(), frozenset())
    event = checkin_event()
    assert not DBTaskResult.objects.filter(task_path="webhooks.tasks.fan_out").exists()

    run_worker()
    assert receiver.ids() == []
    catch_up = DBTaskResult.objects.get(task_path="webhooks.tasks.replay")
    assert catch_up.run_after > timezone.now() + dt.timedelta(seconds=30)
    assert catch_up.args_kwargs["kwargs"]["only_missing"] is True
    DBTaskResult.objects.filter(pk=catch_up.pk).update(run_after=timezone.now())
    run_worker()

    assert receiver.ids() == [str(event.id)]
    assert receiver.unverified() == []


def test_widening_a_filter_catches_up_from_then_on(receiver):
    endpoint_id = endpoint_for(receiver, event_types=["tool.used"])
    old = checkin_event()
    # The creation's catch-up has run (it finds nothing of the filtered types).
    DBTaskResult.objects.filter(task_path="webhooks.tasks.replay").update(run_after=timezone.now())
    run_worker()
    now = timezone.now()

    services.endpoint_update(
        endpoint_id=endpoint_id,
        url=receiver.url,
        event_types=["tool.used", "checkin.created"],
        description="",
        is_active=True,
        now=now,
    )
    new = checkin_event()
    DBTaskResult.objects.filter(task_path="webhooks.tasks.replay").update(run_after=now)
    run_worker()

    assert receiver.ids() == [str(new.id)]
    assert old.id not in {d.event_id for d in Delivery.objects.all()}
