"""Webhook endpoints and deliveries: every write of the webhooks app.

Flow: a change's events are written in its transaction, with one outbox row
(:class:`PendingFanOut`) when some active endpoint receives them
(:mod:`webhooks.subscriptions`). The relay turns outbox rows into one
:class:`Delivery` per (endpoint, event) and enqueues one ``deliver`` task
each. An attempt first *leases* its delivery (one atomic
UPDATE: so two workers never run the same delivery at once), sends outside
any transaction, then records the outcome and, on failure, enqueues the next
attempt after an exponential backoff with jitter, until ``give_up_at`` (24 h):
then the delivery is dead. The periodic sweep retries deliveries whose
attempt was lost (a worker killed mid-attempt: its lease expires).
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet

from events.ids import first_id_at
from events.models import Event, EventType
from webhooks import net, signing, subscriptions
from webhooks.models import Delivery, DeliveryAttempt, PendingFanOut, WebhookEndpoint

# Rotated secrets keep signing (beside the new one) this long.
PREVIOUS_SECRET_GRACE = dt.timedelta(hours=24)
FAN_OUT_BATCH = 1000
# Outbox rows per relay transaction, and how long one relay task runs.
RELAY_BATCH = 200
RELAY_BUDGET = dt.timedelta(seconds=30)

_Status = Delivery.Status


def retry_window() -> dt.timedelta:
    return dt.timedelta(hours=settings.WEBHOOK_RETRY_HOURS)


def stall_after() -> dt.timedelta:
    """A delivery due this long ago with no attempt in flight is re-enqueued
    by the sweep; an attempt's lease also lasts this long past its timeout
    (room to record the outcome), so a killed worker's delivery is retried
    within about twice this time plus the timeout."""
    return dt.timedelta(seconds=settings.WEBHOOK_STALL_SECONDS)


def lease_length() -> dt.timedelta:
    return dt.timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS) + stall_after()


def backoff(attempts: int, *, rng: random.Random | None = None) -> dt.timedelta:
    """The wait before the next attempt after ``attempts`` failed ones:
    doubling from ``WEBHOOK_BACKOFF_SECONDS`` up to ``WEBHOOK_BACKOFF_MAX_SECONDS``,
    with "equal jitter" (half fixed, half random), so endpoints that failed
    together do not all come back at once."""
    base = settings.WEBHOOK_BACKOFF_SECONDS
    ceiling = settings.WEBHOOK_BACKOFF_MAX_SECONDS
    # The exponent is capped: 2**1024 would not fit a float (attempts keep
    # counting across "retry now" and replays), and 2**63 already passes any ceiling.
    delay = min(ceiling, base * 2 ** min(max(attempts - 1, 0), 63))
    rng = rng or random.SystemRandom()
    return dt.timedelta(seconds=delay / 2 + rng.uniform(0, delay / 2))


# --- Endpoints (staff, in the admin) ------------------------------------------------
def validate_event_types(event_types: Iterable[str]) -> list[str]:
    types = list(dict.fromkeys(event_types))
    unknown = [t for t in types if t not in EventType.values]
    if unknown:
        raise ValueError(f"Unknown event types: {', '.join(unknown)}.")
    return types


@dataclass(frozen=True)
class NewSecret:
    endpoint_id: int
    secret: str  # shown once


def endpoint_create(
    *, url: str, event_types: Sequence[str], description: str = "", now: dt.datetime
) -> NewSecret:
    net.check_url(url)
    types = validate_event_types(event_types)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            url=url,
            event_types=types,
            description=description,
            secret=signing.new_secret(),
            subscribed_from=now,
            created_at=now,
            updated_at=now,
        )
        transaction.on_commit(subscriptions.forget_snapshot)
        _enqueue_catch_up(endpoint, since=now, now=now)
    return NewSecret(endpoint.pk, endpoint.secret)


def endpoint_update(
    *,
    endpoint_id: int,
    url: str,
    event_types: Sequence[str],
    description: str,
    is_active: bool,
    now: dt.datetime,
) -> None:
    """Staff edit an endpoint. Re-activating it starts its subscription anew
    (events of the disabled time are not sent: "replay from time T" does that)
    and clears the reason it was disabled."""
    net.check_url(url)
    types = validate_event_types(event_types)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        reactivated = is_active and not endpoint.is_active
        widened = bool(endpoint.event_types) and (
            not types or not set(types) <= set(endpoint.event_types)
        )
        endpoint.url, endpoint.event_types, endpoint.description = url, types, description
        endpoint.is_active = is_active
        endpoint.updated_at = now
        if reactivated:
            endpoint.subscribed_from = now
            endpoint.disabled_reason = ""
            endpoint.failing_since = None
        endpoint.save()
        transaction.on_commit(subscriptions.forget_snapshot)
        if is_active and (reactivated or widened):
            # From now on: a widened filter does not reach back to old events.
            _enqueue_catch_up(endpoint, since=now, now=now)


def endpoint_rotate_secret(*, endpoint_id: int, now: dt.datetime) -> NewSecret:
    """A new secret; the old one keeps signing beside it for 24 hours."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = now + PREVIOUS_SECRET_GRACE
        endpoint.secret = signing.new_secret()
        endpoint.updated_at = now
        endpoint.save()
    return NewSecret(endpoint.pk, endpoint.secret)


