"""The boards' writes: every change that moves a score appends its moves to
the histogram (``BoardScore``) in the same transaction, so a rank read from
it is exact; the rows are only ever inserted, so no two changes wait on one.

- a state change (``boards_record``, the envelope's after-change step): the
  streak board's move, and for a check-in one more in its week
  (``WeeklyCheckins``) with that week's move; all in the change's own write
  statement on PostgreSQL;
- an opt-in change (``opt_in_changed``, on ``users``' signal): the user's
  scores leave or join every board;
- a loss the periodic job reports (``streak_losses_reported``): the streak
  leaves the streak board;
- an erasure (``leaderboards_leave``): the user's scores leave.

Each runs under the user's state lock (the batch lock for the job), so the
state it reads is the one it changes. ``fold`` sums the appended rows, soon
after they are written (``fold_soon``) and every minute (``settings.SCHEDULE``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.db.models import Count

from base.soon import SoonAfterCommit
from engagement import rules
from engagement.models import STREAK_BOARD, LedgerEntry, UserState
from engagement.services import LockedState, StateChange
from engagement.statements import Counter, Histogram, LockedUser, Rows, insert_rows
from leaderboards.boards import STREAK_KEY, on_streak_board, week_start, weekly_key
from leaderboards.models import BoardScore, WeeklyCheckins

BOARDS_STEP = "leaderboards.record"
_COLUMNS = ("board", "score", "users")
ScoreRow = tuple[str, int, int]  # board, score, +1 or -1

# Folded within about two seconds of the first change a process commits.
fold_soon = SoonAfterCommit("leaderboards.tasks.fold", delay=dt.timedelta(seconds=2))


def _rows(rows: Sequence[ScoreRow]) -> Rows:
    return Rows(BoardScore, _COLUMNS, [list(row) for row in rows])


def _streak_rows(
    *,
    before: rules.State,
    after: rules.State,
    loss_reported_for: dt.date | None,
) -> list[ScoreRow]:
    rows: list[ScoreRow] = []
    for state, amount in ((before, -1), (after, 1)):
        if on_streak_board(
            streak=state.streak,
            last_checkin_date=state.last_checkin_date,
            loss_reported_for=loss_reported_for,
        ):
            rows.append((STREAK_KEY, state.streak, amount))
    if len(rows) == 2 and rows[0][1] == rows[1][1]:
        return []  # the same score: no move
    return rows


def boards_record(change: StateChange) -> None:
    """The envelope's after-change step: hand the change's moves on the boards
    to its write: rows appended to the histogram, and for a check-in one more
    in its week (``StateChange.count_with``) with that week's move."""
    locked = change.locked
    shown = locked.leaderboard_opt_in
    rows = (
        _streak_rows(
            before=locked.state,
            after=change.current,
            loss_reported_for=locked.loss_reported_for,
        )
        if shown
        else []
    )
    if rows:
        change.write_with(_rows(rows))
    days = [step.ref for step in change.steps if step.kind == LedgerEntry.Kind.CHECKIN]
    if len(days) > 1:
        raise RuntimeError("a change holds one check-in at most")
    if days:
        monday = week_start(dt.date.fromisoformat(days[0]))
        histogram = (
            Histogram(BoardScore, {"board": weekly_key(monday)}, score="score", amount="users")
            if shown
            else None
        )
        change.count_with(
            Counter(
                model=WeeklyCheckins,
                key={"user": change.user_id, "week_start": monday},
                count="checkins",
                histogram=histogram,
            )
        )
    if rows or (days and shown):
        fold_soon.after_commit()


def _user_rows(*, locked: LockedUser, amount: int) -> list[ScoreRow]:
    """Every score of the user on every board (current and past weeks), each
    with ``amount``: what joins or leaves the histograms with the user."""
    rows: list[ScoreRow] = []
    state = locked.state
    if on_streak_board(
        streak=state.streak,
        last_checkin_date=state.last_checkin_date,
        loss_reported_for=locked.loss_reported_for,
    ):
        rows.append((STREAK_KEY, state.streak, amount))
    weeks = WeeklyCheckins.objects.filter(user_id=locked.user_id).values_list(
        "week_start", "checkins"
    )
    rows += [(weekly_key(monday), checkins, amount) for monday, checkins in weeks]
    return rows


