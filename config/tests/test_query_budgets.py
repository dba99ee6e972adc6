"""Every statement the hot endpoints send, counted: BEGIN, COMMIT and
savepoints included. The throttle's counters live in Redis in production, not
in SQL; these tests put them in local memory so that only the endpoint's own
SQL is counted."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rewards.tests.factories import (
    InventoryItemFactory,
    RewardFactory,
    ToolFactory,
    state_grant,
)
from users.tests.factories import client_for
from webhooks import services as webhooks
from webhooks import subscriptions

pytestmark = pytest.mark.django_db

NOON = dt.datetime(2026, 7, 1, 12, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _throttle_counters_outside_sql(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


@pytest.fixture(autouse=True)
def _warm_subscription_snapshot(monkeypatch):
    """The steady state: a process re-reads the webhook subscriptions once
    every few seconds, not within a measured request (on a slow run the
    snapshot could expire between a test's setup and its request)."""
    monkeypatch.setattr(subscriptions, "SNAPSHOT_SECONDS", 3600.0)
    subscriptions.forget_snapshot()
    subscriptions.subscribed_types()
    yield
    subscriptions.forget_snapshot()


def statements(client, method: str, path: str, expected_status: int) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = getattr(client, method)(path)
    assert response.status_code == expected_status, response.content
    return [q["sql"] for q in captured.captured_queries]


@pytest.fixture
def catalog():
    """A catalog large enough that a per-reward query would show."""
    for i in range(30):
        RewardFactory(id=f"level_{i}", rule="level", threshold=50 + i)
    ToolFactory(id="coffee", price=10, effects={"energy": 15})


def test_checkin_costs_at_most_6_statements_on_postgresql(user, catalog):
    with time_machine.travel(NOON - dt.timedelta(days=1), tick=False):
        client_for(user).post("/api/v1/checkins")  # state row exists, like any regular user
    with time_machine.travel(NOON, tick=False):
        sql = statements(client_for(user), "post", "/api/v1/checkins", 201)

    # BEGIN, lock (+ time zone), insert check-in, the rewards not owned yet
    # (after the lock: see engagement/statements.py), then the state update, the
    # ledger, the events and the leaderboards' rows (one statement on
    # PostgreSQL; on SQLite six: the state, the ledger, the events, the streak
    # board's histogram rows, the week's counter, then its histogram rows),
    # COMMIT.
    assert len(sql) <= (6 if connection.vendor == "postgresql" else 11), "\n".join(sql)


def test_a_subscribed_endpoint_adds_no_statement_to_a_checkin_on_postgresql(user, catalog):
    with time_machine.travel(NOON - dt.timedelta(days=2), tick=False):
        client_for(user).post("/api/v1/checkins")
        subscriptions.subscribed_types()
    with time_machine.travel(NOON - dt.timedelta(days=1), tick=False):
        without = statements(client_for(user), "post", "/api/v1/checkins", 201)
    webhooks.endpoint_create(url="https://hooks.example.com/in", event_types=[], now=NOON)
    subscriptions.forget_snapshot()
    subscriptions.subscribed_types()
    with time_machine.travel(NOON, tick=False):
        with_endpoint = statements(client_for(user), "post", "/api/v1/checkins", 201)

    # The outbox row joins the change's one write statement on PostgreSQL (a
    # statement of its own elsewhere). The relay task is enqueued after the
    # commit, at most about once per RELAY_DELAY per process (test_fan_out.py).
    extra = 0 if connection.vendor == "postgresql" else 1
    assert len(with_endpoint) == len(without) + extra, "\n".join(with_endpoint)
    assert "webhooks_pendingfanout" in "\n".join(with_endpoint)
    assert "django_tasks_database_dbtaskresult" not in "\n".join(with_endpoint)


def test_duplicate_checkin_costs_at_most_4_statements(user, catalog):
    with time_machine.travel(NOON, tick=False):
        client_for(user).post("/api/v1/checkins")
        sql = statements(client_for(user), "post", "/api/v1/checkins", 409)

    # BEGIN, lock, ROLLBACK; inside the test's own transaction those are
    # SAVEPOINT, lock, ROLLBACK TO SAVEPOINT, RELEASE SAVEPOINT.
    assert len(sql) <= 4, "\n".join(sql)


def test_me_costs_at_most_2_statements(user, auth_client):
    auth_client.get("/api/v1/me")  # bootstraps the state row

    sql = statements(auth_client, "get", "/api/v1/me", 200)

    assert len(sql) <= 2, "\n".join(sql)


def test_rewards_cost_at_most_3_statements_whatever_the_catalog(user, auth_client, catalog):
    auth_client.get("/api/v1/me")

    sql = statements(auth_client, "get", "/api/v1/rewards", 200)

    assert len(sql) <= 3, "\n".join(sql)


def test_inventory_costs_at_most_2_statements(user, auth_client, catalog):
    InventoryItemFactory(user=user, tool_id="coffee", quantity=2)

    sql = statements(auth_client, "get", "/api/v1/inventory", 200)

    assert len(sql) <= 2, "\n".join(sql)


@pytest.mark.parametrize("held", [0, 1])
def test_buy_and_use_cost_at_most_7_statements_on_postgresql(user, auth_client, catalog, held):
    state_grant(user, loyalty=100)
    if held:
        InventoryItemFactory(user=user, tool_id="coffee", quantity=held)

    buy = statements(auth_client, "post", "/api/v1/inventory/coffee/buy", 201)
    use = statements(auth_client, "post", "/api/v1/inventory/coffee/use", 200)

    # Each: BEGIN, lock, the tool with the holding, the holding's write, the
    # unowned rewards, the state with the ledger and the events (one statement
    # on PostgreSQL, three on SQLite), COMMIT.
    budget = 7 if connection.vendor == "postgresql" else 9
    assert len(buy) <= budget, "\n".join(buy)
    assert len(use) <= budget, "\n".join(use)


def test_authentication_costs_no_statement(user, auth_client):
    sql = statements(auth_client, "get", "/api/v1/checkins", 200)

    assert len(sql) == 1, "\n".join(sql)  # the page of check-ins, nothing for the token


def test_events_cost_one_statement_per_page(user, catalog):
    with time_machine.travel(NOON - dt.timedelta(days=1), tick=False):
        client_for(user).post("/api/v1/checkins")
    with time_machine.travel(NOON, tick=False):
        client = client_for(user)
        client.post("/api/v1/checkins")
        first = client.get("/api/v1/events?page_size=2").json()
        sql = statements(client, "get", first["next"], 200)

    assert len(sql) == 1, "\n".join(sql)  # the page, whatever the cursor
