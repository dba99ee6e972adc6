import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from engagement.models import LedgerEntry
from rewards.models import InventoryItem, Reward, UserReward
from rewards.tests.factories import (
    InventoryItemFactory,
    RewardFactory,
    ToolFactory,
    checkin_days,
    state_of,
)
from users.tests.factories import UserFactory, client_for

pytestmark = pytest.mark.django_db

STATE_KEYS = {
    "level",
    "energy",
    "fatigue",
    "loyalty",
    "streak",
    "longest_streak",
    "total_checkins",
    "streak_freezes",
    "last_checkin_date",
    "lost_streak",
    "streak_lost_on",
    "streak_status",
}


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    return response.json()


def work_queries(queries: CaptureQueriesContext) -> list[str]:
    """The statements an endpoint runs for its own work: without the throttle's
    cache (a database table unless Redis is configured) and without transaction
    control (BEGIN/COMMIT/savepoints), which backends report differently."""
    control = ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT")
    return [
        q["sql"]
        for q in queries.captured_queries
        if "django_cache" not in q["sql"] and not q["sql"].upper().startswith(control)
    ]


def checkin_yesterday_and_today(user, days: int) -> None:
    """Check-ins ending today, so the API's own clock agrees with them."""
    checkin_days(user, days, start=timezone.now() - dt.timedelta(days=days - 1))


# --- GET /rewards -------------------------------------------------------------------
def test_a_deactivated_reward_stays_listed_and_claimable_for_its_owner_only(
    user, auth_client, grant
):
    retired = RewardFactory(id="retired", rule=Reward.Rule.LEVEL, threshold=1)
    grant(user, loyalty=1)  # unlocks it while active
    Reward.objects.filter(pk=retired.pk).update(active=False)
    stranger = client_for(UserFactory())

    listed = {row["id"]: row["status"] for row in auth_client.get("/api/v1/rewards").json()}
    claimed = auth_client.post("/api/v1/rewards/retired/claim")
    not_found = stranger.post("/api/v1/rewards/retired/claim")

    assert listed == {"retired": "unlocked"}
    assert claimed.status_code == 200
    assert claimed.json()["reward"]["status"] == "claimed"
    assert stranger.get("/api/v1/rewards").json() == []
    assert not_found.status_code == 404
    assert not_found.json()["code"] == "reward_not_found"


def test_rewards_list_shows_every_active_reward_with_the_callers_status(user, auth_client):
    RewardFactory(id="streak_2", rule=Reward.Rule.STREAK, threshold=2, effects={"loyalty": 10})
    RewardFactory(id="streak_9", rule=Reward.Rule.STREAK, threshold=9)
    RewardFactory(id="checkins_1", rule=Reward.Rule.TOTAL_CHECKINS, threshold=1)
    RewardFactory(id="retired", rule=Reward.Rule.LEVEL, threshold=1, active=False)
    checkin_yesterday_and_today(user, 2)
    auth_client.post("/api/v1/rewards/checkins_1/claim")

    response = auth_client.get("/api/v1/rewards")

    assert response.status_code == 200
    rows = {row["id"]: row for row in response.json()}
    assert list(rows) == ["streak_2", "streak_9", "checkins_1"]  # by rule, threshold, id
    assert rows["streak_2"] == {
        "id": "streak_2",
        "title": rows["streak_2"]["title"],
        "description": "",
        "rule": "streak",
        "threshold": 2,
        "effects": {"loyalty": 10},
        "auto_claim": False,
        "status": "unlocked",
        "unlocked_at": rows["streak_2"]["unlocked_at"],
        "claimed_at": None,
        "progress": {"current": 2, "target": 2},
    }
    assert rows["streak_2"]["unlocked_at"] is not None
    assert (rows["streak_9"]["status"], rows["streak_9"]["progress"]) == (
        "locked",
        {"current": 2, "target": 9},
    )
    assert rows["streak_9"]["unlocked_at"] is None
    assert rows["checkins_1"]["status"] == "claimed"
    assert rows["checkins_1"]["claimed_at"] is not None


def test_rewards_list_needs_authentication(api_client):
    problem(api_client.get("/api/v1/rewards"), 401, "not_authenticated")


