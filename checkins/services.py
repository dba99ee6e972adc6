"""The daily check-in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from checkins.errors import AlreadyCheckedIn
from checkins.models import CheckIn
from checkins.statements import insert_checkin
from engagement import rules
from engagement.models import LedgerEntry, UserState
from engagement.services import StateChange, limits, state_lock
from rewards.services import Unlocked, rewards_unlock
from users.authentication import AuthenticatedUser
from users.models import User
from users.timezones import local_date


@dataclass(frozen=True)
class CheckinResult:
    checkin: CheckIn
    state: UserState
    freezes_used: int
    checkin_step: rules.Transition
    unlocked: list[Unlocked]
    today: dt.date


def checkin_create(
    *, user: User | AuthenticatedUser, now: dt.datetime | None = None
) -> CheckinResult:
    """Check the user in for today in their time zone.

    Under the state-row lock: refuse a date that is not after the last one,
    bridge a gap with freezes, apply the base deltas, insert the check-in,
    unlock rewards, then write the state and its ledger entries.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # The user's time zone is read with the lock: the date is decided under it.
        row = state_lock(user_id=user.pk)
        today = local_date(now, row.user_timezone)
        change = StateChange(row)
        try:
            plan = rules.checkin(change.current, today, limits())
        except rules.AlreadyCheckedInRule:
            raise AlreadyCheckedIn() from None
        ref = today.isoformat()
        if plan.freeze_step:
            change.record(LedgerEntry.Kind.FREEZE_USED, ref, plan.freeze_step)
        change.record(LedgerEntry.Kind.CHECKIN, ref, plan.checkin_step)
        try:
            checkin = insert_checkin(
                user_id=user.pk,
                date=today,
                streak=plan.after.streak,
                freezes_used=plan.freezes_used,
                now=now,
            )
        except IntegrityError:
            # The (user, date) unique constraint is the backstop behind the lock.
            # Raising leaves the atomic block, which rolls the whole attempt back.
            raise AlreadyCheckedIn() from None
        unlocked = rewards_unlock(change=change, now=now)
        state = change.save(now)
    return CheckinResult(
        checkin=checkin,
        state=state,
        freezes_used=plan.freezes_used,
        checkin_step=plan.checkin_step,
        unlocked=unlocked,
        today=today,
    )