def _enqueue_catch_up(endpoint: WebhookEndpoint, *, since: dt.datetime, now: dt.datetime) -> None:
    """Other processes may decide with a snapshot taken before this change:
    once every snapshot has turned over, create the deliveries they missed."""
    from webhooks.tasks import replay

    run_after = now + dt.timedelta(seconds=subscriptions.SNAPSHOT_SECONDS + 30)
    replay.using(run_after=run_after).enqueue(
        endpoint_id=endpoint.pk, since=since.isoformat(), only_missing=True
    )


# --- Fan-out, replay and retry -------------------------------------------------------
def _new_delivery(endpoint: WebhookEndpoint, event: Event, now: dt.datetime) -> Delivery:
    return Delivery(
        endpoint=endpoint,
        event=event,
        event_type=event.type,
        created_at=now,
        next_attempt_at=now,
        give_up_at=now + retry_window(),
    )


def _enqueue_attempts(delivery_ids: Iterable[int]) -> int:
    from webhooks.tasks import deliver

    count = 0
    for delivery_id in delivery_ids:
        deliver.enqueue(delivery_id=delivery_id)
        count += 1
    return count


def fan_out(*, event_ids: Sequence[str], now: dt.datetime) -> int:
    """One delivery per (active endpoint that receives it, event), each with
    its first attempt enqueued. Idempotent: an existing delivery is kept as
    it is. Returns how many deliveries it created."""
    endpoints = list(WebhookEndpoint.objects.filter(is_active=True))
    with transaction.atomic():
        return _fan_out_events(endpoints, event_ids, now=now)


def _fan_out_events(
    endpoints: Sequence[WebhookEndpoint], event_ids: Sequence[str], *, now: dt.datetime
) -> int:
    """The deliveries of the events ``event_ids`` to the subscribed
    ``endpoints``, in the caller's transaction."""
    if not endpoints:
        return 0
    events = list(Event.objects.filter(id__in=event_ids).only("id", "type", "created_at"))
    return _create_deliveries(endpoints, events, now=now, subscribed_only=True)


def relay(*, now: dt.datetime, budget: dt.timedelta = RELAY_BUDGET) -> int:
    """Turn the outbox into deliveries: claim a batch of :class:`PendingFanOut`
    rows (SKIP LOCKED, so relays running at once share the work), create
    their deliveries with first attempts enqueued, delete the rows; one
    transaction per batch, until the outbox is empty or ``budget`` is spent
    (then another relay is enqueued). Returns how many deliveries it created."""
    from webhooks.tasks import relay as relay_task

    endpoints = list(WebhookEndpoint.objects.filter(is_active=True))
    deadline = time.monotonic() + budget.total_seconds()
    created = 0
    while True:
        with transaction.atomic():
            staged = list(
                PendingFanOut.objects.select_for_update(skip_locked=True)
                .order_by("id")
                .values_list("id", "event_ids")[:RELAY_BATCH]
            )
            if not staged:
                return created
            event_ids = [event_id for _, ids in staged for event_id in ids]
            created += _fan_out_events(endpoints, event_ids, now=now)
            PendingFanOut.objects.filter(id__in=[row_id for row_id, _ in staged]).delete()
        if time.monotonic() > deadline:
            relay_task.enqueue()
            return created


def _create_deliveries(
    endpoints: Sequence[WebhookEndpoint],
    events: Sequence[Event],
    *,
    now: dt.datetime,
    subscribed_only: bool,
) -> int:
    """The missing deliveries of ``events`` to ``endpoints``, with their first
    attempts enqueued; ``subscribed_only``: only of events created since the
    endpoint's subscription began (a replay chooses its own start)."""
    wanted = [
        _new_delivery(endpoint, event, now)
        for event in events
        for endpoint in endpoints
        if endpoint.receives(event.type)
        and (not subscribed_only or event.created_at >= endpoint.subscribed_from)
    ]
    if not wanted:
        return 0
    # An existing (endpoint, event) delivery is kept as it is: the unique
    # constraint drops the duplicate row.
    Delivery.objects.bulk_create(wanted, ignore_conflicts=True)
    created = Delivery.objects.filter(
        endpoint__in=endpoints,
        event__in=[e.id for e in events],
        status=_Status.PENDING,
        attempts=0,
        created_at=now,
    ).values_list("id", flat=True)
    return _enqueue_attempts(created)


