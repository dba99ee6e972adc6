"""Reads on a real streaming standby (``make test-replica`` makes one with
``pg_basebackup -R``, base.standby, and runs this file against it).

Which database served a request is seen, not guessed: every statement each
connection runs is recorded, and a routed read must have read its table on
the replica and not on the primary. The standby replays what the tests
commit (``transaction=True``); pausing its replay makes real lag, stopping it
a dead replica.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from base import replica
from base.standby import Standby
from checkins.services import checkin_create
from rewards.tests.factories import RewardFactory, ToolFactory
from users.tests.factories import UserFactory, client_for

pytestmark = [
    pytest.mark.replica,
    pytest.mark.skipif(
        Standby.from_env() is None or settings.REPLICA["ALIAS"] is None,
        reason="needs a streaming standby: make test-replica",
    ),
    pytest.mark.django_db(transaction=True, databases=["default", "replica"]),
]

ON_REPLICA = {
    "/api/v1/rewards": "rewards_reward",
    "/api/v1/tools": "rewards_tool",
    "/api/v1/checkins": "checkins_checkin",
    "/api/v1/ledger": "engagement_ledgerentry",
    "/api/v1/events": "events_event",
    "/api/v1/leaderboards/weekly": "leaderboards_weeklycheckins",
    "/api/v1/leaderboards/streak": "engagement_userstate",
}
ON_PRIMARY = {
    "/api/v1/me": "engagement_userstate",
    "/api/v1/inventory": "rewards_inventoryitem",
    "/api/v1/checkins/calendar?month=2026-05": "checkins_checkin",
}


def _primary_dsn() -> str:
    db = settings.DATABASES["default"]
    return f"host={db['HOST']} port={db['PORT'] or 5432} user={db['USER']} dbname=postgres"


@pytest.fixture
def standby() -> Iterator[Standby]:
    found = Standby.from_env()
    assert found is not None
    if not found.is_running():
        found.start()
    found.resume_replay()
    replica.forget_health()
    yield found
    if not found.is_running():
        found.start()
    found.resume_replay()
    replica.forget_health()


def caught_up(standby: Standby) -> None:
    """The standby has everything committed so far, and this process knows
    it: its horizon is after every write made before the call."""
    replica.forget_health()
    replica.measure("replica")  # samples the primary's position
    standby.wait_for(_primary_dsn())
    replica.measure("replica")  # sees the replica past the sample
    assert replica.replica_alias() == "replica"


@contextmanager
def tuned(**values: float | None) -> Iterator[None]:
    with override_settings(REPLICA={**settings.REPLICA, **values}):
        yield


class Seen:
    def __init__(self) -> None:
        self.sql: dict[str, list[str]] = {"default": [], "replica": []}

    def read(self, alias: str, table: str) -> bool:
        return any(f'"{table}"' in sql for sql in self.sql[alias])


@contextmanager
def watching() -> Iterator[Seen]:
    """Every statement either connection answered while the block runs."""
    seen = Seen()

    def recorder(alias: str):
        def wrapper(execute, sql, params, many, context):
            result = execute(sql, params, many, context)
            seen.sql[alias].append(sql)  # answered, not only tried
            return result

        return wrapper

    with ExitStack() as stack:
        for alias in seen.sql:
            stack.enter_context(connections[alias].execute_wrapper(recorder(alias)))
        yield seen


def earlier_client(user):
    """A client whose token was issued a while ago (a fresh token keeps its
    reads on the primary: read-your-writes for login and registration)."""
    with time_machine.travel(timezone.now() - dt.timedelta(minutes=1)):
        return client_for(user)


def served(client, path: str, table: str) -> tuple[str, Any]:
    with watching() as seen:
        response = client.get(path)
    assert response.status_code == 200, response.content
    on_primary, on_replica = seen.read("default", table), seen.read("replica", table)
    assert on_primary != on_replica, seen.sql
    return ("replica" if on_replica else "primary"), response.json()


@pytest.fixture
def history():
    """A user with three days of check-ins, a catalog, and a second user."""
    RewardFactory(threshold=2)
    ToolFactory()
    user = UserFactory()
    today = timezone.now()
    for back in (2, 1, 0):
        checkin_create(user_id=user.pk, now=today - dt.timedelta(days=back))
    checkin_create(user_id=UserFactory().pk, now=today)
    return user


@pytest.mark.parametrize("path", list(ON_REPLICA))
def test_catalog_history_boards_and_feed_are_read_on_the_replica(standby, history, path):
    client = earlier_client(history)
    caught_up(standby)

    where, body = served(client, path, ON_REPLICA[path])
    with tuned(ALIAS=None):
        control_where, control = served(client, path, ON_REPLICA[path])

    assert (where, control_where) == ("replica", "primary")
    assert body == control
    assert body  # something was read


@pytest.mark.parametrize("path", list(ON_PRIMARY))
def test_other_reads_stay_on_the_primary(standby, history, path):
    client = earlier_client(history)
    caught_up(standby)

    assert served(client, path, ON_PRIMARY[path])[0] == "primary"


def test_the_writer_reads_their_write_on_the_primary_while_others_see_the_lag(standby, history):
    writer, other = UserFactory(), earlier_client(history)
    writer_client = earlier_client(writer)
    caught_up(standby)
    board = served(other, "/api/v1/leaderboards/weekly", "leaderboards_weeklycheckins")[1]
    participants = board["participants"]
    standby.pause_replay()

    # One process: no clock skew to allow for.
    with tuned(MAX_LAG_SECONDS=3600, CHECK_SECONDS=0, CLOCK_SKEW_SECONDS=0):
        assert writer_client.post("/api/v1/checkins").status_code == 201
        where, checkins = served(writer_client, "/api/v1/checkins", "checkins_checkin")
        assert where == "primary"
        assert len(checkins["results"]) == 1
        # Someone else reads the (stale) replica: the writer is not on its board yet.
        where, board = served(other, "/api/v1/leaderboards/weekly", "leaderboards_weeklycheckins")
        assert where == "replica"
        assert board["participants"] == participants

        standby.resume_replay()
        caught_up(standby)
        where, checkins = served(writer_client, "/api/v1/checkins", "checkins_checkin")
        assert where == "replica"
        assert len(checkins["results"]) == 1
        where, board = served(other, "/api/v1/leaderboards/weekly", "leaderboards_weeklycheckins")
        assert board["participants"] == participants + 1


def test_a_failed_write_keeps_the_reads_on_the_replica(standby, history):
    client = earlier_client(history)
    caught_up(standby)
    with tuned(MAX_LAG_SECONDS=3600):
        assert client.post("/api/v1/checkins").status_code == 409  # already today
        assert served(client, "/api/v1/checkins", "checkins_checkin")[0] == "replica"


def test_a_fresh_token_reads_on_the_primary_until_the_replica_has_it(standby, api_client):
    caught_up(standby)
    standby.pause_replay()
    with tuned(MAX_LAG_SECONDS=3600, CHECK_SECONDS=0):
        registered = api_client.post(
            "/api/v1/auth/register",
            {"email": "new@example.com", "password": "correct horse battery staple"},
            format="json",
        )
        assert registered.status_code == 201
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {registered.json()['access']}")
        # Not on the replica yet: its rewards must come from the primary.
        assert served(api_client, "/api/v1/rewards", "engagement_userstate")[0] == "primary"

        standby.resume_replay()
        caught_up(standby)
        with time_machine.travel(timezone.now() + dt.timedelta(seconds=5)):
            caught_up(standby)
            assert served(api_client, "/api/v1/rewards", "engagement_userstate")[0] == "replica"


def test_a_lagging_replica_is_left_for_the_primary(standby, history):
    client = earlier_client(history)
    caught_up(standby)
    with tuned(MAX_LAG_SECONDS=0.5, CHECK_SECONDS=0):
        assert served(client, "/api/v1/ledger", "engagement_ledgerentry")[0] == "replica"
        standby.pause_replay()
        checkin_create(user_id=UserFactory().pk, now=timezone.now())  # someone else writes
        with time_machine.travel(timezone.now() + dt.timedelta(seconds=2)):
            assert served(client, "/api/v1/ledger", "engagement_ledgerentry")[0] == "primary"
            assert replica.health().behind_bytes
        standby.resume_replay()
        caught_up(standby)
        assert served(client, "/api/v1/ledger", "engagement_ledgerentry")[0] == "replica"


def test_a_dead_replica_falls_back_to_the_primary_without_errors(standby, history):
    client = earlier_client(history)
    caught_up(standby)
    with tuned(MAX_LAG_SECONDS=3600, CHECK_SECONDS=3600, RETRY_SECONDS=30):
        where, before = served(client, "/api/v1/checkins", "checkins_checkin")
        assert where == "replica"  # a pooled connection to it now exists

        standby.stop()
        # The read breaks on the replica mid-request and runs again on the primary.
        where, body = served(client, "/api/v1/checkins", "checkins_checkin")
        assert (where, body) == ("primary", before)
        assert replica.health().down_until > timezone.now().timestamp()
        # Left alone for a while: no attempt on it at all.
        with watching() as seen:
            assert client.get("/api/v1/events").status_code == 200
        assert seen.sql["replica"] == []

    with tuned(MAX_LAG_SECONDS=3600, CHECK_SECONDS=0, RETRY_SECONDS=30):
        # Time to try again, and still down: the measurement fails, the read does not.
        with time_machine.travel(timezone.now() + dt.timedelta(seconds=31)):
            where, body = served(client, "/api/v1/checkins", "checkins_checkin")
            assert (where, body) == ("primary", before)

        standby.start()
        standby.wait_for(_primary_dsn())
        with time_machine.travel(timezone.now() + dt.timedelta(seconds=62)):
            # Measured again: the pool's dead connections are replaced, reads return.
            assert served(client, "/api/v1/checkins", "checkins_checkin") == ("replica", before)
            assert replica.health().down_until == float("-inf")
