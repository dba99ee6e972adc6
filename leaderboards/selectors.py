"""Reads of the boards: the top, the caller's rank and the participants,
from one snapshot.

The top is the first ``limit`` rows of the board's index (the state rows'
``engagement_streak_board_idx``, or ``leaderboards_weekly_idx``),
ranked as they come; the caller's rank is 1 + the members above their score
and the participants all of them, summed from the histogram (``BoardScore``):
a handful of rows whatever the number of users.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Q, Sum

from engagement.errors import AccountUnavailable
from engagement.models import STREAK_BOARD, UserState
from leaderboards.boards import (
    STREAK_KEY,
    Board,
    Period,
    Ranked,
    on_streak_board,
    ranked,
    week_final_at,
    week_start,
    weekly_key,
)
from leaderboards.models import BoardScore, WeeklyCheckins
from users.authentication import check_token_version
from users.models import User
from users.timezones import local_date


@dataclass(frozen=True)
class MyRank:
    rank: int
    score: int


@dataclass(frozen=True)
class BoardPage:
    board: Board
    start: dt.date
    end: dt.date
    final: bool
    top: list[Ranked]
    me: MyRank | None
    participants: int


@contextmanager
def _one_snapshot(using: str) -> Iterator[None]:
    """The top, the caller's score and the counts from one moment: a
    REPEATABLE READ transaction on PostgreSQL (no locks). On SQLite, the
    development database, a transaction would take the write lock (IMMEDIATE),
    so the reads run as they come. A hot standby takes REPEATABLE READ too."""
    connection = connections[using]
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _top(board: Board, monday: dt.date, limit: int, using: str = DEFAULT_DB_ALIAS) -> list[Ranked]:
    if board == "streak":
        streaks = (
            UserState.objects.using(using)
            .filter(STREAK_BOARD)
            .order_by("-streak", "user_id")
            .values_list("user_id", "user__display_name", "streak")
        )
        return list(ranked(streaks[:limit]))
    weeks = (
        WeeklyCheckins.objects.using(using)
        .filter(week_start=monday, user__leaderboard_opt_in=True)
        .order_by("-checkins", "user_id")
        .values_list("user_id", "user__display_name", "checkins")
    )
    return list(ranked(weeks[:limit]))


def board_read(
    *,
    user_id: uuid.UUID,
    board: Board,
    period: Period,
    limit: int,
    now: dt.datetime,
    using: str = DEFAULT_DB_ALIAS,
) -> BoardPage:
    """The board as the caller sees it at ``now``: the weekly board of their
    own local ISO week (or the one before), the streak board as it stands.
    ``me`` is None when the caller is not on it (opted out, or no score).
    Every read from the database ``using`` names."""
    with _one_snapshot(using):
        found = (
            User.objects.using(using)
            .filter(pk=user_id, is_active=True)
            .values_list(
                "timezone",
                "leaderboard_opt_in",
                "token_version",
                "state__streak",
                "state__last_checkin_date",
                "state__loss_reported_for",
            )
            .first()
        )
        if found is None:
            raise AccountUnavailable()
        timezone_name, shown, token_version, streak, last_checkin, loss_reported_for = found
        check_token_version(token_version)
        today = local_date(now, timezone_name)
        monday = week_start(today) - dt.timedelta(days=7 if period == "previous" else 0)
        score: int | None = None
        if board == "streak":
            start = end = today
            final, key = False, STREAK_KEY
            if shown and on_streak_board(
                streak=streak or 0,
                last_checkin_date=last_checkin,
                loss_reported_for=loss_reported_for,
            ):
                score = streak
        else:
            start, end = monday, monday + dt.timedelta(days=6)
            final, key = period == "previous" and now >= week_final_at(monday), weekly_key(monday)
            if shown:
                score = (
                    WeeklyCheckins.objects.using(using)
                    .filter(user_id=user_id, week_start=monday)
                    .values_list("checkins", flat=True)
                    .first()
                )
        top = _top(board, monday, limit, using)
        counts = (
            BoardScore.objects.using(using)
            .filter(board=key)
            .aggregate(
                participants=Sum("users"),
                above=Sum("users", filter=Q(score__gt=score or 0)),
            )
        )
    me = MyRank(rank=1 + (counts["above"] or 0), score=score) if score else None
    return BoardPage(
        board=board,
        start=start,
        end=end,
        final=final,
        top=top,
        me=me,
        participants=counts["participants"] or 0,
    )
