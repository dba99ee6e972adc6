"""Reads of the webhooks app for the staff pages: each one statement, bounded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db.models import Count

from events.ids import first_id_at
from events.models import Event
from webhooks.models import Delivery, WebhookEndpoint

# Counts that could walk a big table stop here ("10000+").
COUNT_CAP = 10_000


def pending_counts(*, endpoint_ids: Sequence[int]) -> dict[int, int]:
    """Pending deliveries per endpoint: one grouped query over the pending rows
    only (the partial index of the sweep), never over delivered history."""
    rows = (
        Delivery.objects.filter(status=Delivery.Status.PENDING, endpoint_id__in=endpoint_ids)
        .values("endpoint_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["endpoint_id"]: row["n"] for row in rows}


def replay_event_count(
    *, endpoint: WebhookEndpoint, since: dt.datetime, cap: int = COUNT_CAP
) -> int:
    """How many events a replay from ``since`` covers for ``endpoint`` (its
    type filter applied), counted up to ``cap + 1``."""
    events = Event.objects.filter(id__gte=first_id_at(since), created_at__gte=since)
    if endpoint.event_types:
        events = events.filter(type__in=endpoint.event_types)
    return events.values("pk")[: cap + 1].count()
