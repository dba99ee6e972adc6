"""Webhook rows for tests: endpoints made by the service (so they have a
secret and their catch-up task), events and deliveries as the fan-out makes
them."""

import datetime as dt

from django.utils import timezone

from events.models import Event, EventType
from users.tests.factories import UserFactory
from webhooks import services
from webhooks.models import Delivery, WebhookEndpoint


def make_endpoint(**fields) -> WebhookEndpoint:
    new = services.endpoint_create(
        url=fields.pop("url", "https://hooks.example.com/in"),
        event_types=fields.pop("event_types", []),
        description=fields.pop("description", ""),
        now=fields.pop("now", timezone.now()),
    )
    WebhookEndpoint.objects.filter(pk=new.endpoint_id).update(**fields)
    return WebhookEndpoint.objects.get(pk=new.endpoint_id)


def make_event(type_: str = EventType.CHECKIN_CREATED, *, at: dt.datetime | None = None) -> Event:
    user = UserFactory()
    return Event.objects.create(
        user=user,
        type=type_,
        created_at=at or timezone.now(),
        data={"user_id": str(user.pk), "date": "2026-06-30"},
    )


def make_delivery(endpoint: WebhookEndpoint, event: Event | None = None, **fields) -> Delivery:
    now = timezone.now()
    event = event or make_event()
    defaults = {
        "event_type": event.type,
        "created_at": now,
        "next_attempt_at": now,
        "give_up_at": now + dt.timedelta(hours=24),
    }
    return Delivery.objects.create(endpoint=endpoint, event=event, **{**defaults, **fields})