def replay(*, endpoint_id: int, since: dt.datetime, now: dt.datetime, only_missing: bool) -> int:
    """Send again every event since ``since`` that the endpoint receives:
    missing deliveries are created; unless ``only_missing``, delivered and dead
    ones are re-opened too (receivers deduplicate by ``webhook-id``). Returns
    how many attempts it enqueued."""
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    if not endpoint.is_active:
        return 0
    # Event ids grow with time (events.ids): the events since ``since`` are a
    # range of the primary key, walked in its order, page by page.
    events = Event.objects.filter(id__gte=first_id_at(since), created_at__gte=since).only(
        "id", "type", "created_at"
    )
    if endpoint.event_types:
        events = events.filter(type__in=endpoint.event_types)
    total = 0
    last: uuid.UUID | None = None
    while True:
        page = events.order_by("id")
        if last is not None:
            page = page.filter(id__gt=last)
        batch = list(page[:FAN_OUT_BATCH])
        if not batch:
            return total
        last = batch[-1].id
        with transaction.atomic():
            total += _create_deliveries([endpoint], batch, now=now, subscribed_only=False)
            if not only_missing:
                reopened = Delivery.objects.filter(
                    endpoint=endpoint, event__in=[e.id for e in batch]
                ).exclude(created_at=now, attempts=0)
                total += _reopen(reopened, now=now)


def _reopen(deliveries: QuerySet[Delivery], *, now: dt.datetime) -> int:
    # A lease in force is kept: its attempt is still sending, and records its
    # outcome; the new attempt waits for it (then finds it delivered, or due).
    ids = list(deliveries.values_list("id", flat=True))
    Delivery.objects.filter(id__in=ids).update(
        status=_Status.PENDING,
        next_attempt_at=now,
        give_up_at=now + retry_window(),
    )
    return _enqueue_attempts(ids)


def retry_now(*, delivery_ids: Sequence[int], now: dt.datetime) -> int:
    """Staff's "retry now": pending and dead deliveries get an attempt at
    once (a dead one gets a new 24-hour window). Returns how many."""
    with transaction.atomic():
        due = Delivery.objects.filter(
            id__in=delivery_ids, status__in=[_Status.PENDING, _Status.DEAD]
        ).filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        return _reopen(due, now=now)


# --- One attempt ---------------------------------------------------------------------
@dataclass(frozen=True)
class AttemptOutcome:
    # "delivered", "pending" (retried later), "dead", "skipped" (not due, or
    # leased elsewhere) or "lost" (sent, but the lease had passed to another attempt)
    status: str
    status_code: int | None = None
    error: str = ""


def _lease(delivery_id: int, *, now: dt.datetime) -> uuid.UUID | None:
    """Take the delivery for one attempt: one atomic UPDATE, so of two workers
    that got the same task (or a sweep's duplicate) only one sends."""
    token = uuid.uuid4()
    # Every condition on the delivery's own row, none through a join: Django
    # turns a filter across a relation into ``id IN (SELECT ... FROM
    # webhooks_delivery JOIN ...)``, and PostgreSQL re-checks only the
    # target row's own conditions after waiting for a concurrent lease, so a
    # condition inside that subquery would still see the row before the
    # other lease, and both would take it.
    taken = (
        Delivery.objects.filter(
            pk=delivery_id,
            status=_Status.PENDING,
            next_attempt_at__lte=now,
            endpoint_id__in=WebhookEndpoint.objects.filter(is_active=True).values("id"),
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + lease_length(), lease_token=token)
    )
    return token if taken else None


