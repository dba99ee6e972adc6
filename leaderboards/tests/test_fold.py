"""The histogram is append-only on the hot path and folded now and then: a
fold changes no sum and no board, and no check-in ever updates a row another
one could be waiting on."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from leaderboards import services
from leaderboards.models import BoardScore
from leaderboards.services import board_score_mismatches, fold, stored_scores
from leaderboards.tests.helpers import MONDAY, at, board, check_in, days
from users.tests.factories import UserFactory


@pytest.mark.django_db
def test_a_fold_leaves_one_row_per_score_and_every_board_as_it_was():
    users = UserFactory.create_batch(6, timezone="UTC")
    for position, user in enumerate(users):
        check_in(user, days(MONDAY, position + 1))
    now = at(MONDAY + dt.timedelta(days=6), 20)
    before = {name: board(users[0], name, now) for name in ("streak", "weekly")}
    sums = stored_scores()
    appended = BoardScore.objects.count()

    assert fold() > 0

    rows = list(BoardScore.objects.values_list("board", "score"))
    assert len(rows) == len(set(rows)) == len(sums) < appended
    assert stored_scores() == sums
    assert board_score_mismatches() == {}
    assert {name: board(users[0], name, now) for name in ("streak", "weekly")} == before
    assert fold() == 0  # nothing left to fold


@pytest.mark.django_db
def test_a_score_whose_rows_cancel_out_is_folded_away():
    user = UserFactory(timezone="UTC")
    check_in(user, days(MONDAY, 2))  # streak 1 then 2: +1/-1 at 1 cancel

    fold()

    assert set(BoardScore.objects.filter(board="streak").values_list("score", "users")) == {(2, 1)}


@pytest.mark.django_db
def test_a_checkin_only_inserts_into_the_histogram():
    user = UserFactory(timezone="UTC")
    check_in(user, days(MONDAY, 1))
    with CaptureQueriesContext(connection) as queries:
        check_in(user, [at(MONDAY + dt.timedelta(days=1), 9)])

    touching = [q["sql"] for q in queries if "leaderboards_boardscore" in q["sql"]]
    assert touching, "the check-in moves its scores"
    for sql in touching:
        assert 'UPDATE "leaderboards_boardscore"' not in sql
        assert 'DELETE FROM "leaderboards_boardscore"' not in sql
        assert "ON CONFLICT" not in sql.split('"leaderboards_boardscore"', 1)[1].split(")", 1)[0]


@pytest.mark.django_db(transaction=True)
def test_changes_of_a_busy_process_enqueue_one_fold():
    services.fold_soon.forget()
    users = UserFactory.create_batch(5, timezone="UTC")
    now = at(MONDAY, 9)
    for user in users:
        check_in(user, [now])

    tasks = DBTaskResult.objects.filter(task_path="leaderboards.tasks.fold")
    assert tasks.count() == 1
    assert tasks.get().run_after > tasks.get().enqueued_at
    services.fold_soon.forget()
