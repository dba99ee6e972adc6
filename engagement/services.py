"""Writes to a user's state. Each function expects to run inside the caller's
transaction, after :func:`state_lock` took the user's state row."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from engagement import rules, statements
from engagement.errors import AccountUnavailable
from engagement.models import UserState
from users.models import User


@cache
def limits() -> rules.Limits:
    return rules.Limits.from_settings(settings.ENGAGEMENT)


def state_get_or_create(*, user_id: uuid.UUID) -> UserState:
    """The user's state row, created on first use. Safe under concurrency: the
    primary key on ``user_id`` lets exactly one insert win; the others read it."""
    state, _ = UserState.objects.get_or_create(user_id=user_id)
    return state


def state_lock(*, user_id: uuid.UUID) -> UserState:
    """Lock the user's state row for the rest of the current transaction.

    Every write path starts here, so there is one lock per user and one order.
    On SQLite the IMMEDIATE transaction already holds the database write lock.

    The same statement reads the user's own columns: the time zone
    (``user_timezone``) and whether the account is active (tokens are trusted
    without a query, so this is where a deactivated account is stopped).
    Whatever depends on the locked state (rewards owned, inventory) the caller
    reads after this returns, in statements of its own. Raises
    :class:`AccountUnavailable` for an inactive or deleted user.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("state_lock() must run inside transaction.atomic().")
    row = statements.select_state_for_update(user_id=user_id)
    if row is None:
        # First write of a user who never had a state row (created by staff).
        if not User.objects.filter(pk=user_id, is_active=True).exists():
            raise AccountUnavailable()
        state_get_or_create(user_id=user_id)
        row = statements.select_state_for_update(user_id=user_id)
    if not row.user_is_active:
        raise AccountUnavailable()
    return row


@dataclass(frozen=True)
class LedgerStep:
    kind: str
    ref: str
    transition: rules.Transition
    reason: str = ""


def state_snapshot(state: rules.State) -> dict:
    snapshot = {f: getattr(state, f) for f in rules.STATE_FIELDS}
    last = state.last_checkin_date
    snapshot["last_checkin_date"] = last.isoformat() if last else None
    return snapshot


class StateChange:
    """The changes one use case makes to one locked state row.

    Each step is a transition from the current state; :meth:`save` writes the
    row once and every step's ledger entry in one insert, so a use case costs
    two writes however many steps (check-in, freezes, reward claims) it has.
    """

    def __init__(self, row: UserState):
        self.row = row
        self.current: rules.State = row.as_rules_state()
        self.steps: list[LedgerStep] = []

    def record(
        self, kind: str, ref: str, transition: rules.Transition, reason: str = ""
    ) -> rules.Transition:
        if transition.before != self.current:
            raise ValueError("A step must start from the current state.")
        self.current = transition.after
        self.steps.append(LedgerStep(kind, ref, transition, reason))
        return transition

    def save(self, now: dt.datetime | None = None) -> UserState:
        """Write the state row and one ledger entry per step (two statements)."""
        if not self.steps:
            return self.row
        now = now or timezone.now()
        self.row.set_from(self.current)
        statements.update_state(row=self.row, now=now)
        statements.insert_ledger(
            user_id=self.row.user_id,
            entries=[
                (
                    step.kind,
                    step.ref,
                    step.reason,
                    step.transition.applied.as_dict(),
                    state_snapshot(step.transition.after),
                )
                for step in self.steps
            ],
            now=now,
        )
        return self.row
