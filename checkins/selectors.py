"""Reads of check-in history."""

import uuid

from django.db.models import QuerySet

from checkins.models import CheckIn


def checkins_for_user(*, user_id: uuid.UUID) -> QuerySet[CheckIn]:
    """Newest first; served by the (user, date) unique index."""
    return CheckIn.objects.filter(user_id=user_id).order_by("-date")
