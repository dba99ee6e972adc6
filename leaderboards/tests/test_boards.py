"""The boards' pure rules."""

import datetime as dt
import uuid

from leaderboards import boards


def test_week_start_is_the_iso_monday():
    assert boards.week_start(dt.date(2026, 3, 2)) == dt.date(2026, 3, 2)  # Monday
    assert boards.week_start(dt.date(2026, 3, 8)) == dt.date(2026, 3, 2)  # Sunday
    assert boards.week_start(dt.date(2026, 3, 9)) == dt.date(2026, 3, 9)
    assert boards.week_start(dt.date(2027, 1, 1)) == dt.date(2026, 12, 28)  # ISO week 53


def test_a_week_is_final_14_hours_after_it_ends_in_utc():
    assert boards.week_final_at(dt.date(2026, 3, 2)) == dt.datetime(2026, 3, 9, 14, tzinfo=dt.UTC)


def test_competition_ranks_share_a_rank_and_skip_after_ties():
    ids = [uuid.UUID(int=i) for i in range(5)]
    rows = [
        (ids[0], "a", 9),
        (ids[1], "b", 7),
        (ids[2], "c", 7),
        (ids[3], "d", 5),
        (ids[4], "e", 5),
    ]
    assert [(r.rank, r.score) for r in boards.ranked(rows)] == [
        (1, 9),
        (2, 7),
        (2, 7),
        (4, 5),
        (4, 5),
    ]


def test_the_alias_is_stable_neutral_and_names_neither_id_nor_email():
    user_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    alias = boards.alias(user_id)
    assert alias == boards.alias(user_id)
    assert alias.startswith("Player ")
    assert len(alias) == len("Player ") + 8
    assert user_id.hex[:8] not in alias
    assert alias != boards.alias(uuid.UUID(int=1))
    ranked = next(boards.ranked([(user_id, "", 3)]))
    assert ranked.display_name == alias


def test_a_reported_loss_is_off_the_streak_board():
    day = dt.date(2026, 3, 1)
    assert boards.on_streak_board(streak=3, last_checkin_date=day, loss_reported_for=None)
    assert boards.on_streak_board(
        streak=3, last_checkin_date=day, loss_reported_for=day - dt.timedelta(days=9)
    )
    assert not boards.on_streak_board(streak=3, last_checkin_date=day, loss_reported_for=day)
    assert not boards.on_streak_board(streak=0, last_checkin_date=None, loss_reported_for=None)
