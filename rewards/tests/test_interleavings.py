"""Forced interleavings of two different operations on one user (PostgreSQL).

Under READ COMMITTED, a statement that waited for a row lock sees the locked
row as it is now but every other table as it was when the statement began.
So whatever a use case reads that depends on the locked state must be read
*after* the lock, in a statement of its own. These tests force the exact
schedule in which a stale read would show: one transaction checks the user
in, unlocking a reward, and holds its lock; another operation starts and
waits for that lock; the first commits; the second proceeds. Without the
guard the second operation tried to unlock the same reward again and failed
with an IntegrityError (a 500 over HTTP), losing its own write.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from checkins.services import checkin_create
from rewards import services
from rewards.models import InventoryItem, Reward, UserReward
from rewards.tests.factories import RewardFactory, ToolFactory, state_of
from users.tests.factories import UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.concurrency,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row locks and READ COMMITTED snapshots are PostgreSQL's; "
        "SQLite's IMMEDIATE transactions serialize whole transactions",
    ),
]

WAIT_SECONDS = 20


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _waiting_for_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted LIMIT 1",
            [pid],
        )
        return cursor.fetchone() is not None


def interleave(*, first_holds_lock: Callable[[], object], second: Callable[[], object]):
    """Run ``first_holds_lock`` in a transaction that stays open until
    ``second`` (another thread) is seen waiting for a lock; then commit the
    first and let the second finish. Returns (first result, second result or
    the exception it raised)."""
    first_done = threading.Event()
    release = threading.Event()
    second_pid: list[int] = []
    results: dict[str, object] = {}

    def run_first() -> None:
        try:
            with transaction.atomic():
                results["first"] = first_holds_lock()
                first_done.set()
                release.wait(WAIT_SECONDS)
        except BaseException as exc:
            results["first"] = exc
            first_done.set()
        finally:
            connections.close_all()

    def run_second() -> None:
        try:
            second_pid.append(_backend_pid())
            results["second"] = second()
        except BaseException as exc:
            results["second"] = exc
        finally:
            connections.close_all()

    holder = threading.Thread(target=run_first, daemon=True)
    holder.start()
    assert first_done.wait(WAIT_SECONDS)
    assert not isinstance(results["first"], BaseException), results["first"]
    waiter = threading.Thread(target=run_second, daemon=True)
    waiter.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while not (second_pid and _waiting_for_a_lock(second_pid[0])):
        assert waiter.is_alive(), f"the second operation did not wait: {results.get('second')}"
        assert time.monotonic() < deadline, "the second operation never waited for the lock"
        time.sleep(0.005)
    release.set()
    holder.join(WAIT_SECONDS)
    waiter.join(WAIT_SECONDS)
    assert not holder.is_alive()
    assert not waiter.is_alive()
    return results["first"], results["second"]


@pytest.fixture
def user_one_checkin_from_a_reward(grant):
    """A user whose first check-in unlocks ``first_day`` (total_checkins >= 1),
    who owns and has not claimed ``welcome``, holds a tool, and can buy one."""
    user = UserFactory()
    RewardFactory(id="first_day", rule=Reward.Rule.TOTAL_CHECKINS, threshold=1)
    RewardFactory(id="welcome", rule=Reward.Rule.LEVEL, threshold=1, effects={"loyalty": 3})
    ToolFactory(id="coffee", price=5, effects={"energy": 5})
    grant(user, loyalty=20)  # unlocks "welcome"
    services.tool_grant(user_id=user.pk, tool_id="coffee", reason="setup", now=timezone.now())
    assert set(UserReward.objects.filter(user=user).values_list("reward_id", flat=True)) == {
        "welcome"
    }
    return user


OPERATIONS: dict[str, Callable] = {
    "tool_use": lambda user: services.tool_use(
        user_id=user.pk, tool_id="coffee", now=timezone.now()
    ),
    "tool_buy": lambda user: services.tool_buy(
        user_id=user.pk, tool_id="coffee", now=timezone.now()
    ),
    "reward_claim": lambda user: services.reward_claim(
        user_id=user.pk, reward_id="welcome", now=timezone.now()
    ),
    "loyalty_grant": lambda user: services.loyalty_grant(
        user_id=user.pk, amount=7, reason="race", now=timezone.now()
    ),
    "state_adjust": lambda user: services.state_adjust(
        user_id=user.pk, energy=1, reason="race", now=timezone.now()
    ),
    "tool_grant": lambda user: services.tool_grant(
        user_id=user.pk, tool_id="coffee", reason="race", now=timezone.now()
    ),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_an_operation_waiting_behind_an_unlocking_checkin_keeps_its_write(
    operation, user_one_checkin_from_a_reward, assert_ledger_replays
):
    user = user_one_checkin_from_a_reward
    before = state_of(user)
    coffee_before = InventoryItem.objects.get(user=user, tool_id="coffee").quantity

    checkin, result = interleave(
        first_holds_lock=lambda: checkin_create(user_id=user.pk, now=timezone.now()),
        second=lambda: OPERATIONS[operation](user),
    )

    assert not isinstance(result, BaseException), repr(result)
    assert [u.reward.pk for u in checkin.unlocked] == ["first_day"]
    assert result.unlocked == []  # nothing unlocked twice
    owned = UserReward.objects.filter(user=user)
    assert sorted(owned.values_list("reward_id", flat=True)) == ["first_day", "welcome"]
    after = state_of(user)
    assert after.total_checkins == before.total_checkins + 1
    coffee = InventoryItem.objects.get(user=user, tool_id="coffee").quantity
    expected_coffee = {"tool_use": -1, "tool_buy": 1, "tool_grant": 1}.get(operation, 0)
    assert coffee == coffee_before + expected_coffee
    assert_ledger_replays(user)
