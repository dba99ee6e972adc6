"""Relays running beside check-ins and beside each other on PostgreSQL: every
staged event gets its delivery and its first attempt exactly once, and the
outbox ends empty."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from base.testing import run_concurrently
from checkins.services import checkin_create
from events.models import Event
from users.tests.factories import UserFactory
from webhooks import services, subscriptions
from webhooks.models import Delivery, PendingFanOut
from webhooks.tests.conftest import endpoint_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.concurrency,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="SKIP LOCKED claims are PostgreSQL's"
    ),
]

CHECKIN_THREADS = 4
RELAY_THREADS = 3
USERS_PER_THREAD = 15


def test_relays_beside_checkins_and_each_other_deliver_every_event_once(receiver):
    endpoint_for(receiver, event_types=["checkin.created"])
    users = UserFactory.create_batch(CHECKIN_THREADS * USERS_PER_THREAD)
    checkins_done = threading.Event()
    finished_checkins = []

    def act(index: int) -> int:
        if index < CHECKIN_THREADS:
            mine = users[index * USERS_PER_THREAD : (index + 1) * USERS_PER_THREAD]
            for user in mine:
                checkin_create(user_id=user.pk, now=timezone.now())
            finished_checkins.append(index)
            if len(finished_checkins) == CHECKIN_THREADS:
                checkins_done.set()
            return 0
        created = 0
        # Relay while the check-ins go on, then once more after the last one.
        while not checkins_done.is_set():
            created += services.relay(now=timezone.now())
        return created + services.relay(now=timezone.now())

    subscriptions.relay_soon.forget()
    results = run_concurrently(CHECKIN_THREADS + RELAY_THREADS, act)

    assert not [r for r in results if isinstance(r, BaseException)], results
    events = set(Event.objects.filter(type="checkin.created").values_list("id", flat=True))
    assert len(events) == len(users)
    assert sum(results[CHECKIN_THREADS:]) == len(events)
    assert set(Delivery.objects.values_list("event_id", flat=True)) == events
    first_attempts = Counter(
        task.args_kwargs["kwargs"]["delivery_id"]
        for task in DBTaskResult.objects.filter(task_path="webhooks.tasks.deliver")
    )
    assert set(first_attempts.values()) == {1}
    assert len(first_attempts) == len(events)
    assert not PendingFanOut.objects.exists()
