"""Boards read while check-ins, opt-outs and folds of the histogram race, on
PostgreSQL with real threads: a read never shows a user twice or a rank out
of order, the caller's rank agrees with the top, and the histograms end
equal to the rows."""

import datetime as dt
import threading

import pytest
from django.db import connection

from base.testing import run_concurrently
from checkins.services import checkin_create
from engagement.invariants import ledger_replay_mismatches
from leaderboards.selectors import BoardPage, board_read
from leaderboards.services import board_score_mismatches, fold
from leaderboards.tests.helpers import MONDAY, at
from users.models import User
from users.services import user_update_profile
from users.tests.factories import UserFactory

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks and snapshots: PostgreSQL only"
)

WRITERS, READERS, FOLDERS = 5, 2, 2
USERS_PER_WRITER = 8
DAYS = 5


def assert_consistent(page: BoardPage) -> None:
    ids = [row.user_id for row in page.top]
    assert len(ids) == len(set(ids)), "a user listed twice"
    for position, row in enumerate(page.top, start=1):
        if position == 1:
            assert row.rank == 1
            continue
        previous = page.top[position - 2]
        assert row.score <= previous.score
        assert row.rank == (previous.rank if row.score == previous.score else position)
    assert len(page.top) <= page.participants
    if page.me is not None:
        assert 1 <= page.me.rank <= page.participants
        above = sum(1 for row in page.top if row.score > page.me.score)
        if len(page.top) < page.participants or not page.top:
            assert page.me.rank >= above + 1
        else:
            assert page.me.rank == above + 1


@postgresql_only
@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_boards_read_during_racing_checkins_opt_outs_and_folds_stay_consistent(monkeypatch):
    monkeypatch.setattr("webhooks.subscriptions.subscribed_types", frozenset)
    users = UserFactory.create_batch(WRITERS * USERS_PER_WRITER, timezone="UTC")
    reader = users[0]
    done = threading.Event()
    pages: list[BoardPage] = []

    def write(index: int) -> int:
        mine = users[index * USERS_PER_WRITER : (index + 1) * USERS_PER_WRITER]
        for day in range(DAYS):
            for position, user in enumerate(mine):
                if (position + day) % 3 == 0 and day > 0:
                    continue  # some skip a day: streaks of all lengths
                checkin_create(user_id=user.pk, now=at(MONDAY + dt.timedelta(days=day), 9))
            # One user of each writer toggles the opt-in between days.
            user_update_profile(
                user_id=mine[1].pk,
                now=at(MONDAY + dt.timedelta(days=day), 10),
                leaderboard_opt_in=day % 2 == 1,
            )
        return len(mine)

    def read(index: int) -> int:
        count = 0
        while not done.is_set() or count < 5:
            for board in ("streak", "weekly"):
                page = board_read(
                    user_id=reader.pk,
                    board=board,
                    period="current",
                    limit=100 if index else 7,
                    now=at(MONDAY + dt.timedelta(days=4), 23),
                )
                assert_consistent(page)
                pages.append(page)
            count += 1
        return count

    writers_left = [WRITERS]
    lock = threading.Lock()

    def fold_while_writing() -> int:
        folds = 0
        while not done.is_set():
            fold()
            folds += 1
        return folds + (fold() >= 0)

    def action(index: int) -> int:
        if index >= WRITERS + READERS:
            return fold_while_writing()
        if index >= WRITERS:
            return read(index - WRITERS)
        try:
            return write(index)
        finally:
            with lock:
                writers_left[0] -= 1
                if writers_left[0] == 0:
                    done.set()

    results = run_concurrently(WRITERS + READERS + FOLDERS, action)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    assert all(r > 0 for r in results[WRITERS:])
    assert len(pages) >= READERS * 2 * 5

    assert board_score_mismatches() == {}
    assert all(ledger_replay_mismatches(user_id=user.pk) == [] for user in users)
    final = board_read(
        user_id=reader.pk,
        board="weekly",
        period="current",
        limit=100,
        now=at(MONDAY + dt.timedelta(days=4), 23),
    )
    shown = User.objects.filter(leaderboard_opt_in=True).count()
    assert final.participants == shown
    assert_consistent(final)
