"""Which zones a tick selects: computed from its ``now`` alone, with the zone
rules of the pinned tzdata (no database)."""

import datetime as dt

import pytest

from events.streaks import WINDOW, zones_at_local_hour
from users.timezones import TIMEZONE_NAMES, zone


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def selected(now: dt.datetime, hour: int, names: list[str]) -> dict[str, dt.date]:
    return {
        name: group.today
        for group in zones_at_local_hour(now=now, hour=hour, names=names)
        for name in group.zones
    }


def test_utc_plus_14_reaches_8_pm_at_6_utc_the_same_day():
    names = ["Pacific/Kiritimati"]

    assert selected(utc(2026, 3, 2, 5, 45), 20, names) == {}
    for minute in (0, 15, 30, 45):  # the hour's four ticks
        assert selected(utc(2026, 3, 2, 6, minute), 20, names) == {
            "Pacific/Kiritimati": dt.date(2026, 3, 2)
        }
    assert selected(utc(2026, 3, 2, 7, 0), 20, names) == {}


def test_utc_minus_11_reaches_8_pm_at_7_utc_the_next_day():
    names = ["Pacific/Pago_Pago"]

    assert selected(utc(2026, 3, 3, 7, 0), 20, names) == {"Pacific/Pago_Pago": dt.date(2026, 3, 2)}
    assert selected(utc(2026, 3, 3, 6, 45), 20, names) == {}


def test_midnight_is_on_two_dates_at_one_instant():
    # 10:00 UTC: a new day begins at UTC+14 and at UTC-10, a calendar day apart.
    groups = zones_at_local_hour(now=utc(2026, 3, 2, 10), hour=0)

    by_zone = {name: g.today for g in groups for name in g.zones}
    assert by_zone["Pacific/Kiritimati"] == dt.date(2026, 3, 3)
    assert by_zone["Pacific/Honolulu"] == dt.date(2026, 3, 2)
    assert [g.today for g in groups] == [dt.date(2026, 3, 2), dt.date(2026, 3, 3)]
    assert "UTC" not in by_zone
    assert "Europe/Berlin" not in by_zone


@pytest.mark.parametrize(
    ("name", "before", "after"),
    [
        # Berlin: CET -> CEST on 29 March 2026, CEST -> CET on 25 October.
        ("Europe/Berlin", utc(2026, 3, 28, 19), utc(2026, 3, 29, 18)),
        ("Europe/Berlin", utc(2026, 10, 24, 18), utc(2026, 10, 25, 19)),
        # New York: EST -> EDT on 8 March 2026.
        ("America/New_York", utc(2026, 3, 8, 1), utc(2026, 3, 9, 0)),
    ],
)
def test_8_pm_local_moves_in_utc_across_a_dst_change(name, before, after):
    assert selected(before, 20, [name]) == {name: before.astimezone(zone(name)).date()}
    assert selected(after, 20, [name]) == {name: after.astimezone(zone(name)).date()}
    # The UTC hour of the other side is not 8 pm there.
    other_side = dt.datetime.combine(after.date(), before.time(), tzinfo=dt.UTC)
    assert selected(other_side, 20, [name]) == {}
    assert after.astimezone(zone(name)).hour == before.astimezone(zone(name)).hour == 20


def ticks(start: dt.datetime, end: dt.datetime):
    now = start
    while now < end:
        yield now
        now += dt.timedelta(minutes=15)


@pytest.mark.parametrize("hour", [0, 20])
@pytest.mark.parametrize(
    ("name", "around"),
    [
        ("Europe/Berlin", utc(2026, 3, 29)),
        ("Europe/Berlin", utc(2026, 10, 25)),
        ("America/New_York", utc(2026, 3, 8)),
        ("America/New_York", utc(2026, 11, 1)),
        # Midnight itself is skipped (spring) or repeated (autumn) here.
        ("America/Havana", utc(2026, 3, 8)),
        ("America/Havana", utc(2026, 11, 1)),
        ("America/Santiago", utc(2026, 9, 6)),
        ("Pacific/Kiritimati", utc(2026, 3, 2)),
        ("Pacific/Pago_Pago", utc(2026, 3, 2)),
        ("Asia/Kathmandu", utc(2026, 3, 2)),  # UTC+5:45
        ("Pacific/Chatham", utc(2026, 4, 5)),  # UTC+12:45 / +13:45, DST ends
    ],
)
def test_every_local_day_is_selected_on_one_hour_of_ticks(name, around, hour):
    """Over four days of quarter-hour ticks around a DST change, each local
    date is selected on exactly four consecutive ticks (so a late or missed
    tick is made up within the hour), the first at the hour's beginning."""
    seen: dict[dt.date, list[dt.datetime]] = {}
    for now in ticks(around - dt.timedelta(days=2), around + dt.timedelta(days=2)):
        for group in zones_at_local_hour(now=now, hour=hour, names=[name]):
            seen.setdefault(group.today, []).append(now)

    tz = zone(name)
    dates = sorted(seen)
    assert len(dates) >= 3
    assert dates == [dates[0] + dt.timedelta(days=i) for i in range(len(dates))]
    for today, when in seen.items():
        if len(when) < 4:  # cut by the span's edges only
            assert when[0] == around - dt.timedelta(days=2) or when[-1] > around
            continue
        assert len(when) == 4
        assert when == [when[0] + dt.timedelta(minutes=15 * i) for i in range(4)]
        local = when[0].astimezone(tz)
        assert local.date() == today
        assert (local.hour, local.minute) in {(hour, 0), (hour + 1, 0)}  # +1: the clocks jumped


def test_every_zone_is_selected_once_a_day_for_each_hour():
    day = [utc(2026, 6, 1) + dt.timedelta(minutes=15 * i) for i in range(96)]
    counts: dict[str, int] = {}
    for now in day:
        for group in zones_at_local_hour(now=now, hour=20):
            for name in group.zones:
                counts[name] = counts.get(name, 0) + 1

    assert set(counts) == set(TIMEZONE_NAMES)
    assert set(counts.values()) == {4}  # the hour's four ticks


def test_the_schedule_ticks_on_every_zones_hour(settings):
    """Four ticks an hour, and every zone's offset a multiple of the period:
    each zone's local hour begins on a tick."""
    job = settings.SCHEDULE["streak-reminders"]
    every = dt.timedelta(seconds=job["every"])

    assert job["task"] == "events.tasks.streak_tick"
    assert every * 4 == WINDOW
    for moment in (utc(2026, 1, 15), utc(2026, 7, 15)):
        for name in TIMEZONE_NAMES:
            offset = moment.astimezone(zone(name)).utcoffset()
            assert offset is not None
            assert offset % every == dt.timedelta(0), name
