"""Checks that the ledger and the state row tell the same story."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from django.db.models import Sum

from engagement import rules
from engagement.models import LedgerEntry, UserState, initial_state


def replay_differences(
    *, state: Mapping[str, int], sums: Mapping[str, int | None]
) -> list[tuple[str, int, int]]:
    """``(field, replayed, actual)`` for every state field where the initial
    state plus the sum of the ledger's deltas differs from the state row."""
    differences = []
    start = initial_state()
    for field in rules.STATE_FIELDS:
        expected = getattr(start, field) + (sums.get(field) or 0)
        actual = state[field]
        if expected != actual:
            differences.append((field, expected, actual))
    return differences


def ledger_replay_mismatches(*, user_id: uuid.UUID) -> list[str]:
    """Fields where initial state + the sum of the user's ledger deltas differs
    from their state row; empty when they agree. One aggregate query and one read."""
    sums = LedgerEntry.objects.filter(user_id=user_id).aggregate(
        **{field: Sum(field) for field in rules.STATE_FIELDS}
    )
    state = UserState.objects.filter(user_id=user_id).values(*rules.STATE_FIELDS).first()
    if state is None:
        return [] if not any(sums.values()) else ["ledger entries exist without a state row"]
    return [
        f"{field}: ledger replays to {expected}, state has {actual}"
        for field, expected, actual in replay_differences(state=state, sums=sums)
    ]
