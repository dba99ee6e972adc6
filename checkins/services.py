"""The daily check-in."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass

from django.db import IntegrityError

from checkins.errors import AlreadyCheckedIn
from checkins.models import CheckIn
from engagement import rules, statements
from engagement.models import LedgerEntry
from engagement.services import limits, state_change
from rewards.services.unlock import Unlocked, unlocked_in


@dataclass(frozen=True)
class CheckinRow:
    id: int
    date: dt.date
    streak: int
    freezes_used: int
    created_at: dt.datetime


@dataclass(frozen=True)
class CheckinResult:
    checkin: CheckinRow
    state: rules.State
    freezes_used: int
    checkin_step: rules.Transition
    unlocked: list[Unlocked]
    today: dt.date


def checkin_create(*, user_id: uuid.UUID, now: dt.datetime) -> CheckinResult:
    """Check the user in for ``now``'s date in their time zone.

    Under the state-row lock: refuse a date that is not after the last one,
    bridge a gap with freezes, apply the base deltas and insert the check-in;
    the envelope then unlocks rewards and writes the state and its ledger.
    """
    with state_change(user_id=user_id, now=now) as change:
        today = change.today  # the time zone is read under the lock
        try:
            plan = rules.checkin(
                change.current,
                today,
                limits(),
                loss_reported=change.locked.loss_reported_for is not None
                and change.locked.loss_reported_for == change.current.last_checkin_date,
            )
        except rules.AlreadyCheckedInRule:
            raise AlreadyCheckedIn() from None
        ref = today.isoformat()
        if plan.freeze_step:
            change.record(LedgerEntry.Kind.FREEZE_USED, ref, plan.freeze_step)
        change.record(LedgerEntry.Kind.CHECKIN, ref, plan.checkin_step)
        checkin = CheckinRow(
            id=0,
            date=today,
            streak=plan.after.streak,
            freezes_used=plan.freezes_used,
            created_at=now,
        )
        try:
            # Its own savepoint is not needed: the (user, date) unique
            # constraint is the backstop behind the lock, and raising leaves
            # the envelope, which rolls the whole attempt back.
            checkin_id = statements.insert_row(
                CheckIn,
                {
                    "user": user_id,
                    "date": checkin.date,
                    "streak": checkin.streak,
                    "freezes_used": checkin.freezes_used,
                    "created_at": now,
                },
            )
        except IntegrityError:
            raise AlreadyCheckedIn() from None
    return CheckinResult(
        checkin=dataclasses.replace(checkin, id=checkin_id),
        state=change.current,
        freezes_used=plan.freezes_used,
        checkin_step=plan.checkin_step,
        unlocked=unlocked_in(change),
        today=today,
    )
