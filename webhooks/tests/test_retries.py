"""Backoff with jitter, the retry window, and endpoints that keep failing."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from webhooks import services
from webhooks.models import Delivery, WebhookEndpoint
from webhooks.tests.conftest import endpoint_for
from webhooks.tests.helpers import checkin_event, delivery_of, refused_url

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)

examples = hypothesis_settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def bounds(attempts: int, base: float, ceiling: float) -> tuple[float, float]:
    delay = min(ceiling, base * 2 ** max(attempts - 1, 0))
    return delay / 2, delay


@examples
@given(
    attempts=st.integers(min_value=0, max_value=100_000),
    base=st.floats(min_value=0.001, max_value=60),
    ceiling=st.floats(min_value=1, max_value=24 * 3600),
    seed=st.integers(),
)
def test_backoff_doubles_up_to_the_ceiling_with_half_of_it_random(
    settings, attempts, base, ceiling, seed
):
    settings.WEBHOOK_BACKOFF_SECONDS = base
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = ceiling

    wait = services.backoff(attempts, rng=random.Random(seed)).total_seconds()

    low, high = bounds(min(attempts, 64), base, ceiling)
    assert low - 1e-6 <= wait <= high + 1e-6


@examples
@given(attempts=st.integers(min_value=1, max_value=60), seed=st.integers())
def test_backoff_never_shrinks_from_one_attempt_to_the_next(settings, attempts, seed):
    settings.WEBHOOK_BACKOFF_SECONDS = 10.0
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 7200.0

    # The least the next wait can be is at least the most this one could be
    # halved: each step doubles until the ceiling.
    low_next, _ = bounds(attempts + 1, 10.0, 7200.0)
    low, high = bounds(attempts, 10.0, 7200.0)
    assert low_next >= low
    this = services.backoff(attempts, rng=random.Random(seed))
    assert dt.timedelta(seconds=low) <= this <= dt.timedelta(seconds=high)


def test_backoff_is_jittered(settings):
    settings.WEBHOOK_BACKOFF_SECONDS = 10.0
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 7200.0

    waits = {services.backoff(3).total_seconds() for _ in range(50)}

    assert len(waits) > 40
    assert min(waits) >= 20
    assert max(waits) <= 40
    assert services.backoff(30) <= dt.timedelta(hours=2)
    assert services.backoff(30) >= dt.timedelta(hours=1)


def failing_endpoint(now: dt.datetime) -> int:
    return services.endpoint_create(
        url=refused_url(), event_types=["checkin.created"], now=now
    ).endpoint_id


def attempts_in_a_day(share: float) -> int:
    """Attempts started within 24 h if every wait is ``share`` of its step
    (a minute doubling up to two hours)."""
    at, attempts = 0.0, 0
    while at < 24 * 3600:
        attempts += 1
        at += share * min(2 * 3600.0, 60.0 * 2 ** (attempts - 1))
    return attempts


def test_a_delivery_is_retried_for_24_hours_then_dead(settings):
    settings.WEBHOOK_BACKOFF_SECONDS = 60.0
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 2 * 3600.0
    t0 = timezone.now()
    failing_endpoint(t0)
    delivery = delivery_of(checkin_event(t0), now=t0)
    assert delivery.give_up_at == t0 + 24 * HOUR

    outcomes, at = [], t0
    while True:
        outcome = services.attempt(delivery_id=delivery.pk, now=at)
        outcomes.append(outcome.status)
        delivery.refresh_from_db()
        if outcome.status != "pending":
            break
        assert outcome.error == "Connection refused or unreachable."
        assert delivery.next_attempt_at > at
        # Not due before its backoff has passed.
        early = services.attempt(
            delivery_id=delivery.pk, now=delivery.next_attempt_at - HOUR / 3600
        )
        assert early.status == "skipped"
        at = delivery.next_attempt_at

    assert outcomes[-1] == "dead"
    assert delivery.status == "dead"
    assert delivery.attempts == len(outcomes) == delivery.attempt_log.count()
    # The waits doubled from a minute to the two-hour ceiling, each between
    # half and all of its step ("equal jitter"): as many attempts in a day as
    # all-full waits allow at least, as all-half waits allow at most.
    assert attempts_in_a_day(1.0) - 1 <= len(outcomes) <= attempts_in_a_day(0.5) + 1, outcomes
    assert delivery.last_attempt_at is not None
    assert delivery.last_attempt_at < t0 + 24 * HOUR
    assert services.attempt(delivery_id=delivery.pk, now=t0 + 25 * HOUR).status == "skipped"


def test_an_endpoint_failing_for_five_days_is_disabled_with_a_reason(settings):
    t0 = timezone.now()
    endpoint_id = failing_endpoint(t0)

    first = delivery_of(checkin_event(t0), now=t0)
    services.attempt(delivery_id=first.pk, now=t0)
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    assert endpoint.failing_since is not None
    assert t0 <= endpoint.failing_since < t0 + dt.timedelta(seconds=5)
    since = endpoint.failing_since

    later = t0 + 5 * DAY - dt.timedelta(minutes=1)
    second = delivery_of(checkin_event(later), now=later)
    assert services.attempt(delivery_id=second.pk, now=later).status == "pending"
    endpoint.refresh_from_db()
    assert endpoint.is_active
    assert endpoint.failing_since == since

    at = t0 + 5 * DAY + dt.timedelta(seconds=5)
    assert services.attempt(delivery_id=second.pk, now=at).status == "pending"
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert endpoint.disabled_reason.startswith("Disabled automatically at ")
    assert f"failed since {since:%Y-%m-%d %H:%M} UTC" in endpoint.disabled_reason
    assert endpoint.disabled_reason.endswith("Last error: Connection refused or unreachable.")
    # No more attempts to a disabled endpoint; the sweep gives up once the window ends.
    assert services.attempt(delivery_id=second.pk, now=at + HOUR).status == "skipped"
    assert services.sweep(now=at + HOUR) == services.SweepResult(requeued=0, given_up=1)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("dead", "pending")
    assert services.sweep(now=later + 25 * HOUR) == services.SweepResult(requeued=0, given_up=1)
    second.refresh_from_db()
    assert second.status == "dead"
    assert second.last_error == "Endpoint disabled; the retry window ended."


def test_a_success_clears_failing_since(receiver):
    endpoint_id = endpoint_for(receiver)
    receiver.script(["fail"])
    now = timezone.now()
    delivery = delivery_of(checkin_event(now), now=now)

    assert services.attempt(delivery_id=delivery.pk, now=now).status == "pending"
    assert WebhookEndpoint.objects.get(pk=endpoint_id).failing_since is not None
    delivery.refresh_from_db()
    outcome = services.attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at)

    assert outcome.status == "delivered"
    assert WebhookEndpoint.objects.get(pk=endpoint_id).failing_since is None
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED
    assert delivery.last_status_code == 204
    assert receiver.unverified() == []
