"""Reads of check-in history."""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.db.models import QuerySet

from checkins.models import CheckIn

DayStatus = Literal["checked_in", "frozen"]


def checkins_for_user(*, user_id: uuid.UUID, using: str = DEFAULT_DB_ALIAS) -> QuerySet[CheckIn]:
    """Newest first; served by the (user, date) unique index. ``using``: the
    database to read (the replica's alias for the history list)."""
    return CheckIn.objects.using(using).filter(user_id=user_id).order_by("-date")


@dataclass(frozen=True)
class CalendarDay:
    date: dt.date
    status: DayStatus


def month_calendar(*, user_id: uuid.UUID, year: int, month: int) -> list[CalendarDay]:
    """Each local date of the month the user checked in on, or that freezes
    bridged, oldest first, from one range read on the (user, date) index.

    A check-in that used ``n`` freezes bridged the ``n`` days before it, so the
    read reaches past the month's end by the most freezes a check-in can use."""
    first = dt.date(year, month, 1)
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    reach = dt.timedelta(days=int(settings.ENGAGEMENT["MAX_FREEZES"]))
    rows = CheckIn.objects.filter(
        user_id=user_id, date__gte=first, date__lte=last + reach
    ).values_list("date", "freezes_used")
    days: dict[dt.date, DayStatus] = {}
    for date, freezes_used in rows:
        if date <= last:
            days[date] = "checked_in"
        for back in range(1, freezes_used + 1):
            bridged = date - dt.timedelta(days=back)
            if first <= bridged <= last:
                days.setdefault(bridged, "frozen")
    return [CalendarDay(date, days[date]) for date in sorted(days)]
