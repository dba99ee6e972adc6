"""The periodic streak jobs: ``streak.at_risk`` at most once a local day,
``streak.lost`` exactly once a loss, whoever finds it first (the job or the
check-in). Every tick is given its ``now``, like the scheduler's slot."""

import datetime as dt

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from checkins.services import checkin_create
from engagement.models import UserState
from engagement.tests.factories import UserStateFactory
from events import streaks, tasks
from events.models import Event
from scheduler.services import enqueue_due
from users.models import User
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
MAR_1, MAR_2, MAR_3 = dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _no_webhook_endpoints(monkeypatch):
    """No endpoint listens (without a per-process snapshot read that would
    show up in the query counts)."""
    monkeypatch.setattr("webhooks.subscriptions.subscribed_types", frozenset)


def streaker(zone="UTC", *, streak=3, last=MAR_1, freezes=0, **user):
    """A user in ``zone`` whose streak of ``streak`` ended on ``last``."""
    state = UserStateFactory(
        user=UserFactory(timezone=zone, **user),
        streak=streak,
        longest_streak=streak,
        total_checkins=streak,
        streak_freezes=freezes,
        last_checkin_date=last,
    )
    return state.user


def streak_events(user) -> list[tuple[str, dict]]:
    rows = Event.objects.filter(user_id=user.pk, type__startswith="streak.")
    return [
        (e.type, {k: v for k, v in e.data.items() if k != "user_id"})
        for e in rows.order_by("created_at", "id")
    ]


def lost(date, lost_streak, last) -> tuple[str, dict]:
    return (
        "streak.lost",
        {"date": str(date), "lost_streak": lost_streak, "last_checkin_date": str(last)},
    )


def at_risk(date, streak, freezes_needed=0) -> tuple[str, dict]:
    return (
        "streak.at_risk",
        {"date": str(date), "streak": streak, "freezes_needed": freezes_needed},
    )


# --- streak.at_risk ------------------------------------------------------------------------


def test_at_8_pm_local_a_streak_a_checkin_would_extend_is_at_risk():
    user = streaker(last=MAR_1)

    result = streaks.streak_tick(now=utc(2026, 3, 2, 20))

    assert result == streaks.TickResult(lost=0, at_risk=1)
    assert streak_events(user) == [at_risk(MAR_2, 3)]
    event = Event.objects.get(user_id=user.pk)
    assert event.created_at == utc(2026, 3, 2, 20)
    assert event.data["user_id"] == str(user.pk)
    assert UserState.objects.get(user=user).at_risk_notified_on == MAR_2


def test_at_risk_goes_out_at_most_once_a_local_day():
    user = streaker(last=MAR_1, freezes=1)

    streaks.streak_tick(now=utc(2026, 3, 2, 20))
    streaks.streak_tick(now=utc(2026, 3, 2, 20))  # the same tick again
    for minute in (15, 30, 45):  # the rest of the hour
        streaks.streak_tick(now=utc(2026, 3, 2, 20, minute))
    streaks.streak_tick(now=utc(2026, 3, 3, 20))  # next day: a freeze still covers it

    assert streak_events(user) == [at_risk(MAR_2, 3), at_risk(MAR_3, 3, freezes_needed=1)]


def test_a_missed_tick_is_made_up_within_the_hour():
    user = streaker(last=MAR_1)

    streaks.streak_tick(now=utc(2026, 3, 2, 20, 30))

    assert streak_events(user) == [at_risk(MAR_2, 3)]


@pytest.mark.parametrize(("freezes", "expected"), [(2, [at_risk(MAR_3, 3, 2)]), (1, [])])
def test_freezes_covering_the_gap_keep_the_streak_at_risk(freezes, expected):
    user = streaker(last=dt.date(2026, 2, 28), freezes=freezes)  # missed 1 and 2 March

    streaks.streak_tick(now=utc(2026, 3, 3, 20))

    assert streak_events(user) == expected