def attempt(*, delivery_id: int, now: dt.datetime) -> AttemptOutcome:
    """Send one delivery once, if it is due and nobody else is sending it."""
    token = _lease(delivery_id, now=now)
    if token is None:
        return AttemptOutcome("skipped")
    delivery = Delivery.objects.select_related("endpoint", "event").filter(pk=delivery_id).first()
    if delivery is None:  # erased with its event (the account was deleted)
        return AttemptOutcome("skipped")
    endpoint = delivery.endpoint
    secrets_ = [endpoint.secret]
    if endpoint.previous_secret and (endpoint.previous_secret_expires_at or now) > now:
        secrets_.append(endpoint.previous_secret)
    payload = signing.body(delivery.event)
    try:
        target = net.resolve(endpoint.url)
    except net.UnsafeTarget as refused:
        response = net.Response(None, f"Refused: {refused}"[:300], "", 0)
    else:
        headers = signing.headers(
            msg_id=str(delivery.event_id), at=now, payload=payload, secrets_=secrets_
        )
        response = net.post(
            target, body=payload, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS
        )
    finished = now + dt.timedelta(milliseconds=response.duration_ms)
    return _record(delivery, token=token, response=response, at=now, finished=finished)


def _record(
    delivery: Delivery,
    *,
    token: uuid.UUID,
    response: net.Response,
    at: dt.datetime,
    finished: dt.datetime,
) -> AttemptOutcome:
    delivered = response.status_code is not None and 200 <= response.status_code < 300
    attempts = delivery.attempts + 1
    if delivered:
        status, next_at = _Status.DELIVERED, delivery.next_attempt_at
    else:
        next_at = finished + backoff(attempts)
        status = _Status.DEAD if next_at >= delivery.give_up_at else _Status.PENDING
    with transaction.atomic():
        # Only while the lease is ours: a lease that expired and was taken by
        # another attempt (or a delivery erased meanwhile) is that one's to record.
        held = Delivery.objects.filter(pk=delivery.pk, lease_token=token).update(
            status=status,
            attempts=F("attempts") + 1,
            next_attempt_at=next_at,
            lease_until=None,
            lease_token=None,
            last_attempt_at=at,
            last_status_code=response.status_code,
            last_error=response.error,
            last_response_excerpt=response.excerpt,
            delivered_at=finished if delivered else None,
        )
        if not held:
            return AttemptOutcome("lost", response.status_code, response.error)
        DeliveryAttempt.objects.create(
            delivery=delivery,
            attempted_at=at,
            duration_ms=response.duration_ms,
            status_code=response.status_code,
            error=response.error,
            response_excerpt=response.excerpt,
        )
        if status == _Status.PENDING:
            from webhooks.tasks import deliver

            deliver.using(run_after=next_at).enqueue(delivery_id=delivery.pk)
        _endpoint_health(
            delivery.endpoint_id, delivered=delivered, now=finished, error=response.error
        )
    return AttemptOutcome(status.value, response.status_code, response.error)


def _endpoint_health(endpoint_id: int, *, delivered: bool, now: dt.datetime, error: str) -> None:
    endpoints = WebhookEndpoint.objects.filter(pk=endpoint_id)
    if delivered:
        endpoints.filter(failing_since__isnull=False).update(failing_since=None)
        return
    endpoints.filter(failing_since__isnull=True).update(failing_since=now)
    limit = dt.timedelta(days=settings.WEBHOOK_DISABLE_AFTER_DAYS)
    failing_since = endpoints.values_list("failing_since", flat=True).first()
    if failing_since is not None and now - failing_since >= limit:
        disabled = endpoints.filter(is_active=True).update(
            is_active=False,
            updated_at=now,
            disabled_reason=(
                f"Disabled automatically at {now:%Y-%m-%d %H:%M} UTC: every delivery has "
                f"failed since {failing_since:%Y-%m-%d %H:%M} UTC. Last error: {error}"
            )[:500],
        )
        if disabled:
            transaction.on_commit(subscriptions.forget_snapshot)


# --- The periodic sweep --------------------------------------------------------------
@dataclass(frozen=True)
class SweepResult:
    requeued: int
    given_up: int


def sweep(*, now: dt.datetime, limit: int = 1000) -> SweepResult:
    """Re-enqueue deliveries whose attempt was lost (due for a while, no lease
    in force: a worker killed mid-attempt, a task row pruned), and give up on
    those of disabled endpoints once their window has passed."""
    stalled = Delivery.objects.filter(
        status=_Status.PENDING,
        next_attempt_at__lte=now - stall_after(),
        endpoint__is_active=True,
    ).filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
    with transaction.atomic():
        ids = list(stalled.order_by("next_attempt_at").values_list("id", flat=True)[:limit])
        # Due "now" again, so the next sweep waits for this attempt.
        Delivery.objects.filter(id__in=ids).update(next_attempt_at=now)
        requeued = _enqueue_attempts(ids)
        given_up = Delivery.objects.filter(
            status=_Status.PENDING, give_up_at__lte=now, endpoint__is_active=False
        ).update(status=_Status.DEAD, last_error="Endpoint disabled; the retry window ended.")
    return SweepResult(requeued, given_up)
