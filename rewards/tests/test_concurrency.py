"""Races for real: threads with their own connections, released together by a
barrier, each doing a full HTTP request. On PostgreSQL the state-row lock
serializes them; on SQLite the IMMEDIATE transactions do."""

from collections import Counter

import pytest

from base.testing import run_concurrently
from engagement.models import LedgerEntry
from rewards.models import InventoryItem, Reward, UserReward
from rewards.selectors import inventory_for_user
from rewards.tests.factories import RewardFactory, ToolFactory, state_of
from users.tests.factories import client_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def outcomes(user, count: int, paths: list[str]) -> Counter:
    """POST ``paths[i]`` from thread ``i``; count (status, code) pairs."""
    clients = [client_for(user) for _ in range(count)]

    def post(i: int) -> tuple[int, str | None]:
        response = clients[i].post(paths[i])
        code = response.json().get("code") if response.status_code >= 400 else None
        return response.status_code, code

    results = run_concurrently(count, post)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    return Counter(results)


def test_parallel_claims_of_one_reward_apply_it_once(user, grant, assert_ledger_replays):
    RewardFactory(id="bonus", rule=Reward.Rule.LEVEL, threshold=1, effects={"loyalty": 10})
    grant(user, loyalty=1)  # unlocks the reward

    results = outcomes(user, 20, ["/api/v1/rewards/bonus/claim"] * 20)

    assert results == Counter({(200, None): 1, (409, "already_claimed"): 19})
    assert state_of(user).loyalty == 11
    assert LedgerEntry.objects.filter(user_id=user.pk, kind="reward_claim").count() == 1
    assert UserReward.objects.get(user_id=user.pk).claimed_at is not None
    assert_ledger_replays(user)


def test_parallel_buys_with_loyalty_for_one(user, grant, assert_ledger_replays):
    ToolFactory(id="coffee", price=10)
    grant(user, loyalty=10)

    results = outcomes(user, 10, ["/api/v1/inventory/coffee/buy"] * 10)

    assert results == Counter({(201, None): 1, (409, "insufficient_loyalty"): 9})
    assert state_of(user).loyalty == 0
    assert InventoryItem.objects.get(user_id=user.pk, tool_id="coffee").quantity == 1
    assert LedgerEntry.objects.filter(user_id=user.pk, kind="tool_buy").count() == 1
    assert_ledger_replays(user)


def test_parallel_use_of_the_last_item(user, grant, assert_ledger_replays):
    ToolFactory(id="coffee", price=10, effects={"energy": 15})
    grant(user, loyalty=10)
    assert client_for(user).post("/api/v1/inventory/coffee/buy").status_code == 201

    results = outcomes(user, 10, ["/api/v1/inventory/coffee/use"] * 10)

    assert results == Counter({(200, None): 1, (409, "not_in_inventory"): 9})
    assert InventoryItem.objects.get(user_id=user.pk, tool_id="coffee").quantity == 0
    assert state_of(user).energy == 65
    assert LedgerEntry.objects.filter(user_id=user.pk, kind="tool_use").count() == 1
    assert_ledger_replays(user)


def test_parallel_buys_of_six_tools_never_exceed_the_capacity(
    user, grant, settings, assert_ledger_replays
):
    assert settings.ENGAGEMENT["INVENTORY_CAPACITY"] == 5
    tools = [ToolFactory(id=f"tool_{i}", price=5) for i in range(6)]
    grant(user, loyalty=100)

    results = outcomes(user, 6, [f"/api/v1/inventory/{tool.id}/buy" for tool in tools])

    assert results == Counter({(201, None): 5, (409, "inventory_full"): 1})
    assert inventory_for_user(user_id=user.pk).capacity_used == 5
    assert InventoryItem.objects.filter(user_id=user.pk).count() == 5
    assert state_of(user).loyalty == 75
    assert_ledger_replays(user)