@pytest.mark.parametrize(
    "state",
    [
        {"last": MAR_2},  # checked in today
        {"last": dt.date(2026, 2, 28)},  # a gap the freezes can't cover: lost, not at risk
        {"streak": 0, "last": None},  # never checked in
        {"is_active": False},
    ],
)
def test_who_is_not_at_risk(state):
    user = streaker(**state)

    assert streaks.streak_tick(now=utc(2026, 3, 2, 20)).at_risk == 0
    assert streak_events(user) == []


def test_only_the_users_of_the_zones_at_8_pm_are_reminded():
    utc_user, berlin, tokyo = streaker("UTC"), streaker("Europe/Berlin"), streaker("Asia/Tokyo")

    streaks.streak_tick(now=utc(2026, 3, 2, 19))  # 20:00 in Berlin

    assert streak_events(berlin) == [at_risk(MAR_2, 3)]
    assert streak_events(utc_user) == streak_events(tokyo) == []


def test_at_risk_at_utc_plus_14_and_utc_minus_11():
    kiritimati = streaker("Pacific/Kiritimati", last=MAR_1)
    pago_pago = streaker("Pacific/Pago_Pago", last=MAR_1)

    streaks.streak_tick(now=utc(2026, 3, 2, 6))  # 20:00 on 2 March at UTC+14
    assert streak_events(kiritimati) == [at_risk(MAR_2, 3)]
    assert streak_events(pago_pago) == []

    streaks.streak_tick(now=utc(2026, 3, 3, 7))  # 20:00 on 2 March at UTC-11
    assert streak_events(pago_pago) == [at_risk(MAR_2, 3)]


@pytest.mark.parametrize(
    ("name", "before", "after"),
    [
        ("Europe/Berlin", utc(2026, 3, 28, 19), utc(2026, 3, 29, 18)),
        ("America/New_York", utc(2026, 3, 8, 1), utc(2026, 3, 9, 0)),
    ],
)
def test_the_reminder_follows_8_pm_local_across_a_dst_change(name, before, after):
    day_before = before.astimezone(streaks.zone(name)).date()
    user = streaker(name, last=day_before - DAY, freezes=1)

    streaks.streak_tick(now=before)
    # The next day at the old UTC hour it is 9 pm there, and the hour has passed.
    streaks.streak_tick(now=before + DAY)
    assert streak_events(user) == [at_risk(day_before, 3)]

    streaks.streak_tick(now=after)
    assert streak_events(user) == [at_risk(day_before, 3), at_risk(day_before + DAY, 3, 1)]


def test_a_reminder_hour_from_the_settings(settings):
    settings.REMINDER_LOCAL_HOUR = 9
    user = streaker(last=MAR_1)

    assert streaks.streak_tick(now=utc(2026, 3, 2, 20)).at_risk == 0
    assert streaks.streak_tick(now=utc(2026, 3, 2, 9)).at_risk == 1
    assert streak_events(user) == [at_risk(MAR_2, 3)]


# --- streak.lost ---------------------------------------------------------------------------


def test_when_the_local_day_ends_without_a_checkin_the_streak_is_lost():
    user = streaker(last=MAR_1)  # 2 March ends without a check-in

    streaks.streak_tick(now=utc(2026, 3, 2, 23, 45))
    assert streak_events(user) == []

    result = streaks.streak_tick(now=utc(2026, 3, 3, 0))

    assert result == streaks.TickResult(lost=1, at_risk=0)
    assert streak_events(user) == [lost(MAR_2, 3, MAR_1)]
    state = UserState.objects.get(user=user)
    assert state.loss_reported_for == MAR_1
    assert (state.streak, state.last_checkin_date) == (3, MAR_1)  # the state is the check-in's


def test_a_loss_is_reported_once_by_repeated_ticks():
    user = streaker(last=MAR_1)

    for now in [utc(2026, 3, 3, 0), utc(2026, 3, 3, 0), utc(2026, 3, 3, 0, 15), utc(2026, 3, 4)]:
        streaks.streak_tick(now=now)

    assert streak_events(user) == [lost(MAR_2, 3, MAR_1)]