def opt_in_changed(*, user_id: uuid.UUID, opt_in: bool, locked: LockedUser, **_: Any) -> None:
    """``users.signals.leaderboard_opt_in_changed``: the user's scores join
    (or leave) the boards, in the transaction that changed the flag, under its
    state lock (the weekly rows are read after it)."""
    _append(_user_rows(locked=locked, amount=1 if opt_in else -1))


def leaderboards_leave(*, locked: LockedUser) -> None:
    """An account being erased leaves the boards (its rows are deleted with
    it). The caller holds the state lock."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("leaderboards_leave() must run in the erasure's transaction.")
    if locked.leaderboard_opt_in:
        _append(_user_rows(locked=locked, amount=-1))


def streak_losses_reported(*, rows: Iterable[LockedState]) -> None:
    """The periodic job reported these (locked) users' losses: their streaks
    leave the streak board. One statement for the batch, in its transaction."""
    moves: list[ScoreRow] = []
    for row in rows:
        state = row.state
        if row.leaderboard_opt_in and on_streak_board(
            streak=state.streak,
            last_checkin_date=state.last_checkin_date,
            loss_reported_for=row.loss_reported_for,
        ):
            moves.append((STREAK_KEY, state.streak, -1))
    _append(moves)


def _append(rows: Sequence[ScoreRow]) -> None:
    if rows:
        insert_rows(_rows(rows))
        fold_soon.after_commit()


# --- Fold ------------------------------------------------------------------------------
FOLD_BATCH = 20_000
FOLD_BATCHES = 10


def fold() -> int:
    """Sum the appended rows of each (board, score) into one. Rows are claimed
    with SKIP LOCKED and replaced in one transaction per batch: a reader sees
    the rows before or after, with the same sums, and two folds at once fold
    different rows. Returns the rows removed."""
    removed = 0
    for _ in range(FOLD_BATCHES):
        with transaction.atomic():
            claimed = list(
                BoardScore.objects.select_for_update(skip_locked=True)
                .order_by("id")
                .values_list("id", "board", "score", "users")[:FOLD_BATCH]
            )
            totals: dict[tuple[str, int], int] = {}
            ids: dict[tuple[str, int], list[int]] = {}
            for row_id, board, score, users in claimed:
                totals[(board, score)] = totals.get((board, score), 0) + users
                ids.setdefault((board, score), []).append(row_id)
            # Only what changes: a key with several rows, or a sum of zero.
            folded = [key for key, rows in ids.items() if len(rows) > 1 or not totals[key]]
            gone = [row_id for key in folded for row_id in ids[key]]
            for start in range(0, len(gone), 5000):
                BoardScore.objects.filter(id__in=gone[start : start + 5000]).delete()
            BoardScore.objects.bulk_create(
                [
                    BoardScore(board=board, score=score, users=totals[(board, score)])
                    for board, score in folded
                    if totals[(board, score)]
                ],
                batch_size=5000,
            )
            removed += len(gone)
        if len(claimed) < FOLD_BATCH:
            break
    return removed


# --- Rebuild and check -----------------------------------------------------------------
def expected_scores() -> dict[tuple[str, int], int]:
    """The histograms as the rows say they should be (no zero counts)."""
    expected: dict[tuple[str, int], int] = {}
    streaks = UserState.objects.filter(STREAK_BOARD).values("streak").annotate(users=Count("*"))
    for row in streaks:
        expected[(STREAK_KEY, row["streak"])] = row["users"]
    weeks = (
        WeeklyCheckins.objects.filter(user__leaderboard_opt_in=True)
        .values("week_start", "checkins")
        .annotate(users=Count("*"))
    )
    for week in weeks:
        expected[(weekly_key(week["week_start"]), week["checkins"])] = week["users"]
    return expected


def stored_scores() -> dict[tuple[str, int], int]:
    stored: dict[tuple[str, int], int] = {}
    for board, score, users in BoardScore.objects.values_list("board", "score", "users"):
        stored[(board, score)] = stored.get((board, score), 0) + users
    return {key: users for key, users in stored.items() if users}


def board_score_mismatches() -> dict[tuple[str, int], tuple[int, int]]:
    """Histogram sums that differ from the rows they count: {key: (stored,
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
                BoardScore(board=board, score=score, users=users)
                for (board, score), users in sorted(expected.items())
            ],
            batch_size=5000,
        )
    return len(expected)
