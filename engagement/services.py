"""The state-change envelope: every write to a user's state goes through
:func:`state_change`.

::

    with state_change(user_id=user_id, now=now) as change:
        plan = rules.checkin(change.current, change.today, limits())  # pure rules
        change.record(LedgerEntry.Kind.CHECKIN, ref, plan.checkin_step)
        ...  # the use case's own rows, read and written after the lock

(Batch jobs use its batch form, :func:`states_change`.)

On entry it takes the one lock (the user's state row, :func:`state_lock`);
the use case computes with the pure rules and records each transition; on a
clean exit the registered after-change steps run (reward unlocks; each does
its own reads, after the lock) and the state row and its ledger entries are
written, all in one transaction. An exception anywhere rolls everything back.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from engagement import rules, statements
from engagement.errors import AccountUnavailable
from engagement.models import RECONCILE_REF, LedgerKind, UserState
from engagement.statements import LedgerRow, LockedUser
from users.authentication import check_token_version
from users.models import User
from users.timezones import local_date


@cache
def limits() -> rules.Limits:
    return rules.Limits.from_settings(settings.ENGAGEMENT)


def state_get_or_create(*, user_id: uuid.UUID) -> None:
    """Create the user's state row if it does not exist. Safe under concurrency:
    the primary key on ``user_id`` lets exactly one insert win. An account
    erased meanwhile (its erasure committed first) is :class:`AccountUnavailable`:
    the row's foreign key refuses it when the insert commits."""
    try:
        UserState.objects.get_or_create(user_id=user_id)
    except IntegrityError:
        if User.objects.filter(pk=user_id).exists():
            raise
        raise AccountUnavailable() from None