def test_rewards_list_never_shows_another_users_rewards(user, auth_client):
    RewardFactory(id="checkins_1", rule=Reward.Rule.TOTAL_CHECKINS, threshold=1)
    checkin_days(UserFactory(), 1)

    (row,) = auth_client.get("/api/v1/rewards").json()

    assert row["status"] == "locked"


def _rewards_list_queries(auth_client) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = auth_client.get("/api/v1/rewards")
    assert response.status_code == 200
    return work_queries(queries)


@pytest.mark.parametrize("catalog_size", [3, 50])
def test_rewards_list_costs_a_constant_number_of_queries(user, auth_client, catalog_size):
    for i in range(catalog_size):
        RewardFactory(id=f"r_{i:02}", rule=Reward.Rule.TOTAL_CHECKINS, threshold=i + 1)
    checkin_days(user, 2)  # the user owns some of them (r_00, r_01)
    assert UserReward.objects.filter(user_id=user.pk).count() == 2

    queries = _rewards_list_queries(auth_client)

    # The active rewards, the user's rewards, the state (the token needs none).
    assert len(queries) == 3, "\n".join(queries)
    assert len(auth_client.get("/api/v1/rewards").json()) == catalog_size


# --- POST /rewards/{id}/claim -------------------------------------------------------
def test_claim_returns_the_reward_and_the_new_state(user, auth_client):
    RewardFactory(id="streak_2", threshold=2, effects={"loyalty": 10, "streak_freezes": 1})
    checkin_yesterday_and_today(user, 2)  # loyalty 10, level 1

    response = auth_client.post("/api/v1/rewards/streak_2/claim")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"reward", "state", "unlocked", "meta"}
    assert (body["reward"]["id"], body["reward"]["status"]) == ("streak_2", "claimed")
    assert body["reward"]["claimed_at"] is not None
    assert set(body["state"]) == STATE_KEYS
    assert (body["state"]["loyalty"], body["state"]["streak_freezes"]) == (20, 1)
    assert body["state"]["streak_status"] == "active"
    assert body["meta"]["loyalty_applied"] == 10
    assert body["meta"]["applied"]["streak_freezes"] == 1
    assert body["unlocked"] == []


def test_claim_refusals_have_stable_codes_and_change_nothing(user, auth_client):
    RewardFactory(id="streak_1", threshold=1)
    RewardFactory(id="streak_5", threshold=5)
    checkin_yesterday_and_today(user, 1)
    assert auth_client.post("/api/v1/rewards/streak_1/claim").status_code == 200
    state_before = state_of(user).as_rules_state()
    ledger_before = LedgerEntry.objects.filter(user_id=user.pk).count()

    problem(auth_client.post("/api/v1/rewards/streak_1/claim"), 409, "already_claimed")
    problem(auth_client.post("/api/v1/rewards/streak_5/claim"), 409, "reward_locked")
    problem(auth_client.post("/api/v1/rewards/nope/claim"), 404, "reward_not_found")

    assert state_of(user).as_rules_state() == state_before
    assert LedgerEntry.objects.filter(user_id=user.pk).count() == ledger_before


def test_claim_refuses_a_body_it_does_not_understand(user, auth_client):
    RewardFactory(id="streak_1", threshold=1)
    checkin_yesterday_and_today(user, 1)

    response = auth_client.post("/api/v1/rewards/streak_1/claim", {"twice": True})

    problem(response, 400, "validation_error")
    assert response.json()["errors"] == {"twice": ["Unknown field."]}
    assert UserReward.objects.get(user_id=user.pk).claimed_at is None


def test_claim_needs_authentication(api_client):
    problem(api_client.post("/api/v1/rewards/streak_1/claim"), 401, "not_authenticated")


def test_the_checkin_response_says_what_was_auto_claimed(user, auth_client):
    RewardFactory(
        id="checkins_1",
        rule=Reward.Rule.TOTAL_CHECKINS,
        threshold=1,
        effects={"loyalty": 20},
        auto_claim=True,
    )
    RewardFactory(id="streak_1", rule=Reward.Rule.STREAK, threshold=1)

    body = auth_client.post("/api/v1/checkins").json()

    assert sorted((u["id"], u["auto_claimed"]) for u in body["unlocked"]) == [
        ("checkins_1", True),
        ("streak_1", False),
    ]
    assert body["state"]["loyalty"] == 25
    statuses = {row["id"]: row["status"] for row in auth_client.get("/api/v1/rewards").json()}
    assert statuses == {"checkins_1": "claimed", "streak_1": "unlocked"}


