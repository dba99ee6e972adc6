"""The weekly board counts each user's check-ins in their own local ISO week;
the previous week is provisional until it has ended in every zone."""

import pytest

from leaderboards.models import WeeklyCheckins
from leaderboards.tests.helpers import board, check_in, top, utc
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def week_of(user) -> list[tuple[str, int]]:
    rows = WeeklyCheckins.objects.filter(user=user).order_by("week_start")
    return [(row.week_start.isoformat(), row.checkins) for row in rows]


def test_utc_plus_14_starts_its_week_ten_hours_before_utc():
    # Sunday 8 March 10:30 UTC is Monday 9 March 00:30 at Kiritimati.
    moment = utc(2026, 3, 8, 10, 30)
    kiri = UserFactory(display_name="Kiri", timezone="Pacific/Kiritimati")
    london = UserFactory(display_name="Lon", timezone="UTC")
    check_in(kiri, [moment])
    check_in(london, [moment])

    assert week_of(kiri) == [("2026-03-09", 1)]
    assert week_of(london) == [("2026-03-02", 1)]
    mine = board(kiri, "weekly", moment)
    assert mine["period"] == {"start": "2026-03-09", "end": "2026-03-15"}
    assert top(mine) == [(1, "Kiri", 1)]
    theirs = board(london, "weekly", moment)
    assert theirs["period"] == {"start": "2026-03-02", "end": "2026-03-08"}
    assert top(theirs) == [(1, "Lon", 1)]
    # For Kiritimati the week of 2 March is the previous one.
    previous = board(kiri, "weekly", moment, period="previous")
    assert previous["period"] == {"start": "2026-03-02", "end": "2026-03-08"}
    assert top(previous) == [(1, "Lon", 1)]
    assert previous["me"] is None


def test_utc_minus_11_ends_its_week_eleven_hours_after_utc():
    # Monday 9 March 10:30 UTC is Sunday 8 March 23:30 at Pago Pago.
    moment = utc(2026, 3, 9, 10, 30)
    pago = UserFactory(display_name="Pago", timezone="Pacific/Pago_Pago")
    check_in(pago, [moment])

    assert week_of(pago) == [("2026-03-02", 1)]
    assert board(pago, "weekly", moment)["period"]["start"] == "2026-03-02"
    assert board(pago, "weekly", moment)["me"] == {"rank": 1, "score": 1}
    # A UTC user is in the next week already: for them it is the previous one.
    utc_user = UserFactory(timezone="UTC")
    assert board(utc_user, "weekly", moment)["participants"] == 0
    assert top(board(utc_user, "weekly", moment, period="previous")) == [(1, "Pago", 1)]


@pytest.mark.parametrize(
    ("moment", "week"),
    [
        # Spring forward: Sunday 29 March 2026, 02:00 CET -> 03:00 CEST (UTC+2).
        (utc(2026, 3, 29, 21, 30), "2026-03-23"),  # 23:30 CEST, Sunday
        (utc(2026, 3, 29, 22, 30), "2026-03-30"),  # 00:30 CEST, Monday
        # Fall back: Sunday 25 October 2026, 03:00 CEST -> 02:00 CET (UTC+1).
        (utc(2026, 10, 25, 22, 30), "2026-10-19"),  # 23:30 CET, Sunday
        (utc(2026, 10, 25, 23, 30), "2026-10-26"),  # 00:30 CET, Monday
    ],
)
def test_berlin_across_daylight_saving_time(moment, week):
    berlin = UserFactory(timezone="Europe/Berlin")
    check_in(berlin, [moment])
    assert week_of(berlin) == [(week, 1)]
    body = board(berlin, "weekly", moment)
    assert body["period"]["start"] == week
    assert body["me"] == {"rank": 1, "score": 1}


def test_a_week_of_berlin_check_ins_across_the_switch_counts_seven():
    berlin = UserFactory(timezone="Europe/Berlin")
    # Monday 23 to Sunday 29 March 2026, 23:30 local each day (the last in CEST).
    moments = [utc(2026, 3, 23 + i, 22, 30) for i in range(6)] + [utc(2026, 3, 29, 21, 30)]
    check_in(berlin, moments)
    assert week_of(berlin) == [("2026-03-23", 7)]
    assert board(berlin, "weekly", moments[-1])["me"] == {"rank": 1, "score": 7}


def test_the_previous_week_is_provisional_until_it_ended_everywhere():
    reader = UserFactory(timezone="UTC")
    early = UserFactory(display_name="Early", timezone="UTC")
    check_in(early, [utc(2026, 3, 8, 9)])  # Sunday
    monday_morning = utc(2026, 3, 9, 9)

    before = board(reader, "weekly", monday_morning, period="previous")
    assert before["period"] == {"start": "2026-03-02", "end": "2026-03-08"}
    assert before["final"] is False
    assert before["participants"] == 1

    # Still Sunday in Pago Pago: its check-in lands in the previous week.
    late = UserFactory(display_name="Late", timezone="Pacific/Pago_Pago")
    check_in(late, [utc(2026, 3, 9, 10, 30)])
    after = board(reader, "weekly", utc(2026, 3, 9, 13, 59), period="previous")
    assert after["final"] is False
    assert after["participants"] == 2

    final = board(reader, "weekly", utc(2026, 3, 9, 14), period="previous")
    assert final["final"] is True
    assert [row[1] for row in top(final)] == sorted(
        ["Early", "Late"], key=lambda n: {"Early": early.pk, "Late": late.pk}[n]
    )
    assert board(reader, "weekly", utc(2026, 3, 9, 14))["final"] is False


def test_a_new_week_starts_at_zero():
    user = UserFactory(timezone="UTC")
    check_in(user, [utc(2026, 3, 7, 9), utc(2026, 3, 8, 9), utc(2026, 3, 9, 9)])
    assert week_of(user) == [("2026-03-02", 2), ("2026-03-09", 1)]
    assert board(user, "weekly", utc(2026, 3, 9, 10))["me"] == {"rank": 1, "score": 1}
    assert board(user, "weekly", utc(2026, 3, 9, 10), period="previous")["me"] == {
        "rank": 1,
        "score": 2,
    }
    assert board(user, "streak", utc(2026, 3, 9, 10))["me"] == {"rank": 1, "score": 3}
