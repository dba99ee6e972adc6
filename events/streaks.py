"""The periodic streak jobs: ``streak.at_risk`` and ``streak.lost``.

A tick (``events.tasks.streak_tick``, every quarter of an hour) computes, from
its scheduled ``now`` alone, which time zones are in a given local hour, then
reads only the users of those zones (``users_user_timezone_idx``):

- **at risk**: the zones in their ``REMINDER_LOCAL_HOUR``; users whose streak a
  check-in today would extend and who have not checked in today. At most once
  a local day (``UserState.at_risk_notified_on``).
- **lost**: the zones in their first local hour (a local day has just ended);
  users whose last check-in is further back than their freezes can bridge.
  Exactly once a loss (``UserState.loss_reported_for``, the last check-in of
  the streak reported), whoever reports it first: this job, or the check-in
  that resets the streak (``events.services``). A loss the job missed (the
  scheduler was down for the hour) stays true until the next check-in, so a
  later midnight or that check-in reports it.

Each batch of those users is written in one transaction: lock the state rows
that meet the rule, in ``user_id`` order (``engagement.services.states_lock``;
a row a check-in or another tick changed meanwhile is judged as it is now),
check the rule again on the locked rows, set the markers, write the events. docs/ARCHITECTURE.md,
"Streak reminders".
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet

from engagement import rules
from engagement.models import UserState
from engagement.services import LockedState, limits, states_lock
from events.models import EventType
from events.services import record_events, streak_lost_data
from leaderboards.services import streak_losses_reported
from users.models import User
from users.timezones import TIMEZONE_NAMES, zone

BATCH_SIZE = 500
# A zone is selected for the hour after its local hour began: the four
# quarter-hour ticks of that hour find it, so a late or missed tick is made up
# by the next one, and the markers keep the repeats from writing twice.
WINDOW = dt.timedelta(hours=1)
MIDNIGHT = 0


@dataclass(frozen=True)
class ZoneGroup:
    """Zones whose local ``hour`` began within the window, all on local ``today``."""

    today: dt.date
    zones: tuple[str, ...]


def zones_at_local_hour(
    *, now: dt.datetime, hour: int, names: Iterable[str] = TIMEZONE_NAMES
) -> list[ZoneGroup]:
    """The zones whose local ``hour`` began in ``(now - WINDOW, now]``, grouped
    by their local date (at one instant the zones at midnight can be on two
    dates: UTC+14 is a day ahead of UTC-10).

    The moment a local hour begins is taken from ``zoneinfo``: on a day when
    the clocks jump over it (spring forward at midnight), it begins when the
    jump happens; on a day when it repeats (fall back), at its first
    occurrence only."""
    by_date: defaultdict[dt.date, list[str]] = defaultdict(list)
    for name in names:
        tz = zone(name)
        today = now.astimezone(tz).date()
        # fold=0: the first occurrence of a repeated wall time; a skipped one
        # maps to the instant of the jump.
        begins = dt.datetime.combine(today, dt.time(hour), tzinfo=tz).astimezone(dt.UTC)
        if now - WINDOW < begins <= now:
            by_date[today].append(name)
    return [ZoneGroup(today, tuple(zones)) for today, zones in sorted(by_date.items())]


# --- The rules: as SQL for the lock, and in Python on the locked rows -----------------
def _gap_within_freezes(today: dt.date, *, covered: bool) -> Q:
    """``(today - last_checkin_date).days - 1 <= streak_freezes`` (or ``>`` when
    not ``covered``), one term per freeze count: portable, and each term is
    a plain comparison of the date column."""
    terms = Q()
    for freezes in range(limits().max_freezes + 1):
        oldest = today - dt.timedelta(days=freezes + 1)
        dates = Q(last_checkin_date__gte=oldest) if covered else Q(last_checkin_date__lt=oldest)
        terms |= Q(streak_freezes=freezes) & dates
    return terms


def at_risk_condition(today: dt.date) -> Q:
    """A check-in ``today`` would extend the streak, none came yet, and no
    reminder went out today (see :func:`is_at_risk`)."""
    return (
        Q(streak__gt=0, last_checkin_date__lt=today)
        & _gap_within_freezes(today, covered=True)
        & (Q(at_risk_notified_on__isnull=True) | Q(at_risk_notified_on__lt=today))
    )


def lost_condition(today: dt.date) -> Q:
    """The streak was lost before ``today`` and its loss is not reported yet
    (see :func:`is_lost`)."""
    return (
        Q(streak__gt=0)
        & _gap_within_freezes(today, covered=False)
        & ~Q(loss_reported_for=F("last_checkin_date"))
    )


def is_at_risk(row: LockedState, today: dt.date) -> bool:
    return rules.streak_status(row.state, today) == "at_risk" and (
        row.at_risk_notified_on is None or row.at_risk_notified_on < today
    )


def is_lost(row: LockedState, today: dt.date) -> bool:
    return (
        rules.streak_lost(row.state, today) and row.loss_reported_for != row.state.last_checkin_date
    )


def zone_users(zones: Sequence[str]) -> QuerySet[User, uuid.UUID]:
    """The active users of ``zones``: read through the time zone index
    (``users_user_timezone_idx``), so a tick reads only the users whose local
    hour it is. Their state rows are then read by primary key, a batch at a
    time, by the lock itself (``states_lock`` with the job's condition): a
    join filtering the states here would let the planner scan every state
    row instead."""
    return User.objects.filter(timezone__in=zones, is_active=True).values_list("id", flat=True)


# --- The jobs ------------------------------------------------------------------------
Event = tuple[uuid.UUID, str, dict[str, Any]]


def batched(ids: Sequence[uuid.UUID], size: int) -> Iterator[Sequence[uuid.UUID]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _in_batches(
    *,
    now: dt.datetime,
    group: ZoneGroup,
    condition: Q,
    due: Callable[[LockedState], bool],
    event: Callable[[LockedState], Event],
    mark: dict[str, Any],
    marked: Callable[[list[LockedState]], None] | None = None,
) -> int:
    """Read the users of ``group``'s zones, then per batch of them, in one
    transaction: lock the state rows that meet ``condition``, check ``due``
    on the locked rows again, set the marker columns (``mark``) and write the
    events. Returns the events written."""
    ids = sorted(zone_users(group.zones))  # the lock's order: ascending user_id
    zones = frozenset(group.zones)
    written = 0
    for batch in batched(ids, BATCH_SIZE):
        with transaction.atomic():
            # A user who moved to another zone meanwhile is left to that
            # zone's hour; one deactivated meanwhile is left out.
            rows = [
                row
                for row in states_lock(user_ids=batch, condition=condition)
                if row.is_active and row.timezone in zones and due(row)
            ]
            if not rows:
                continue
            UserState.objects.filter(user_id__in=[row.user_id for row in rows]).update(**mark)
            if marked is not None:
                marked(rows)
            record_events(now=now, events=[event(row) for row in rows])
            written += len(rows)
    return written


def streaks_at_risk_notify(*, now: dt.datetime) -> int:
    """Write ``streak.at_risk`` for every user whose ``REMINDER_LOCAL_HOUR``
    began within the hour before ``now`` and whose streak a check-in today
    would extend. Returns the number of events written."""
    written = 0
    for group in zones_at_local_hour(now=now, hour=settings.REMINDER_LOCAL_HOUR):
        today = group.today

        def event(row: LockedState, today: dt.date = today) -> Event:
            last = row.state.last_checkin_date
            assert last is not None  # at risk: there is a streak
            data = {
                "date": today.isoformat(),
                "streak": row.state.streak,
                "freezes_needed": (today - last).days - 1,
            }
            return row.user_id, EventType.STREAK_AT_RISK, data

        def due(row: LockedState, today: dt.date = today) -> bool:
            return is_at_risk(row, today)

        written += _in_batches(
            now=now,
            group=group,
            condition=at_risk_condition(today),
            due=due,
            event=event,
            mark={"at_risk_notified_on": today},
        )
    return written


def streaks_lost_report(*, now: dt.datetime) -> int:
    """Write ``streak.lost`` for every user of the zones whose local day ended
    within the hour before ``now`` and whose streak is lost and not reported
    yet. Returns the number of events written."""
    written = 0
    for group in zones_at_local_hour(now=now, hour=MIDNIGHT):
        today = group.today

        def due(row: LockedState, today: dt.date = today) -> bool:
            return is_lost(row, today)

        def event(row: LockedState) -> Event:
            return row.user_id, EventType.STREAK_LOST, streak_lost_data(row.state)

        written += _in_batches(
            now=now,
            group=group,
            condition=lost_condition(today),
            due=due,
            event=event,
            # The locked rows' own last check-in: the loss now reported.
            mark={"loss_reported_for": F("last_checkin_date")},
            # A reported loss ends the streak's place on the streak board.
            marked=lambda rows: streak_losses_reported(rows=rows),
        )
    return written


@dataclass(frozen=True)
class TickResult:
    lost: int
    at_risk: int


def streak_tick(*, now: dt.datetime) -> TickResult:
    """One tick of the streak jobs at ``now`` (the slot it was scheduled for):
    losses first, then reminders."""
    return TickResult(lost=streaks_lost_report(now=now), at_risk=streaks_at_risk_notify(now=now))