# --- GET /tools ---------------------------------------------------------------------
def test_tools_are_public_and_sorted_by_price(api_client):
    ToolFactory(id="b_focus", price=20, effects={"loyalty": 5, "energy": 5})
    ToolFactory(id="coffee", price=10, effects={"energy": 15, "fatigue": 2})
    ToolFactory(id="a_focus", price=20)
    ToolFactory(id="retired", price=1, active=False)

    response = api_client.get("/api/v1/tools")

    assert response.status_code == 200
    body = response.json()
    assert [tool["id"] for tool in body] == ["coffee", "a_focus", "b_focus"]
    assert body[0] == {
        "id": "coffee",
        "name": body[0]["name"],
        "description": "",
        "price": 10,
        "effects": {"energy": 15, "fatigue": 2},
    }


def test_tools_ignore_a_stale_token(api_client):
    ToolFactory()
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    assert api_client.get("/api/v1/tools").status_code == 200


def test_tools_list_costs_one_query(api_client):
    for i in range(20):
        ToolFactory(id=f"t_{i}")

    with CaptureQueriesContext(connection) as queries:
        assert api_client.get("/api/v1/tools").status_code == 200

    assert len(work_queries(queries)) == 1


# --- GET /inventory -----------------------------------------------------------------
def test_inventory_shows_capacity_and_held_tools(user, auth_client):
    coffee = ToolFactory(id="coffee", price=10, effects={"energy": 15})
    InventoryItemFactory(user=user, tool=coffee, quantity=2)
    InventoryItemFactory(user=user, tool=ToolFactory(id="empty"), quantity=0)
    InventoryItemFactory(tool=coffee, quantity=3)  # someone else's

    with CaptureQueriesContext(connection) as queries:
        response = auth_client.get("/api/v1/inventory")

    assert response.status_code == 200
    assert response.json() == {
        "capacity": {"max": 5, "used": 1},
        "items": [
            {
                "tool": {
                    "id": "coffee",
                    "name": coffee.name,
                    "description": "",
                    "price": 10,
                    "effects": {"energy": 15},
                },
                "quantity": 2,
            }
        ],
    }
    assert len(work_queries(queries)) == 1  # the items with their tools


def test_inventory_needs_authentication(api_client):
    problem(api_client.get("/api/v1/inventory"), 401, "not_authenticated")


# --- POST /inventory/{tool_id}/buy and /use -----------------------------------------
def test_buy_then_use(user, auth_client, grant):
    ToolFactory(id="coffee", price=10, effects={"energy": 15, "fatigue": 2})
    grant(user, loyalty=25)

    bought = auth_client.post("/api/v1/inventory/coffee/buy")

    assert bought.status_code == 201
    body = bought.json()
    assert set(body) == {"item", "state", "unlocked"}
    assert (body["item"]["tool"]["id"], body["item"]["quantity"]) == ("coffee", 1)
    assert body["state"]["loyalty"] == 15
    assert set(body["state"]) == STATE_KEYS

    used = auth_client.post("/api/v1/inventory/coffee/use")

    assert used.status_code == 200
    body = used.json()
    assert set(body) == {"item", "state", "meta", "unlocked"}
    assert body["item"]["quantity"] == 0
    assert (body["state"]["energy"], body["state"]["fatigue"]) == (65, 2)
    assert body["meta"] == {
        "leveled_up": False,
        "loyalty_multiplier": 1.0,
        "loyalty_applied": 0,
        "applied": {
            "level": 0,
            "energy": 15,
            "fatigue": 2,
            "loyalty": 0,
            "streak": 0,
            "longest_streak": 0,
            "total_checkins": 0,
            "streak_freezes": 0,
        },
    }
    assert auth_client.get("/api/v1/inventory").json()["capacity"]["used"] == 0


