"""The fan-out is staged in the business transaction (an outbox row, written
with the events) and relayed after it: no lost and no phantom deliveries, and
a busy process enqueues one relay for many changes."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from checkins.services import checkin_create
from events.models import Event
from users.tests.factories import UserFactory, client_for
from webhooks import subscriptions
from webhooks.models import Delivery, PendingFanOut, WebhookEndpoint
from webhooks.tests.conftest import endpoint_for, run_worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_relay_pending():
    subscriptions.relay_soon.forget()
    yield
    subscriptions.relay_soon.forget()


def fan_out_tasks() -> list[list[str]]:
    """The outbox: the event ids of each staged fan-out."""
    return list(PendingFanOut.objects.order_by("id").values_list("event_ids", flat=True))


def relay_tasks() -> int:
    return DBTaskResult.objects.filter(task_path="webhooks.tasks.relay").count()


class Abort(Exception):
    pass


def test_a_rolled_back_change_enqueues_nothing(receiver):
    endpoint_for(receiver)
    user = UserFactory()

    inside = []

    def change_then_fail() -> None:
        with transaction.atomic():
            checkin_create(user_id=user.pk, now=timezone.now())
            inside.extend(fan_out_tasks())  # written with the events
            raise Abort

    with pytest.raises(Abort):
        change_then_fail()

    assert len(inside) == 1

    assert fan_out_tasks() == []
    assert not Event.objects.filter(user=user).exists()
    run_worker()
    assert not Delivery.objects.exists()
    assert receiver.received == []


def test_a_refused_request_enqueues_nothing(receiver):
    endpoint_for(receiver)
    client = client_for(UserFactory())
    assert client.post("/api/v1/checkins").status_code == 201
    assert len(fan_out_tasks()) == 1

    assert client.post("/api/v1/checkins").status_code == 409

    assert len(fan_out_tasks()) == 1
    run_worker()
    assert len(receiver.received) == 1


def test_a_committed_change_enqueues_one_fan_out_with_its_events(receiver):
    endpoint_for(receiver, event_types=["checkin.created"])
    user = UserFactory()

    checkin_create(user_id=user.pk, now=timezone.now())

    (event,) = Event.objects.filter(user=user)
    assert fan_out_tasks() == [[str(event.id)]]
    assert relay_tasks() == 1
    run_worker()
    assert receiver.ids() == [str(event.id)]
    assert fan_out_tasks() == []


def test_a_busy_process_enqueues_one_relay_for_many_changes(receiver):
    endpoint_for(receiver, event_types=["checkin.created"])
    users = UserFactory.create_batch(10)
    # One instant: a worker never starts the pending relay before its
    # run_after, which is later than every commit here.
    now = timezone.now()

    for user in users:
        checkin_create(user_id=user.pk, now=now)

    assert len(fan_out_tasks()) == 10
    assert relay_tasks() == 1
    run_worker()
    assert len(receiver.ids()) == 10
    assert fan_out_tasks() == []


def test_a_commit_after_the_pending_relay_is_due_enqueues_another(receiver):
    endpoint_for(receiver, event_types=["checkin.created"])
    first, second = UserFactory.create_batch(2)
    checkin_create(user_id=first.pk, now=timezone.now())
    run_worker()  # waits for the relay's run_after, then runs it

    checkin_create(user_id=second.pk, now=timezone.now())

    assert relay_tasks() == 2
    run_worker()
    assert len(receiver.ids()) == 2


def test_the_sweep_relays_what_no_relay_took(receiver):
    from webhooks.tasks import sweep

    endpoint_for(receiver, event_types=["checkin.created"])
    user = UserFactory()
    checkin_create(user_id=user.pk, now=timezone.now())
    # The relay's enqueue after the commit was lost (the queue's database
    # was unreachable for that moment, say).
    DBTaskResult.objects.filter(task_path="webhooks.tasks.relay").delete()

    sweep.enqueue(slot=timezone.now().isoformat())
    run_worker()

    assert len(receiver.ids()) == 1
    assert fan_out_tasks() == []


def test_a_relay_with_no_active_endpoint_empties_the_outbox(receiver):
    from webhooks import services

    endpoint_id = endpoint_for(receiver, event_types=["checkin.created"])
    checkin_create(user_id=UserFactory().pk, now=timezone.now())
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(is_active=False)

    assert services.relay(now=timezone.now()) == 0

    assert fan_out_tasks() == []
    assert not Delivery.objects.exists()


def test_nothing_is_enqueued_when_nobody_listens():
    user = UserFactory()

    checkin_create(user_id=user.pk, now=timezone.now())

    assert Event.objects.filter(user=user).exists()
    assert not DBTaskResult.objects.exists()
    assert fan_out_tasks() == []


def test_only_the_types_someone_receives_are_fanned_out(receiver):
    endpoint_for(receiver, event_types=["tool.used"])
    user = UserFactory()

    checkin_create(user_id=user.pk, now=timezone.now())

    assert fan_out_tasks() == []


def test_a_fan_out_run_twice_creates_each_delivery_once(receiver):
    from webhooks import services

    endpoint_for(receiver)
    user = UserFactory()
    checkin_create(user_id=user.pk, now=timezone.now())
    ids = [str(e.id) for e in Event.objects.filter(user=user)]

    assert services.fan_out(event_ids=ids, now=timezone.now()) == len(ids)
    assert services.fan_out(event_ids=ids, now=timezone.now()) == 0
    run_worker()

    assert Delivery.objects.count() == len(ids)
    assert sorted(receiver.ids()) == sorted(ids)