def test_job_then_checkin_reports_the_loss_once():
    user = streaker(last=MAR_1)

    streaks.streak_tick(now=utc(2026, 3, 3, 0))
    checkin_create(user_id=user.pk, now=utc(2026, 3, 3, 9))

    assert streak_events(user) == [lost(MAR_2, 3, MAR_1)]
    assert UserState.objects.get(user=user).streak == 1


def test_checkin_then_job_reports_the_loss_once():
    user = streaker(last=MAR_1)

    # The midnight tick never ran; the user comes back first.
    checkin_create(user_id=user.pk, now=utc(2026, 3, 3, 9))
    streaks.streak_tick(now=utc(2026, 3, 4, 0))

    assert streak_events(user) == [lost(MAR_2, 3, MAR_1)]


def test_a_missed_midnight_is_caught_at_a_later_one():
    user = streaker(last=MAR_1)

    streaks.streak_tick(now=utc(2026, 3, 5, 0, 30))

    assert streak_events(user) == [lost(MAR_2, 3, MAR_1)]


def test_the_next_loss_is_reported_again():
    user = streaker(last=MAR_1)
    streaks.streak_tick(now=utc(2026, 3, 3, 0))
    checkin_create(user_id=user.pk, now=utc(2026, 3, 3, 9))
    checkin_create(user_id=user.pk, now=utc(2026, 3, 4, 9))

    streaks.streak_tick(now=utc(2026, 3, 6, 0))  # 5 March ended without a check-in

    assert streak_events(user)[-1] == lost(dt.date(2026, 3, 5), 2, dt.date(2026, 3, 4))
    assert [t for t, _ in streak_events(user)].count("streak.lost") == 2


@pytest.mark.parametrize(("freezes", "lost_on"), [(1, None), (2, None), (0, MAR_2)])
def test_freezes_that_cover_the_gap_keep_the_streak(freezes, lost_on):
    user = streaker(last=MAR_1, freezes=freezes)

    streaks.streak_tick(now=utc(2026, 3, 3, 0))

    assert streak_events(user) == ([lost(lost_on, 3, MAR_1)] if lost_on else [])


def test_the_loss_date_counts_the_freezes():
    user = streaker(last=MAR_1, freezes=2)  # 2 and 3 March covered, 4 March not

    streaks.streak_tick(now=utc(2026, 3, 5, 0))

    assert streak_events(user) == [lost(dt.date(2026, 3, 4), 3, MAR_1)]


def test_a_checkin_after_a_loss_the_freezes_covered_reports_it_with_the_same_data():
    user = streaker(last=MAR_1, freezes=1)

    checkin_create(user_id=user.pk, now=utc(2026, 3, 4, 9))  # 2 March covered, 3 March not

    assert streak_events(user) == [lost(MAR_3, 3, MAR_1)]


def test_losses_at_utc_plus_14_and_utc_minus_11():
    kiritimati = streaker("Pacific/Kiritimati", last=MAR_1)
    pago_pago = streaker("Pacific/Pago_Pago", last=MAR_1)

    streaks.streak_tick(now=utc(2026, 3, 2, 10))  # midnight of 3 March at UTC+14
    assert streak_events(kiritimati) == [lost(MAR_2, 3, MAR_1)]
    assert streak_events(pago_pago) == []

    streaks.streak_tick(now=utc(2026, 3, 3, 11))  # midnight of 3 March at UTC-11
    assert streak_events(pago_pago) == [lost(MAR_2, 3, MAR_1)]


def test_a_loss_at_midnight_across_a_dst_change():
    # Berlin springs forward on 29 March 2026: that day's midnight is still
    # at 23:00 UTC (CET), the next one at 22:00 UTC (CEST).
    user = streaker("Europe/Berlin", last=dt.date(2026, 3, 28))

    streaks.streak_tick(now=utc(2026, 3, 29, 23))  # 01:00 CEST: that hour has passed
    assert streak_events(user) == []

    streaks.streak_tick(now=utc(2026, 3, 29, 22))
    assert streak_events(user) == [lost(dt.date(2026, 3, 29), 3, dt.date(2026, 3, 28))]


