"""Reads of the events."""

import uuid

from django.db.models import QuerySet

from events.models import Event


def events_for_user(*, user_id: uuid.UUID) -> QuerySet[Event]:
    """The user's events, newest first (the (user, -created_at, -id) index)."""
    return Event.objects.filter(user_id=user_id).order_by("-created_at", "-id")
