"""The streak jobs on PostgreSQL: real threads mixing check-ins with two
schedulers' ticks, and the query plan of a tick's read."""

import datetime as dt
import json
import uuid

import pytest
from django.db import connection

from base.testing import run_concurrently
from checkins.services import checkin_create
from engagement.invariants import ledger_replay_mismatches
from engagement.models import UserState
from events import streaks
from events.models import Event
from users.models import User
from users.tests.factories import UserFactory

MAR_1 = dt.date(2026, 3, 1)
MIDNIGHT = dt.datetime(2026, 3, 3, tzinfo=dt.UTC)  # 2 March has just ended in UTC
EVENING = dt.datetime(2026, 3, 2, 20, tzinfo=dt.UTC)

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks and query plans: PostgreSQL only"
)


@pytest.fixture(autouse=True)
def _no_webhook_endpoints(monkeypatch):
    monkeypatch.setattr("webhooks.subscriptions.subscribed_types", frozenset)


def streakers(count: int) -> list[User]:
    """Users whose streak of 2 ended on 1 March, built by real check-ins (so
    the ledger replays to their state)."""
    users = UserFactory.create_batch(count, timezone="UTC")
    for user in users:
        for day in (
            dt.datetime(2026, 2, 28, 9, tzinfo=dt.UTC),
            dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC),
        ):
            checkin_create(user_id=user.pk, now=day)
    return users


def count_of(user: User, kind: str) -> int:
    return Event.objects.filter(user_id=user.pk, type=kind).count()


@postgresql_only
@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_checkins_racing_two_schedulers_report_each_loss_once(monkeypatch, round_):
    monkeypatch.setattr(streaks, "BATCH_SIZE", 4)  # many small transactions to interleave
    users = streakers(24)
    checkin_at = MIDNIGHT + dt.timedelta(minutes=1)

    def act(index: int):
        if index < 2:  # two schedulers' ticks of the same slot
            return streaks.streak_tick(now=MIDNIGHT)
        for user in users[index - 2 :: 4]:  # four threads of check-ins
            checkin_create(user_id=user.pk, now=checkin_at)
        return None

    results = run_concurrently(6, act)

    assert not [r for r in results if isinstance(r, BaseException)], results
    by_job = sum(r.lost for r in results[:2])
    assert [count_of(user, "streak.lost") for user in users] == [1] * len(users)
    # Each loss was reported by one side: the job or the check-in.
    by_checkin = len(users) - by_job
    assert 0 <= by_checkin <= len(users)
    for user in users:
        state = UserState.objects.get(user=user)
        assert (state.streak, state.last_checkin_date) == (1, MIDNIGHT.date())
        assert ledger_replay_mismatches(user_id=user.pk) == []


@postgresql_only
@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_checkins_racing_two_schedulers_remind_at_most_once(monkeypatch):
    monkeypatch.setattr(streaks, "BATCH_SIZE", 4)
    users = streakers(24)  # checked in on 1 March: at risk on the evening of the 2nd

    def act(index: int):
        if index < 2:
            return streaks.streak_tick(now=EVENING)
        for user in users[index - 2 :: 4]:
            checkin_create(user_id=user.pk, now=EVENING)
        return None

    results = run_concurrently(6, act)

    assert not [r for r in results if isinstance(r, BaseException)], results
    reminders = [count_of(user, "streak.at_risk") for user in users]
    assert set(reminders) <= {0, 1}
    assert sum(reminders) == sum(r.at_risk for r in results[:2])
    extended = Event.objects.filter(type="streak.extended", data__date="2026-03-02")
    assert extended.count() == len(users)

    # A second pass finds nobody: the ones reminded are marked, the others checked in.
    assert streaks.streak_tick(now=EVENING) == streaks.TickResult(lost=0, at_risk=0)


ZONES = [f"Etc/GMT{offset:+d}" if offset else "Etc/GMT" for offset in range(-12, 12)]


@postgresql_only
@pytest.mark.django_db
def test_a_tick_reads_only_the_users_of_the_zones_at_their_hour():
    """24 zones of 250 users each; midnight in one zone reads that zone's
    users through the time zone index, and each state row by its key."""
    per_zone = 250
    users = [
        User(
            id=uuid.uuid4(),
            email=f"{zone.replace('/', '.')}.{i}@example.com",
            timezone=zone,
            password="!",
        )
        for zone in ZONES
        for i in range(per_zone)
    ]
    User.objects.bulk_create(users, batch_size=2000)
    UserState.objects.bulk_create(
        [
            UserState(
                user_id=u.id, streak=3, longest_streak=3, total_checkins=3, last_checkin_date=MAR_1
            )
            for u in users
        ],
        batch_size=2000,
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {User._meta.db_table}")
        cursor.execute(f"ANALYZE {UserState._meta.db_table}")

    (group,) = streaks.zones_at_local_hour(now=MIDNIGHT, hour=0, names=ZONES)
    assert group.zones == ("Etc/GMT",)

    # The zone's users, through the time zone index.
    read = streaks.zone_users(group.zones)
    nodes = plan_of(read)
    assert scans(nodes) <= {
        (User._meta.db_table, "Bitmap Heap Scan", None),
        (None, "Bitmap Index Scan", "users_user_timezone_idx"),
        (User._meta.db_table, "Index Scan", "users_user_timezone_idx"),
    }, scans(nodes)
    assert rows_read(nodes) == per_zone
    ids = sorted(read)
    assert len(ids) == per_zone

    # Their state rows, a batch at a time, by primary key (the lock's own
    # read). A batch is 500 of a million rows in production; 20 of 6000 here
    # keeps that proportion small enough for the planner to choose the same.
    batch = ids[:20]
    locking = UserState.objects.filter(
        streaks.lost_condition(group.today), user_id__in=batch
    ).order_by("user_id")
    nodes = plan_of(locking)
    assert (UserState._meta.db_table, "Seq Scan", None) not in scans(nodes), scans(nodes)
    assert any(index == f"{UserState._meta.db_table}_pkey" for _, _, index in scans(nodes))
    assert rows_read(nodes) == len(batch)


def plan_of(query) -> list[dict]:
    return list(walk(json.loads(query.explain(format="json", analyze=True))[0]["Plan"]))


def scans(nodes) -> set[tuple]:
    return {
        (n.get("Relation Name"), n["Node Type"], n.get("Index Name"))
        for n in nodes
        if "Scan" in n["Node Type"]
    }


def rows_read(nodes) -> int:
    """Rows the scans of tables read: those they returned and those their
    filters removed."""
    return sum(
        (n["Actual Rows"] + n.get("Rows Removed by Filter", 0)) * n.get("Actual Loops", 1)
        for n in nodes
        if n.get("Relation Name")
    )


def walk(node):
    yield node
    for child in node.get("Plans", []):
        yield from walk(child)
