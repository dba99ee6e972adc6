"""The histograms follow every change that moves a score."""

import dataclasses
import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command

from engagement import rules
from engagement.models import LedgerEntry, UserState
from engagement.services import state_change
from events import streaks
from leaderboards.models import BoardScore, WeeklyCheckins
from leaderboards.services import board_score_mismatches, boards_rebuild
from leaderboards.tests.helpers import board, check_in, days, top, utc
from rewards.services.staff import state_adjust
from users.services import user_update_profile
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

MAR_1 = dt.date(2026, 3, 1)


def test_a_reported_loss_leaves_the_streak_board_and_a_new_streak_joins_it():
    lost = UserFactory(display_name="Lost", timezone="UTC")
    kept = UserFactory(display_name="Kept", timezone="UTC")
    check_in(lost, days(MAR_1 - dt.timedelta(days=2), 3))  # 27 Feb to 1 Mar
    check_in(kept, days(MAR_1, 2))  # 1 and 2 March

    # 2 March ended without a check-in of Lost's: still listed until the
    # midnight tick reports the loss.
    assert top(board(kept, "streak", utc(2026, 3, 3, 0, 5))) == [(1, "Lost", 3), (2, "Kept", 2)]
    assert streaks.streaks_lost_report(now=utc(2026, 3, 3)) == 1
    body = board(kept, "streak", utc(2026, 3, 3, 0, 20))
    assert top(body) == [(1, "Kept", 2)]
    assert body["participants"] == 1
    assert board(lost, "streak", utc(2026, 3, 3, 0, 20))["me"] is None

    check_in(lost, [utc(2026, 3, 3, 9)])  # a new streak of 1
    body = board(lost, "streak", utc(2026, 3, 3, 10))
    assert top(body) == [(1, "Kept", 2), (2, "Lost", 1)]
    assert body["me"] == {"rank": 2, "score": 1}


def test_an_opted_out_users_loss_changes_no_count():
    user = UserFactory(timezone="UTC")
    check_in(user, days(MAR_1 - dt.timedelta(days=2), 3))
    user_update_profile(user_id=user.pk, now=utc(2026, 3, 1, 13), leaderboard_opt_in=False)
    assert streaks.streaks_lost_report(now=utc(2026, 3, 3)) == 1
    assert board_score_mismatches() == {}


def test_any_change_that_moves_the_streak_moves_the_board():
    user = UserFactory(display_name="Adj", timezone="UTC")
    check_in(user, days(MAR_1 + dt.timedelta(days=1), 2))  # Monday and Tuesday
    with state_change(user_id=user.pk, now=utc(2026, 3, 3, 13)) as change:
        after = dataclasses.replace(change.current, streak=0)
        change.record(
            LedgerEntry.Kind.ADMIN_ADJUST, "adjust", rules.Transition(change.current, after)
        )
    assert board(user, "streak", utc(2026, 3, 3, 14))["participants"] == 0
    assert board(user, "weekly", utc(2026, 3, 3, 14))["me"] == {"rank": 1, "score": 2}


def test_a_change_that_moves_no_score_writes_no_count():
    user = UserFactory(timezone="UTC")
    check_in(user, days(MAR_1, 1))
    before = list(BoardScore.objects.values_list("board", "score", "users"))
    state_adjust(user_id=user.pk, reason="goodwill", now=utc(2026, 3, 1, 13), loyalty=5)
    assert list(BoardScore.objects.values_list("board", "score", "users")) == before


def test_rebuild_recounts_rows_written_around_the_services():
    users = UserFactory.create_batch(3)
    for user in users:
        check_in(user, days(MAR_1, 2))
    UserState.objects.filter(user=users[0]).update(streak=9, longest_streak=9)
    BoardScore.objects.filter(board="streak").delete()
    assert board_score_mismatches()

    assert boards_rebuild() > 0
    assert board_score_mismatches() == {}
    assert board(users[1], "streak", utc(2026, 3, 2, 14))["me"] == {"rank": 2, "score": 2}


def test_the_migration_counts_the_checkins_made_before_the_boards():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("leaderboards.migrations.0002_count_existing_checkins")
    users = UserFactory.create_batch(3)
    for user in users:
        check_in(user, days(MAR_1, 3))
    before = stored_weeks()
    WeeklyCheckins.objects.all().delete()
    BoardScore.objects.all().delete()

    migration.count_existing(apps, None)
    assert stored_weeks() == before
    assert board_score_mismatches() == {}


def test_the_rebuild_command_checks_and_repairs():
    user = UserFactory()
    check_in(user, days(MAR_1, 2))
    call_command("rebuild_leaderboards", "--check", stdout=io.StringIO())
    BoardScore.objects.all().delete()
    with pytest.raises(CommandError):
        call_command("rebuild_leaderboards", "--check", stdout=io.StringIO())
    out = io.StringIO()
    call_command("rebuild_leaderboards", stdout=out)
    assert "Rebuilt" in out.getvalue()


def stored_weeks() -> list[tuple]:
    return sorted(WeeklyCheckins.objects.values_list("user_id", "week_start", "checkins"))
