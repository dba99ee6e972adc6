"""The boards' rules on plain values: weeks, keys, ranks, aliases.

No I/O; ``services`` and ``selectors`` build on them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from django.utils.crypto import salted_hmac

Board = Literal["streak", "weekly"]
BOARDS: tuple[Board, ...] = ("streak", "weekly")
Period = Literal["current", "previous"]
PERIODS: tuple[Period, ...] = ("current", "previous")

STREAK_KEY = "streak"
# A week is final once it has ended in every zone: the last zones (UTC-12,
# with a margin the contract sets) end it this long after it ends in UTC.
FINAL_AFTER = dt.timedelta(hours=14)
MAX_LIMIT = 100
DEFAULT_LIMIT = 10


def week_start(day: dt.date) -> dt.date:
    """Monday of ``day``'s ISO week."""
    return day - dt.timedelta(days=day.weekday())


def weekly_key(monday: dt.date) -> str:
    """The weekly board of the ISO week starting on ``monday``, as BoardScore names it."""
    return f"weekly:{monday.isoformat()}"


def week_final_at(monday: dt.date) -> dt.datetime:
    """When the board of the week starting ``monday`` stops changing: its
    Sunday has ended everywhere (the end in UTC + 14 h)."""
    end = dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(), tzinfo=dt.UTC)
    return end + FINAL_AFTER


def on_streak_board(
    *, streak: int, last_checkin_date: dt.date | None, loss_reported_for: dt.date | None
) -> bool:
    """Whether a (shown) user's streak counts as current: above zero and not
    one whose loss the periodic job reported (``engagement.models.STREAK_BOARD``)."""
    return streak > 0 and (loss_reported_for is None or loss_reported_for != last_checkin_date)


def alias(user_id: uuid.UUID) -> str:
    """A neutral, stable name for a user without a display name: derived from
    the id with a key (``SECRET_KEY``), so it reveals neither the id nor the
    e-mail."""
    digest = salted_hmac("leaderboards.alias", str(user_id)).hexdigest()
    return f"Player {digest[:8]}"


@dataclass(frozen=True)
class Ranked:
    rank: int
    user_id: uuid.UUID
    display_name: str
    score: int


def ranked(rows: Iterable[tuple[uuid.UUID, str, int]]) -> Iterator[Ranked]:
    """Competition ranks (1, 2, 2, 4) of rows already in board order (score
    descending) from the top of the board."""
    rank, previous = 0, None
    for position, (user_id, name, score) in enumerate(rows, start=1):
        if score != previous:
            rank, previous = position, score
        yield Ranked(rank, user_id, name or alias(user_id), score)
