"""End to end: state changes through the API, the real worker, a real receiver.
Every event arrives signed, as ``GET /api/v1/events`` shows it, at least once."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from django.utils import timezone

from events.models import Event
from privacy.services import user_erase
from rewards.tests.factories import RewardFactory, ToolFactory, state_grant
from users.tests.factories import UserFactory, client_for
from webhooks.models import Delivery, DeliveryAttempt
from webhooks.tests.conftest import endpoint_for, run_worker

pytestmark = pytest.mark.django_db(transaction=True)


def feed(client) -> list[dict]:
    """Every event of the client's user, as the API shows them."""
    items, url = [], "/api/v1/events?page_size=100"
    while url:
        page = client.get(url)
        assert page.status_code == 200, page.content
        items += page.json()["results"]
        url = page.json()["next"]
    return items


def make_changes(users: int = 3) -> list[tuple]:
    """Check-ins, a purchase and a use for each of ``users`` new users, all
    through the API; a reward with auto-claim, so several event types occur."""
    RewardFactory(id="first", rule="total_checkins", threshold=1, auto_claim=True)
    tool = ToolFactory(id="coffee", price=5)
    made = []
    for _ in range(users):
        user = UserFactory()
        state_grant(user, loyalty=20, now=timezone.now())
        client = client_for(user)
        assert client.post("/api/v1/checkins").status_code == 201
        assert client.post(f"/api/v1/inventory/{tool.id}/buy").status_code == 201
        assert client.post(f"/api/v1/inventory/{tool.id}/use").status_code == 200
        made.append((user, client))
    return made


def test_every_event_is_delivered_signed_as_the_feed_shows_it(receiver):
    endpoint_for(receiver)

    made = make_changes()
    run_worker()

    shown = {item["id"]: item for _, client in made for item in feed(client)}
    assert {e["type"] for e in shown.values()} >= {
        "checkin.created",
        "reward.unlocked",
        "reward.claimed",
        "tool.purchased",
        "tool.used",
    }
    assert receiver.unverified() == []
    assert receiver.overlaps == []
    delivered = {r.webhook_id: r for r in receiver.received}
    assert set(delivered) == set(shown)
    for event_id, item in shown.items():
        assert delivered[event_id].document == item
    # At least once, and here (no failure) exactly once.
    assert Counter(receiver.ids()).most_common(1)[0][1] == 1
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}
    assert DeliveryAttempt.objects.count() == len(shown)


def test_an_endpoint_receives_only_the_types_it_filters(receiver):
    from webhooks.tests.receiver import Receiver

    everything = Receiver().start()
    try:
        endpoint_for(receiver, event_types=["tool.purchased", "checkin.created"])
        endpoint_for(everything)

        made = make_changes(users=2)
        run_worker()
    finally:
        everything.stop()

    events = Event.objects.filter(user__in=[u for u, _ in made])
    assert sorted(receiver.ids()) == sorted(
        str(e.id) for e in events if e.type in ("tool.purchased", "checkin.created")
    )
    assert sorted(everything.ids()) == sorted(str(e.id) for e in events)
    assert receiver.unverified() == []
    assert everything.unverified() == []


def test_failures_are_retried_until_delivered(receiver):
    endpoint_for(receiver, event_types=["checkin.created"])
    receiver.script(["fail", "slow", "close", "fail"])
    user = UserFactory()

    assert client_for(user).post("/api/v1/checkins").status_code == 201
    run_worker()

    (event,) = Event.objects.filter(user=user)
    assert receiver.ids() == [str(event.id)] * 5
    assert [r.action for r in receiver.received] == ["fail", "slow", "close", "fail", "ok"]
    assert receiver.unverified() == []
    delivery = Delivery.objects.get(event=event)
    assert delivery.status == "delivered"
    assert delivery.attempts == 5
    attempts = list(delivery.attempt_log.order_by("attempted_at"))
    assert [(a.status_code, a.error) for a in attempts] == [
        (500, "HTTP 500"),
        (None, "Timed out."),
        (None, "Connection closed without a response."),
        (500, "HTTP 500"),
        (204, ""),
    ]
    # Each retry waited its backoff after the previous attempt.
    gaps = [b.attempted_at - a.attempted_at for a, b in itertools.pairwise(attempts)]
    assert all(gap.total_seconds() >= 0.01 for gap in gaps), gaps
    assert delivery.endpoint.failing_since is None


def test_user_deleted_is_delivered_after_an_erasure(receiver):
    endpoint_for(receiver, event_types=["user.deleted"])
    user = UserFactory()
    user_id = user.pk

    user_erase(user_id=user_id, now=timezone.now(), reason="test: erase on request")
    run_worker()

    (received,) = receiver.received
    document = received.document
    assert document["type"] == "user.deleted"
    assert document["data"] == {"user_id": str(user_id)}
    assert received.webhook_id == document["id"]
    assert receiver.unverified() == []
