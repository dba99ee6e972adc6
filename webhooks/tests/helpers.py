"""Builders for the webhook tests that call the services with an explicit ``now``."""

from __future__ import annotations

import datetime as dt
import socket

from django.utils import timezone

from checkins.services import checkin_create
from events.models import Event
from users.tests.factories import UserFactory
from webhooks import services
from webhooks.models import Delivery


def refused_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def checkin_event(now: dt.datetime | None = None) -> Event:
    """A new user's first check-in at ``now``: its ``checkin.created`` event."""
    now = now or timezone.now()
    user = UserFactory()
    checkin_create(user_id=user.pk, now=now)
    return Event.objects.get(user=user, type="checkin.created")


def delivery_of(event: Event, *, now: dt.datetime) -> Delivery:
    """The fan-out of ``event`` at ``now``: its one delivery."""
    assert services.fan_out(event_ids=[str(event.id)], now=now) == 1
    return Delivery.objects.get(event=event)
