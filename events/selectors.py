"""Reads of the events."""

import uuid

from django.db import DEFAULT_DB_ALIAS
from django.db.models import QuerySet

from events.models import Event


def events_for_user(*, user_id: uuid.UUID, using: str = DEFAULT_DB_ALIAS) -> QuerySet[Event]:
    """The user's events, newest first (the (user, -created_at, -id) index),
    from the database ``using`` names."""
    return Event.objects.using(using).filter(user_id=user_id).order_by("-created_at", "-id")