def state_lock(*, user_id: uuid.UUID, include_inactive: bool = False) -> LockedUser:
    """Lock the user's state row for the rest of the current transaction.

    The one lock helper: every write path starts here, so there is one lock per
    user and one order. On SQLite the IMMEDIATE transaction already holds the
    database write lock. Raises :class:`AccountUnavailable` for an inactive or
    deleted user (tokens are trusted without a query, so this is where a
    deactivated account is stopped). ``include_inactive`` locks a deactivated
    account's row too: erasing an account (``privacy``) must hold the lock
    whether or not the account is active."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("state_lock() must run inside transaction.atomic().")
    locked = statements.select_state_for_update(user_id=user_id)
    if locked is None:
        # First write of a user who never had a state row (created by staff).
        users = User.objects.filter(pk=user_id)
        if not (users if include_inactive else users.filter(is_active=True)).exists():
            raise AccountUnavailable()
        state_get_or_create(user_id=user_id)
        locked = statements.select_state_for_update(user_id=user_id)
    if locked is None or not (locked.is_active or include_inactive):
        raise AccountUnavailable()
    # The user's row is read by the lock anyway: a token revoked since it was
    # issued (password change, sign-out everywhere) is refused here, at no cost.
    check_token_version(locked.token_version)
    return locked


@dataclass(frozen=True)
class LockedState(LockedUser):
    """A state row locked by :func:`states_lock`: what :func:`state_lock`
    reads (so a batch job's changes, :func:`states_change`, start from it),
    and the reminder marker of ``events.streaks``."""

    at_risk_notified_on: dt.date | None


_BATCH_LOCK_COLUMNS = (
    "user_id",
    *statements.STATE_COLUMNS,
    "at_risk_notified_on",
    "loss_reported_for",
    "leaderboard_opt_in",
    "user__timezone",
    "user__is_active",
    "user__token_version",
)


def states_lock(*, user_ids: Sequence[uuid.UUID], condition: Q | None = None) -> list[LockedState]:
    """Lock the state rows of many users for the rest of the current
    transaction, in ``user_id`` order, and return them in that order. With a
    ``condition``, only the rows that meet it are locked and returned (users
    without a state row are left out anyway).

    For batch jobs (the periodic streak jobs), which must lock many users at
    once. Every other write locks one user's row (:func:`state_lock`); a batch
    takes its rows in one statement, always in ascending ``user_id``
    (PostgreSQL locks the rows of ``SELECT ... ORDER BY ... FOR UPDATE`` in
    the order it returns them). Two batches over the same users (two
    schedulers, a repeated tick) therefore queue behind each other instead of
    deadlocking, and a single-user write, which holds at most its own state
    row when it waits, cannot close a cycle with a batch. A row that another
    transaction changed while this statement waited for it is checked against
    ``condition`` again as it is now (READ COMMITTED), so a batch never acts
    on a row a check-in changed meanwhile. No token is checked: no caller is
    involved. On SQLite the IMMEDIATE transaction holds the write lock."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("states_lock() must run inside transaction.atomic().")
    query = UserState.objects.filter(user_id__in=user_ids).order_by("user_id")
    if condition is not None:
        query = query.filter(condition)
    if transaction.get_connection().features.has_select_for_update_of:
        query = query.select_for_update(of=("self",))
    locked = []
    for user_id, *values in query.values_list(*_BATCH_LOCK_COLUMNS):
        (
            *state_values,
            at_risk_notified_on,
            loss_reported_for,
            opt_in,
            timezone_name,
            is_active,
            version,
        ) = values
        locked.append(
            LockedState(
                user_id=user_id,
                timezone=timezone_name,
                is_active=bool(is_active),
                state=rules.State(**dict(zip(statements.STATE_COLUMNS, state_values, strict=True))),
                at_risk_notified_on=at_risk_notified_on,
                loss_reported_for=loss_reported_for,
                token_version=version,
                leaderboard_opt_in=bool(opt_in),
            )
        )
    return locked


def state_leaderboard_opt_in_set(*, user_id: uuid.UUID, opt_in: bool) -> None:
    """Write the state row's copy of the user's ``leaderboard_opt_in``. The
    caller holds the state lock and writes the user's own flag in the same
    transaction (``users.services.user_update_profile``)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("the copy is written with the user's flag, in one transaction")
    UserState.objects.filter(user_id=user_id).update(leaderboard_opt_in=opt_in)


@dataclass(frozen=True)
class LedgerStep:
    kind: str
    ref: str
    transition: rules.Transition
    reason: str = ""


def state_snapshot(state: rules.State) -> dict[str, Any]:
    snapshot: dict[str, Any] = {f: getattr(state, f) for f in rules.STATE_FIELDS}
    last = state.last_checkin_date
    snapshot["last_checkin_date"] = last.isoformat() if last else None
    snapshot["lost_streak"] = state.lost_streak
    lost_on = state.streak_lost_on
    snapshot["streak_lost_on"] = lost_on.isoformat() if lost_on else None
    return snapshot


class StateChange:
    """One use case's changes to one locked state.

    ``locked`` is what the lock read (immutable); ``current`` is the state
    after the steps recorded so far. Each step is a transition from the
    current state and becomes one ledger entry; the row is written once, when
    the envelope closes. After-change steps leave their results in
    ``outcomes`` under their name.

    A ``backfill`` change is made by a batch job, not by the user: it applies
    a catalog change (a reward created or re-activated) to a state that
    already met it. Its after-change steps run even when it records no step
    of its own (that is its point: the unlock step decides), and its events
    say ``backfill: true``.
    """

    def __init__(self, *, locked: LockedUser, now: dt.datetime, backfill: bool = False):
        self.locked = locked
        self.now = now
        self.backfill = backfill
        self.current: rules.State = locked.state
        self.steps: list[LedgerStep] = []
        self.outcomes: dict[str, Any] = {}
        self._extra_rows: list[statements.Rows] = []
        self._counter: statements.Counter | None = None

    @property
    def user_id(self) -> uuid.UUID:
        return self.locked.user_id

    @property
    def today(self) -> dt.date:
        """``now`` as a date in the user's time zone (read under the lock)."""
        return local_date(self.now, self.locked.timezone)

    def record(
        self, kind: str, ref: str, transition: rules.Transition, reason: str = ""
    ) -> rules.Transition:
        if transition.before != self.current:
            raise ValueError("A step must start from the current state.")
        self.current = transition.after
        self.steps.append(LedgerStep(kind, ref, transition, reason))
        return transition

    def record_reconciliation(self, *, replayed: rules.State, reason: str) -> LedgerStep:
        """Record, as one ``admin_adjust`` entry (ref ``reconcile``), the
        difference between the current state and ``replayed``, what the
        user's ledger replays to: after it the ledger replays to the state
        again. The state itself does not change (the entry's snapshot is the
        current state); its deltas are ``current - replayed``."""
        step = LedgerStep(
            LedgerKind.ADMIN_ADJUST,
            RECONCILE_REF,
            rules.Transition(before=replayed, after=self.current),
            reason,
        )
        self.steps.append(step)
        return step

    def write_with(self, rows: statements.Rows) -> None:
        """Insert ``rows`` in the change's own write (after-change steps: the
        events), in the same statement as the state row and the ledger where
        the database allows it."""
        self._extra_rows.append(rows)

    def _close(self) -> None:
        """The end of a clean change: the after-change steps, then the write."""
        if self.steps or self.backfill:
            for name, step in _after_change_steps.items():
                self.outcomes[name] = step(self)
        self._save()

    def count_with(self, counter: statements.Counter) -> None:
        """Add one to ``counter`` in the change's own write (the leaderboards'
        weekly check-ins): one per change, in the same statement as the state
        row on PostgreSQL."""
        if self._counter is not None:
            raise RuntimeError("a change adds to one counter")
        self._counter = counter

    def _save(self) -> None:
        """The state row, one ledger entry per step, and the rows of the
        after-change steps: one statement on PostgreSQL. Without a step the
        state is unchanged: only the after-change steps' rows (a backfill's
        events) are inserted."""
        if not self.steps:
            for rows in self._extra_rows:
                statements.insert_rows(rows)
            return
        ledger = statements.ledger_rows(
            user_id=self.user_id,
            entries=[
                LedgerRow(
                    kind=step.kind,
                    ref=step.ref,
                    reason=step.reason,
                    deltas=step.transition.applied,
                    state_after=state_snapshot(step.transition.after),
                )
                for step in self.steps
            ],
            now=self.now,
        )
        statements.write_change(
            user_id=self.user_id,
            state=self.current,
            now=self.now,
            inserts=[ledger, *self._extra_rows],
            counter=self._counter,
        )


AfterChangeStep = Callable[[StateChange], Any]
_after_change_steps: dict[str, AfterChangeStep] = {}


def register_after_change(name: str, step: AfterChangeStep) -> None:
    """Run ``step(change)`` at the end of every state change that recorded
    something, before it is saved; its result lands in ``change.outcomes[name]``.
    Apps register their steps in ``AppConfig.ready`` (rewards: unlocks)."""
    _after_change_steps[name] = step


@contextmanager
def state_change(
    *, user_id: uuid.UUID, now: dt.datetime, include_inactive: bool = False
) -> Iterator[StateChange]:
    """The envelope of every state change (see the module docstring).
    ``include_inactive``: a deactivated account's state too (an operator's
    repair, never a use case of the user's)."""
    with transaction.atomic():
        locked = state_lock(user_id=user_id, include_inactive=include_inactive)
        change = StateChange(locked=locked, now=now)
        yield change
        change._close()


@contextmanager
def states_change(
    *,
    user_ids: Sequence[uuid.UUID],
    now: dt.datetime,
    condition: Q | None = None,
    backfill: bool = False,
) -> Iterator[list[StateChange]]:
    """The envelope of a batch job's changes to many users, in one transaction.

    ::

        with states_change(user_ids=batch, now=now, condition=..., backfill=True) as changes:
            ...  # record steps on each change, or none (a backfill)

    On entry the batch's state rows (those that meet ``condition``) are
    locked in ``user_id`` order by :func:`states_lock`, the one batch lock;
    each active user's row becomes a :class:`StateChange` exactly as
    :func:`state_change` would start it (deactivated users are left out, as
    the single lock refuses them). On a clean exit each change is closed in
    turn like a single one: its after-change steps, then its write. One
    transaction for the whole batch instead of one per user: no BEGIN, lock
    and COMMIT per user, about three times as many users a second
    (docs/PERFORMANCE.md, "Reward backfill"). The batch's users wait for its
    commit, so batches stay small (a thousand users)."""
    with transaction.atomic():
        changes = [
            StateChange(locked=row, now=now, backfill=backfill)
            for row in states_lock(user_ids=user_ids, condition=condition)
            if row.is_active
        ]
        yield changes
        for change in changes:
            change._close()
