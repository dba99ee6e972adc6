"""The boards' writes: every change that moves a score moves the histogram
(``BoardScore``) in the same transaction, so a rank read from it is exact.

- a state change (``boards_record``, the envelope's after-change step): the
  streak board's move, and for a check-in one more in its week
  (``WeeklyCheckins``) with that week's histogram; all in the change's own
  write statement on PostgreSQL;
- an opt-in change (``opt_in_changed``, on ``users``' signal): the user's
  scores leave or join every histogram;
- a loss the periodic job reports (``streak_losses_reported``): the streak
  leaves the streak board;
- an erasure (``leaderboards_leave``): the user's scores leave.

Each runs under the user's state lock (the batch lock for the job), so the
state it reads is the one it changes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.db.models import CharField, Count, Value
from django.db.models.functions import Cast, Right, StrIndex

from engagement import rules
from engagement.models import STREAK_BOARD, LedgerEntry, UserState
from engagement.services import LockedState, StateChange
from engagement.statements import Counter, LockedUser, Tally, tally_add
from leaderboards.boards import (
    SHARDS,
    STREAK_KEY,
    on_streak_board,
    shard_of,
    week_start,
    weekly_key,
)
from leaderboards.models import BoardScore, WeeklyCheckins

BOARDS_STEP = "leaderboards.record"
_KEYS = ("board", "score", "shard")
TallyRow = tuple[str, int, int, int]


def _tally(rows: Sequence[TallyRow] = (), **more: Any) -> Tally:
    return Tally(model=BoardScore, keys=_KEYS, amount="users", rows=rows, **more)


def _streak_rows(
    *,
    user_id: uuid.UUID,
    before: rules.State,
    after: rules.State,
    loss_reported_for: dt.date | None,
) -> list[TallyRow]:
    shard = shard_of(user_id)
    rows: list[TallyRow] = []
    for state, amount in ((before, -1), (after, 1)):
        if on_streak_board(
            streak=state.streak,
            last_checkin_date=state.last_checkin_date,
            loss_reported_for=loss_reported_for,
        ):
            rows.append((STREAK_KEY, state.streak, shard, amount))
    return rows


def boards_record(change: StateChange) -> None:
    """The envelope's after-change step: hand the change's moves on the boards
    to its write (``StateChange.tally_with``)."""
    locked = change.locked
    shown = locked.leaderboard_opt_in
    rows = (
        _streak_rows(
            user_id=change.user_id,
            before=locked.state,
            after=change.current,
            loss_reported_for=locked.loss_reported_for,
        )
        if shown
        else []
    )
    days = [step.ref for step in change.steps if step.kind == LedgerEntry.Kind.CHECKIN]
    if len(days) > 1:
        raise RuntimeError("a change holds one check-in at most")
    if days:
        monday = week_start(dt.date.fromisoformat(days[0]))
        counter = Counter(
            model=WeeklyCheckins,
            key={"user": change.user_id, "week_start": monday},
            count="checkins",
        )
        moved = {"board": weekly_key(monday), "shard": shard_of(change.user_id)} if shown else None
        change.tally_with(_tally(rows, counter=counter, score="score", moved=moved))
    elif rows:
        change.tally_with(_tally(rows))


def _user_rows(*, locked: LockedUser, amount: int) -> list[TallyRow]:
    """Every score of the user on every board (current and past weeks), each
    with ``amount``: what joins or leaves the histograms with the user."""
    shard = shard_of(locked.user_id)
    rows: list[TallyRow] = []
    state = locked.state
    if on_streak_board(
        streak=state.streak,
        last_checkin_date=state.last_checkin_date,
        loss_reported_for=locked.loss_reported_for,
    ):
        rows.append((STREAK_KEY, state.streak, shard, amount))
    weeks = WeeklyCheckins.objects.filter(user_id=locked.user_id).values_list(
        "week_start", "checkins"
    )
    rows += [(weekly_key(monday), checkins, shard, amount) for monday, checkins in weeks]
    return rows


def opt_in_changed(*, user_id: uuid.UUID, opt_in: bool, locked: LockedUser, **_: Any) -> None:
    """``users.signals.leaderboard_opt_in_changed``: the user's scores join
    (or leave) the boards, in the transaction that changed the flag, under its
    state lock (the weekly rows are read after it)."""
    tally_add(_tally(_user_rows(locked=locked, amount=1 if opt_in else -1)))


def leaderboards_leave(*, locked: LockedUser) -> None:
    """An account being erased leaves the boards (its rows are deleted with
    it). The caller holds the state lock."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("leaderboards_leave() must run in the erasure's transaction.")
    if locked.leaderboard_opt_in:
        tally_add(_tally(_user_rows(locked=locked, amount=-1)))


