"""The webhooks' background work, on Django's Tasks API (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django_tasks import task

from webhooks import services


@task()
def relay() -> int:
    return services.relay(now=timezone.now())


@task()
def fan_out(event_ids: list[str]) -> int:
    # The outbox and relay replaced this per-change task; kept so that tasks
    # enqueued before still run.
    return services.fan_out(event_ids=event_ids, now=timezone.now())


@task()
def deliver(delivery_id: int) -> str:
    return services.attempt(delivery_id=delivery_id, now=timezone.now()).status


@task()
def replay(endpoint_id: int, since: str, only_missing: bool) -> int:
    return services.replay(
        endpoint_id=endpoint_id,
        since=dt.datetime.fromisoformat(since),
        now=timezone.now(),
        only_missing=only_missing,
    )


@task()
def sweep(slot: str) -> dict[str, int]:
    now = timezone.now()
    result = services.sweep(now=now)
    # What no relay took (an enqueue that failed after its commit): at most a
    # sweep period late.
    relayed = services.relay(now=now)
    return {"requeued": result.requeued, "given_up": result.given_up, "relayed": relayed}
