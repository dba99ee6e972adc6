"""The fan-out is enqueued in the business transaction: no lost and no
phantom deliveries."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from checkins.services import checkin_create
from events.models import Event
from users.tests.factories import UserFactory, client_for
from webhooks.models import Delivery
from webhooks.tests.conftest import endpoint_for, run_worker

pytestmark = pytest.mark.django_db(transaction=True)


def fan_out_tasks() -> list[list[str]]:
    return [
        t.args_kwargs["kwargs"]["event_ids"]
        for t in DBTaskResult.objects.filter(task_path="webhooks.tasks.fan_out")
    ]


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
    run_worker()
    assert receiver.ids() == [str(event.id)]


def test_nothing_is_enqueued_when_nobody_listens():
    user = UserFactory()

    checkin_create(user_id=user.pk, now=timezone.now())

    assert Event.objects.filter(user=user).exists()
    assert not DBTaskResult.objects.exists()


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