def streak_losses_reported(*, rows: Iterable[LockedState]) -> None:
    """The periodic job reported these (locked) users' losses: their streaks
    leave the streak board. One statement for the batch, in its transaction."""
    tally: list[TallyRow] = []
    for row in rows:
        state = row.state
        if row.leaderboard_opt_in and on_streak_board(
            streak=state.streak,
            last_checkin_date=state.last_checkin_date,
            loss_reported_for=row.loss_reported_for,
        ):
            tally.append((STREAK_KEY, state.streak, shard_of(row.user_id), -1))
    tally_add(_tally(tally))


# --- Rebuild and check -----------------------------------------------------------------
def _shard_expression(field: str) -> Any:
    """``shard_of`` in SQL: the id modulo 16 is its last hex digit (PostgreSQL
    stores a uuid, SQLite its 32 hex digits)."""
    last = Right(Cast(field, CharField()), 1)
    return StrIndex(Value("0123456789abcdef"), last) - 1


def expected_scores() -> dict[tuple[str, int, int], int]:
    """The histograms as the rows say they should be (no zero counts)."""
    assert SHARDS == 16, "_shard_expression reads one hex digit"
    expected: dict[tuple[str, int, int], int] = {}
    streaks = (
        UserState.objects.filter(STREAK_BOARD)
        .annotate(shard=_shard_expression("user_id"))
        .values("streak", "shard")
        .annotate(users=Count("*"))
    )
    for row in streaks:
        expected[(STREAK_KEY, row["streak"], row["shard"])] = row["users"]
    weeks = (
        WeeklyCheckins.objects.filter(user__leaderboard_opt_in=True)
        .annotate(shard=_shard_expression("user_id"))
        .values("week_start", "checkins", "shard")
        .annotate(users=Count("*"))
    )
    for week in weeks:
        key = (weekly_key(week["week_start"]), week["checkins"], week["shard"])
        expected[key] = week["users"]
    return expected


def stored_scores() -> dict[tuple[str, int, int], int]:
    stored = BoardScore.objects.exclude(users=0).values_list("board", "score", "shard", "users")
    return {(board, score, shard): users for board, score, shard, users in stored}


def board_score_mismatches() -> dict[tuple[str, int, int], tuple[int, int]]:
    """Histogram rows that differ from the rows they count: {key: (stored,
    expected)}. Empty when every change kept them in step."""
    stored, expected = stored_scores(), expected_scores()
    return {
        key: (stored.get(key, 0), expected.get(key, 0))
        for key in stored.keys() | expected.keys()
        if stored.get(key, 0) != expected.get(key, 0)
    }


def boards_rebuild() -> int:
    """Recount every histogram from the rows: after a bulk load (the
    benchmark), or to repair drift. For a quiet database: a change committed
    between its count and its write would be lost from the histogram (run it
    again). Returns the histogram rows written."""
    with transaction.atomic():
        expected = expected_scores()
        BoardScore.objects.all().delete()
        BoardScore.objects.bulk_create(
            [
                BoardScore(board=board, score=score, shard=shard, users=users)
                for (board, score, shard), users in sorted(expected.items())
            ],
            batch_size=5000,
        )
    return len(expected)