def test_shop_refusals_have_stable_codes_and_change_nothing(user, auth_client, grant):
    ToolFactory(id="pricey", price=100)
    ToolFactory(id="coffee", price=1)
    for i in range(5):
        InventoryItemFactory(user=user, tool=ToolFactory(id=f"held_{i}"), quantity=1)
    grant(user, loyalty=50)
    state_before = state_of(user).as_rules_state()
    ledger_before = LedgerEntry.objects.filter(user_id=user.pk).count()

    problem(auth_client.post("/api/v1/inventory/coffee/buy"), 409, "inventory_full")
    problem(auth_client.post("/api/v1/inventory/coffee/use"), 409, "not_in_inventory")
    problem(auth_client.post("/api/v1/inventory/nope/buy"), 404, "tool_not_found")
    problem(auth_client.post("/api/v1/inventory/nope/use"), 404, "tool_not_found")
    InventoryItem.objects.filter(user_id=user.pk, tool_id="held_0").update(quantity=0)
    short = problem(auth_client.post("/api/v1/inventory/pricey/buy"), 409, "insufficient_loyalty")
    problem(
        auth_client.post("/api/v1/inventory/coffee/buy", {"quantity": 2}),
        400,
        "validation_error",
    )

    assert state_of(user).as_rules_state() == state_before
    assert LedgerEntry.objects.filter(user_id=user.pk).count() == ledger_before
    # What the client needs to say what is missing.
    assert (short["price"], short["loyalty"]) == (100, 50)
    assert short["detail"] == "This tool costs 100 loyalty points; you have 50."
    assert not InventoryItem.objects.filter(user_id=user.pk, tool_id__in=["coffee", "pricey"])


@pytest.mark.parametrize("action", ["buy", "use"])
def test_shop_actions_need_authentication(api_client, action):
    problem(api_client.post(f"/api/v1/inventory/coffee/{action}"), 401, "not_authenticated")


def test_query_counts_of_the_writes(user, auth_client, grant):
    """Each write is a handful of statements whatever the catalog holds."""
    RewardFactory.create_batch(30, rule=Reward.Rule.LEVEL, threshold=99)
    RewardFactory(id="streak_1", threshold=1)
    ToolFactory(id="coffee", price=1)
    checkin_yesterday_and_today(user, 1)
    grant(user, loyalty=10)
    counts = {}
    for name, path in [
        ("claim", "/api/v1/rewards/streak_1/claim"),
        ("buy", "/api/v1/inventory/coffee/buy"),
        ("use", "/api/v1/inventory/coffee/use"),
    ]:
        with CaptureQueriesContext(connection) as queries:
            response = auth_client.post(path)
        assert response.status_code in (200, 201), response.content
        counts[name] = len(work_queries(queries))

    # Each: the lock (with the time zone), the reward or tool with the user's
    # holding, one write of it, the rewards not owned yet (read after the lock),
    # then the state update, the ledger and the events: one statement on
    # PostgreSQL (engagement.statements.write_change), three elsewhere.
    each = 5 if connection.vendor == "postgresql" else 7
    assert counts == {"claim": each, "buy": each, "use": each}


def test_schema_declares_every_rewards_response(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]

    def codes(path: str, method: str) -> set[str]:
        return set(paths[path][method]["responses"])

    assert codes("/api/v1/rewards", "get") == {"200", "401", "429", "503"}
    assert {"200", "401", "404", "409"} <= codes("/api/v1/rewards/{id}/claim", "post")
    assert codes("/api/v1/tools", "get") == {"200", "429", "503"}
    assert paths["/api/v1/tools"]["get"].get("security") in (None, [{}], [])
    assert codes("/api/v1/inventory", "get") == {"200", "401", "429", "503"}
    assert {"201", "401", "404", "409"} <= codes("/api/v1/inventory/{tool_id}/buy", "post")
    assert {"200", "401", "404", "409"} <= codes("/api/v1/inventory/{tool_id}/use", "post")


def test_a_retried_buy_with_an_idempotency_key_is_charged_once(user, auth_client, grant):
    ToolFactory(id="coffee", price=10)
    grant(user, loyalty=30)

    first = auth_client.post("/api/v1/inventory/coffee/buy", HTTP_IDEMPOTENCY_KEY="buy-1")
    retry = auth_client.post("/api/v1/inventory/coffee/buy", HTTP_IDEMPOTENCY_KEY="buy-1")

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert state_of(user).loyalty == 20
    assert InventoryItem.objects.get(user_id=user.pk, tool_id="coffee").quantity == 1
