"""Streak repairs racing each other and check-ins, with real threads: each has
its own connection and they are released together. On PostgreSQL the state
row lock serializes them; on SQLite the IMMEDIATE transactions do. Whatever
the order, one restore wins, nothing is doubled, and every invariant holds."""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from base.errors import DomainError
from base.testing import run_concurrently
from checkins.services import checkin_create
from engagement.models import LedgerEntry
from events.models import Event
from rewards.models import InventoryItem, Reward, UserReward
from rewards.services import streak_restore, tool_use
from rewards.tests.factories import InventoryItemFactory, RewardFactory, ToolFactory, state_of
from rewards.tests.test_interleavings import interleave
from users.tests.factories import client_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

THREADS = 8  # PostgreSQL's connections are shared with other suites


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, 5, day, hour, tzinfo=dt.UTC)


def lose_streak(user, length: int = 5) -> None:
    """Check in May 1..``length``, miss a day, check in again: ``length`` kept."""
    for day in range(1, length + 1):
        checkin_create(user_id=user.pk, now=at(day))
    checkin_create(user_id=user.pk, now=at(length + 2))


def hold_repairs(user, quantity: int) -> None:
    tool = ToolFactory(id="streak_repair", price=40, effects={"streak_repair": 1})
    InventoryItemFactory(user=user, tool=tool, quantity=quantity)


def outcome(action) -> str:
    try:
        action()
    except DomainError as exc:
        return exc.code
    return "ok"


def assert_restored_once(user, *, streak: int) -> None:
    state = state_of(user)
    assert (state.streak, state.longest_streak) == (streak, streak)
    assert (state.lost_streak, state.streak_lost_on) == (0, None)
    assert LedgerEntry.objects.filter(user_id=user.pk, kind="streak_restore").count() == 1
    assert Event.objects.filter(user_id=user.pk, type="streak.restored").count() == 1
    out = io.StringIO()
    call_command("verify_invariants", "--no-progress", stdout=out, stderr=io.StringIO())
    assert "every invariant holds" in out.getvalue()


def test_parallel_repairs_restore_once_and_spend_one_item(user):
    lose_streak(user)
    hold_repairs(user, quantity=3)

    def use(i: int) -> tuple[int, str | None]:
        response = clients[i].post("/api/v1/inventory/streak_repair/use")
        return response.status_code, response.json().get("code")

    with time_machine.travel(at(7, 18), tick=False):  # tokens issued then, too
        clients = [client_for(user) for _ in range(THREADS)]
        results = run_concurrently(THREADS, use)

    assert Counter(results) == Counter({(200, None): 1, (409, "nothing_to_repair"): THREADS - 1})
    assert InventoryItem.objects.get(user_id=user.pk, tool_id="streak_repair").quantity == 2
    assert LedgerEntry.objects.filter(user_id=user.pk, kind="tool_use").count() == 1
    assert_restored_once(user, streak=6)


@pytest.mark.parametrize("restorer", ["staff", "tool"])
def test_a_restore_racing_the_next_checkin_counts_both_whatever_the_order(user, restorer):
    lose_streak(user)  # streak 1 on May 7, 5 kept
    hold_repairs(user, quantity=1)

    def restore() -> None:
        if restorer == "staff":
            streak_restore(user_id=user.pk, reason="outage", now=at(8, 12))
        else:
            tool_use(user_id=user.pk, tool_id="streak_repair", now=at(8, 12))

    def act(i: int) -> str:
        if i == 0:
            return outcome(restore)
        return outcome(lambda: checkin_create(user_id=user.pk, now=at(8, 12)))

    results = run_concurrently(2, act)

    assert results == ["ok", "ok"]
    # Restore then check-in: 5 + 1, extended to 7; check-in then restore: 2, plus 5.
    assert_restored_once(user, streak=7)


def test_staff_and_tools_and_a_checkin_at_once_restore_once(user):
    lose_streak(user)
    hold_repairs(user, quantity=THREADS)

    def act(i: int) -> str:
        if i == 0:
            return outcome(lambda: checkin_create(user_id=user.pk, now=at(8, 12)))
        if i % 2:
            return outcome(lambda: streak_restore(user_id=user.pk, reason="r", now=at(8, 12)))
        return outcome(lambda: tool_use(user_id=user.pk, tool_id="streak_repair", now=at(8, 12)))

    results = run_concurrently(THREADS, act)

    assert results[0] == "ok"
    assert Counter(results[1:]) == Counter({"ok": 1, "nothing_to_repair": THREADS - 2})
    spent = THREADS - InventoryItem.objects.get(user_id=user.pk, tool_id="streak_repair").quantity
    assert spent == LedgerEntry.objects.filter(user_id=user.pk, kind="tool_use").count() <= 1
    assert_restored_once(user, streak=7)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a forced schedule needs PostgreSQL's row locks"
)
@pytest.mark.parametrize("restorer", ["staff", "tool"])
@pytest.mark.parametrize("holder", ["checkin", "restore"])
def test_forced_schedules_of_a_restore_and_a_checkin(user, restorer, holder):
    """One holds the state lock while the other is seen waiting for it, then
    commits: the waiter reads the row as the holder left it. Either way the
    streak reaches 7 once, and the reward for 7 unlocks once, in whichever
    change reached it."""
    RewardFactory(id="streak_7", rule=Reward.Rule.STREAK, threshold=7)
    lose_streak(user)
    hold_repairs(user, quantity=1)

    def restore():
        if restorer == "staff":
            return streak_restore(user_id=user.pk, reason="outage", now=at(8, 12))
        return tool_use(user_id=user.pk, tool_id="streak_repair", now=at(8, 12))

    def checkin():
        return checkin_create(user_id=user.pk, now=at(8, 12))

    first, second = (checkin, restore) if holder == "checkin" else (restore, checkin)
    held, waited = interleave(first_holds_lock=first, second=second)

    assert not isinstance(waited, BaseException), repr(waited)
    assert held.unlocked == []
    assert [u.reward.pk for u in waited.unlocked] == ["streak_7"]
    assert UserReward.objects.filter(user_id=user.pk, reward_id="streak_7").count() == 1
    assert_restored_once(user, streak=7)
