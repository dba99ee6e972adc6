"""Reads of state and ledger."""

import uuid

from django.db import DEFAULT_DB_ALIAS
from django.db.models import QuerySet

from engagement.models import LedgerEntry


def ledger_for_user(*, user_id: uuid.UUID, using: str = DEFAULT_DB_ALIAS) -> QuerySet[LedgerEntry]:
    """The user's ledger, newest first (backed by the (user, -id) index), from
    the database ``using`` names."""
    return LedgerEntry.objects.using(using).filter(user_id=user_id).order_by("-id")
