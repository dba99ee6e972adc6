"""Reads of state and ledger."""

import uuid

from django.db.models import QuerySet

from engagement.models import LedgerEntry


def ledger_for_user(*, user_id: uuid.UUID) -> QuerySet[LedgerEntry]:
    """The user's ledger, newest first (backed by the (user, -id) index)."""
    return LedgerEntry.objects.filter(user_id=user_id).order_by("-id")
