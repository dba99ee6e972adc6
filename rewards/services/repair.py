"""Restoring a lost streak: the step that staff's ``streak_restore`` and a
``streak_repair`` tool's use share (docs/ARCHITECTURE.md, "Streak repair")."""

from __future__ import annotations

from django.conf import settings

from engagement import rules
from engagement.models import LedgerEntry
from engagement.services import StateChange
from rewards.errors import NothingToRepair


def repair_check(change: StateChange) -> None:
    """A repair tool may restore the kept loss today (the user's local date):
    within ``REPAIR_WINDOW_DAYS`` local days of the day it was lost on.
    Raises :class:`NothingToRepair` otherwise."""
    if not rules.streak_repairable(change.current, change.today, settings.REPAIR_WINDOW_DAYS):
        raise NothingToRepair()


def record_streak_restore(change: StateChange, *, reason: str = "") -> rules.Transition:
    """Record the restore of the kept loss as the change's next step: one
    ``streak_restore`` ledger entry whose ref is the local date the streak was
    lost on. Raises :class:`NothingToRepair` when no loss is kept."""
    lost_on = change.current.streak_lost_on
    try:
        transition = rules.streak_restore(change.current)
    except rules.NothingToRestoreRule:
        raise NothingToRepair(
            "No lost streak is kept: none was lost, or it was restored."
        ) from None
    assert lost_on is not None  # a kept loss is dated (a check constraint)
    return change.record(
        LedgerEntry.Kind.STREAK_RESTORE, lost_on.isoformat(), transition, reason=reason
    )
