"""Reconciling a user's ledger with their state: ``verify_invariants --reconcile``.

When the ledger no longer replays to the state row (a raw ``UPDATE`` of the
row, a lost ledger row, a partial restore), the state is what the user has
seen and what every rule since has worked from; ``grant --adjust`` cannot
close the gap (it moves the state and the ledger together). A reconciliation
writes one ``admin_adjust`` entry (ref ``reconcile``) whose deltas are the
difference, ``state - replayed``, with the operator's reason: the ledger
replays to the state again, and the entry is the record of what was corrected.
It goes through the state-change envelope (the user's lock, the after-change
steps, one write), like every change; the state row is not changed.

Only the replay is reconciled. A user whose state also disagrees with their
check-ins (count, last date, streaks) is refused: there the state row itself
is wrong, and making the ledger agree with it would bury the evidence.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass

from django.db.models import Sum

from backoffice.invariants import CHECKINS, LEDGER, Violation, user_violations
from engagement import rules
from engagement.models import LedgerEntry, initial_state
from engagement.services import state_change

REASON_MAX_LENGTH = 500


class NotReconcilable(Exception):
    """The state disagrees with more than its ledger; nothing was written."""

    def __init__(self, violations: list[Violation]):
        self.violations = violations
        super().__init__("; ".join(f"{v.field}: {v.problem}" for v in violations))


@dataclass(frozen=True)
class Reconciliation:
    """What one reconciliation recorded: ``state - replayed``, field by field."""

    deltas: rules.Deltas

    def describe(self) -> str:
        """E.g. ``energy +20, loyalty -3``."""
        applied = {k: v for k, v in self.deltas.as_dict().items() if v}
        return ", ".join(f"{key} {value:+d}" for key, value in applied.items())


def _replayed(*, user_id: uuid.UUID, current: rules.State) -> rules.State:
    """What the user's ledger replays to (the non-numeric fields as they are)."""
    sums = LedgerEntry.objects.filter(user_id=user_id).aggregate(
        **{field: Sum(field) for field in rules.STATE_FIELDS}
    )
    start = initial_state()
    return dataclasses.replace(
        current,
        **{field: getattr(start, field) + (sums[field] or 0) for field in rules.STATE_FIELDS},
    )


def ledger_reconcile(*, user_id: uuid.UUID, reason: str, now: dt.datetime) -> Reconciliation | None:
    """Make the user's ledger replay to their state again with one
    ``admin_adjust``/``reconcile`` entry carrying ``reason``; None (nothing
    written) when it already does. Checked under the user's state lock, so the
    answer is exact and running it again writes nothing. Deactivated accounts
    too. Raises :class:`NotReconcilable` when the state also disagrees with the
    check-ins, and ``ValueError`` for an empty or overlong reason."""
    reason = reason.strip()
    if not reason or len(reason) > REASON_MAX_LENGTH:
        raise ValueError(f"A reason of 1 to {REASON_MAX_LENGTH} characters is required.")
    with state_change(user_id=user_id, now=now, include_inactive=True) as change:
        violations = user_violations(user_id=user_id)
        if not any(v.check == LEDGER for v in violations):
            return None
        contradicted = [v for v in violations if v.check == CHECKINS]
        if contradicted:
            raise NotReconcilable(contradicted)
        replayed = _replayed(user_id=user_id, current=change.current)
        step = change.record_reconciliation(replayed=replayed, reason=reason)
    return Reconciliation(step.transition.applied)