def test_inactive_users_and_users_without_a_streak_lose_nothing():
    users = [streaker(is_active=False), streaker(streak=0, last=None)]

    assert streaks.streak_tick(now=utc(2026, 3, 3, 0)).lost == 0
    assert [streak_events(u) for u in users] == [[], []]


# --- Interleavings, forced: what a check-in or another scheduler does meanwhile ----------


def interleave(monkeypatch, meanwhile, *, after_the_lock=False):
    """Run ``meanwhile()`` once, after the job has read the zone's users and
    before it locks their state rows: what a check-in or another scheduler
    committing at that moment does.

    ``after_the_lock`` is the control: ``meanwhile()`` runs between the job's
    lock and its write, on the job's own connection and transaction, which
    the lock cannot stop; that is what any transaction could do without the
    lock, and it reports the loss twice."""
    done: list[bool] = []

    def once():
        if not done:
            done.append(True)
            meanwhile()

    if after_the_lock:
        original_lock = streaks.states_lock

        def lock_then_meanwhile(**kwargs):
            rows = original_lock(**kwargs)
            once()
            return rows

        monkeypatch.setattr(streaks, "states_lock", lock_then_meanwhile)
    else:
        original_read = streaks.zone_users

        def read_then_meanwhile(zones):
            found = list(original_read(zones))
            once()
            return found

        monkeypatch.setattr(streaks, "zone_users", read_then_meanwhile)


def losses(user) -> list[tuple[str, dict]]:
    return [e for e in streak_events(user) if e[0] == "streak.lost"]


def test_a_checkin_between_the_read_and_the_lock_reports_the_loss_itself(monkeypatch):
    user = streaker(last=MAR_1)
    interleave(monkeypatch, lambda: checkin_create(user_id=user.pk, now=utc(2026, 3, 3, 0)))

    assert streaks.streak_tick(now=utc(2026, 3, 3, 0)).lost == 0

    assert losses(user) == [lost(MAR_2, 3, MAR_1)]  # the check-in's


def test_control_a_checkin_the_lock_does_not_hold_off_reports_the_loss_twice(monkeypatch):
    user = streaker(last=MAR_1)
    checkin = lambda: checkin_create(user_id=user.pk, now=utc(2026, 3, 3, 0))  # noqa: E731
    interleave(monkeypatch, checkin, after_the_lock=True)

    streaks.streak_tick(now=utc(2026, 3, 3, 0))

    assert losses(user) == [lost(MAR_2, 3, MAR_1)] * 2


def test_another_scheduler_between_the_read_and_the_lock(monkeypatch):
    user = streaker(last=MAR_1)
    interleave(monkeypatch, lambda: streaks.streak_tick(now=utc(2026, 3, 3, 0)))

    assert streaks.streak_tick(now=utc(2026, 3, 3, 0)).lost == 0

    assert losses(user) == [lost(MAR_2, 3, MAR_1)]  # the other scheduler's


def test_control_without_the_markers_a_repeated_tick_reports_twice(monkeypatch):
    user, reminded = streaker(last=MAR_1), streaker("Pacific/Kiritimati", last=MAR_2)
    no_marker = Q(pk__isnull=False)
    monkeypatch.setattr(
        streaks, "lost_condition", lambda today: Q(streak__gt=0, last_checkin_date__lt=MAR_2)
    )
    monkeypatch.setattr(
        streaks, "at_risk_condition", lambda today: no_marker & Q(last_checkin_date=MAR_2)
    )
    monkeypatch.setattr(streaks, "is_lost", lambda row, today: True)
    monkeypatch.setattr(streaks, "is_at_risk", lambda row, today: True)

    for _ in range(2):
        streaks.streak_tick(now=utc(2026, 3, 3, 0))  # midnight in UTC, 14:00 at UTC+14
        streaks.streak_tick(now=utc(2026, 3, 3, 6))  # 20:00 at UTC+14

    assert len(losses(user)) == 2
    assert [t for t, _ in streak_events(reminded)] == ["streak.at_risk"] * 2


