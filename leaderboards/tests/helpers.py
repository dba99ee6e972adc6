"""Building boards through the real services, and reading them."""

import datetime as dt
from collections.abc import Iterable
from typing import Any

import time_machine

from checkins.services import checkin_create
from users.models import User
from users.tests.factories import client_for

# Monday 2 March 2026 to Sunday 8 March: an ISO week (10).
MONDAY = dt.date(2026, 3, 2)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def check_in(user: User, moments: Iterable[dt.datetime]) -> None:
    for now in moments:
        checkin_create(user_id=user.pk, now=now)


def days(first: dt.date, count: int, hour: int = 12) -> list[dt.datetime]:
    """``count`` consecutive days from ``first``, at ``hour`` UTC."""
    return [at(first + dt.timedelta(days=i), hour) for i in range(count)]


def board(user: User, name: str, now: dt.datetime, **params: Any) -> dict[str, Any]:
    """GET leaderboards/``name`` as ``user`` at ``now``: the body of a 200."""
    with time_machine.travel(now, tick=False):
        response = client_for(user).get(f"/api/v1/leaderboards/{name}", params)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def top(body: dict[str, Any]) -> list[tuple[int, str, int]]:
    return [(row["rank"], row["display_name"], row["score"]) for row in body["top"]]
