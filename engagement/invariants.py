"""Checks that the ledger and the state row tell the same story."""

from __future__ import annotations

import uuid

from django.db.models import Sum

from engagement import rules
from engagement.models import LedgerEntry, UserState


def ledger_replay_mismatches(*, user_id: uuid.UUID) -> list[str]:
    """Fields where initial state + the sum of the user's ledger deltas differs
    from their state row; empty when they agree. One aggregate query and one read."""
    sums = LedgerEntry.objects.filter(user_id=user_id).aggregate(
        **{field: Sum(field) for field in rules.STATE_FIELDS}
    )
    state = UserState.objects.filter(user_id=user_id).first()
    if state is None:
        return [] if not any(sums.values()) else ["ledger entries exist without a state row"]
    mismatches = []
    for field in rules.STATE_FIELDS:
        expected = getattr(rules.INITIAL_STATE, field) + (sums[field] or 0)
        actual = getattr(state, field)
        if expected != actual:
            mismatches.append(f"{field}: ledger replays to {expected}, state has {actual}")
    return mismatches