def test_a_checkin_between_the_read_and_the_lock_gets_no_reminder(monkeypatch):
    user = streaker(last=MAR_1)
    interleave(monkeypatch, lambda: checkin_create(user_id=user.pk, now=utc(2026, 3, 2, 20)))

    streaks.streak_tick(now=utc(2026, 3, 2, 20))

    assert streak_events(user) == [("streak.extended", {"date": "2026-03-02", "streak": 4})]


def test_a_zone_change_between_the_read_and_the_lock_leaves_the_user_to_the_new_zone(
    monkeypatch,
):
    user = streaker(last=MAR_1)
    move = lambda: User.objects.filter(pk=user.pk).update(timezone="Asia/Tokyo")  # noqa: E731
    interleave(monkeypatch, move)

    streaks.streak_tick(now=utc(2026, 3, 2, 20))

    assert streak_events(user) == []


# --- Batches, statements, the task ---------------------------------------------------------


@pytest.mark.parametrize("users", [5, 12])
def test_each_batch_costs_a_fixed_number_of_statements(monkeypatch, users):
    monkeypatch.setattr(streaks, "BATCH_SIZE", 5)
    for _ in range(users):
        streaker(last=MAR_1)
    streaker("Asia/Tokyo", last=MAR_1)  # not its hour

    with CaptureQueriesContext(connection) as captured:
        assert streaks.streaks_lost_report(now=utc(2026, 3, 3, 0)) == users

    batches = -(-users // 5)
    # The zone's users, then per batch, in its own transaction (a savepoint
    # inside the test's): lock, update the markers, the streak board's counts
    # (the lost streaks leave it), insert the events.
    sql = [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "BEGIN", "COMMIT"))
    ]
    verbs = [statement.split()[0] for statement in sql]
    assert verbs == ["SELECT", *(["SELECT", "UPDATE", "INSERT", "INSERT"] * batches)], sql
    if connection.vendor == "postgresql":
        assert all(
            statement.endswith("FOR UPDATE") or "FOR UPDATE OF" in statement
            for statement in sql[1::4]
        )


def test_the_task_runs_the_tick_of_its_slot():
    user = streaker(last=MAR_1)

    assert tasks.streak_tick.call(slot="2026-03-03T00:00:00+00:00") == {"lost": 1, "at_risk": 0}
    assert tasks.streak_tick.call(slot="2026-03-03T00:00:00+00:00") == {"lost": 0, "at_risk": 0}
    assert streak_events(user) == [lost(MAR_2, 3, MAR_1)]


def test_the_scheduler_enqueues_the_tick_every_quarter_hour():
    from django_tasks_db.models import DBTaskResult

    enqueued = enqueue_due(now=utc(2026, 3, 2, 20, 7))

    assert "streak-reminders" in [job.name for job in enqueued]
    row = DBTaskResult.objects.get(task_path="events.tasks.streak_tick")
    assert row.args_kwargs["kwargs"] == {"slot": "2026-03-02T20:00:00+00:00"}


def test_a_reported_loss_is_final_even_with_freezes_granted_since():
    """The job announced the loss: a freeze granted afterwards cannot bridge
    the gap back, or the feed would say "lost" and the streak go on."""
    user = streaker(last=MAR_1, freezes=0)
    streaks.streak_tick(now=utc(2026, 3, 3, 0))
    UserState.objects.filter(user=user).update(streak_freezes=2)  # e.g. bought since

    checkin_create(user_id=user.pk, now=utc(2026, 3, 3, 9))

    state = UserState.objects.get(user=user)
    assert (state.streak, state.streak_freezes) == (1, 2)  # lost, and no freeze spent
    assert streak_events(user) == [lost(MAR_2, 3, MAR_1)]


def test_control_unreported_the_same_freezes_bridge_the_gap():
    user = streaker(last=MAR_1, freezes=0)
    UserState.objects.filter(user=user).update(streak_freezes=2)

    checkin_create(user_id=user.pk, now=utc(2026, 3, 3, 9))

    state = UserState.objects.get(user=user)
    assert (state.streak, state.streak_freezes) == (4, 1)
