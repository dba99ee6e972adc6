"""Streak repair: the ``streak_repair`` tool within its window, staff's
restore at any time, once per loss, through the ledger, with rewards and
events. Run on SQLite and on PostgreSQL like the rest of the suite."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

from base.testing import assert_problem
from checkins.services import checkin_create
from engagement.models import LedgerEntry, UserState
from events.models import Event
from events.streaks import streaks_lost_report
from rewards.errors import NothingToRepair, NotInInventory, ReasonRequired
from rewards.models import InventoryItem, Reward, UserReward
from rewards.services import streak_restore, tool_use
from rewards.tests.factories import InventoryItemFactory, RewardFactory, ToolFactory
from users.tests.factories import UserFactory, client_for

pytestmark = pytest.mark.django_db

UTC_PLUS_14 = "Pacific/Kiritimati"
UTC_MINUS_11 = "Pacific/Pago_Pago"


def local(day: int, hour: int = 12, zone: str = "UTC", minute: int = 0) -> dt.datetime:
    """May ``day`` 2026 at ``hour`` in ``zone``, as an aware moment."""
    return dt.datetime(2026, 5, day, hour, minute, tzinfo=ZoneInfo(zone))


def lose_streak(user, *, length: int = 5, zone: str = "UTC") -> dt.date:
    """Check in on May 1..``length`` (local noon), miss May ``length`` + 1,
    check in on the day after: the streak is reset, ``length`` is kept as
    lost on May ``length`` + 1, which is returned."""
    for day in range(1, length + 1):
        checkin_create(user_id=user.pk, now=local(day, zone=zone))
    checkin_create(user_id=user.pk, now=local(length + 2, zone=zone))
    return dt.date(2026, 5, length + 1)


def state_of(user) -> UserState:
    return UserState.objects.get(user_id=user.pk)


def repair_tool(user, quantity: int = 1) -> InventoryItem:
    tool = ToolFactory(id="streak_repair", price=40, effects={"streak_repair": 1})
    return InventoryItemFactory(user=user, tool=tool, quantity=quantity)


def held(user) -> int:
    return InventoryItem.objects.get(user_id=user.pk, tool_id="streak_repair").quantity


def kinds(user) -> list[tuple[str, str]]:
    return list(
        LedgerEntry.objects.filter(user_id=user.pk).order_by("id").values_list("kind", "ref")
    )


def events_of(user, *types: str) -> list[tuple[str, dict]]:
    events = Event.objects.filter(user_id=user.pk).order_by("created_at", "id")
    if types:
        events = events.filter(type__in=types)
    return [(e.type, {k: v for k, v in e.data.items() if k != "user_id"}) for e in events]


def assert_invariants_hold() -> None:
    out = io.StringIO()
    call_command("verify_invariants", "--no-progress", stdout=out, stderr=io.StringIO())
    assert "every invariant holds" in out.getvalue()


# --- The check-in keeps the loss ----------------------------------------------------


def test_the_reset_checkin_keeps_the_lost_length_and_date(user):
    lost_on = lose_streak(user, length=5)

    state = state_of(user)
    assert (state.streak, state.longest_streak) == (1, 5)
    assert (state.lost_streak, state.streak_lost_on) == (5, lost_on)
    entry = LedgerEntry.objects.filter(user_id=user.pk).latest("id")
    assert (entry.state_after["lost_streak"], entry.state_after["streak_lost_on"]) == (
        5,
        "2026-05-06",
    )


# --- The tool ---------------------------------------------------------------------------


def test_the_tool_restores_the_lost_streak_through_the_ledger(user):
    lost_on = lose_streak(user, length=5)
    repair_tool(user)

    result = tool_use(user_id=user.pk, tool_id="streak_repair", now=local(7, 18))

    state = state_of(user)
    assert (state.streak, state.longest_streak, state.total_checkins) == (6, 6, 6)
    assert (state.lost_streak, state.streak_lost_on) == (0, None)
    assert result.state == state.as_rules_state()
    assert result.step.applied.streak == 5  # meta: what the use did in all
    assert result.item is not None
    assert result.item.quantity == 0
    assert held(user) == 0
    assert kinds(user)[-2:] == [("tool_use", "streak_repair"), ("streak_restore", "2026-05-06")]
    restore = LedgerEntry.objects.get(user_id=user.pk, kind="streak_restore")
    assert (restore.streak, restore.longest_streak, restore.loyalty) == (5, 1, 0)
    assert events_of(user, "tool.used", "streak.restored") == [
        ("tool.used", {"tool_id": "streak_repair"}),
        (
            "streak.restored",
            {
                "date": lost_on.isoformat(),
                "lost_streak": 5,
                "streak": 6,
                "source": "tool",
                "tool_id": "streak_repair",
            },
        ),
    ]
    assert_invariants_hold()


def test_the_restored_streak_unlocks_rewards(user):
    RewardFactory(id="streak_6", rule=Reward.Rule.STREAK, threshold=6, auto_claim=False)
    lose_streak(user, length=5)
    repair_tool(user)

    result = tool_use(user_id=user.pk, tool_id="streak_repair", now=local(7, 18))

    assert [u.reward.pk for u in result.unlocked] == ["streak_6"]
    assert UserReward.objects.filter(user_id=user.pk, reward_id="streak_6").exists()
    assert [data["reward_id"] for _, data in events_of(user, "reward.unlocked")] == ["streak_6"]


def test_the_next_checkin_extends_the_restored_streak(user):
    lose_streak(user, length=5)
    repair_tool(user)
    tool_use(user_id=user.pk, tool_id="streak_repair", now=local(7, 18))

    result = checkin_create(user_id=user.pk, now=local(8))

    assert (result.state.streak, result.state.longest_streak) == (7, 7)
    assert result.checkin.streak == 7
    assert_invariants_hold()


@pytest.mark.parametrize(
    ("moment", "repairs"),
    [
        (local(7, 0), True),  # the reset day (lost on May 6): one day after
        (local(8, 23, minute=59), True),  # two local days after the loss, to its last minute
        (local(9, 0), False),  # the third day
    ],
)
def test_the_window_edges_in_utc(user, moment, repairs):
    lose_streak(user, length=5)
    repair_tool(user)

    if repairs:
        assert tool_use(user_id=user.pk, tool_id="streak_repair", now=moment).state.streak == 6
    else:
        with pytest.raises(NothingToRepair):
            tool_use(user_id=user.pk, tool_id="streak_repair", now=moment)


@pytest.mark.parametrize("zone", [UTC_PLUS_14, UTC_MINUS_11])
@pytest.mark.parametrize(
    ("local_moment", "repairs"),
    [((8, 23, 59), True), ((9, 0, 0), False)],
)
def test_the_window_is_counted_in_the_users_local_days(zone, local_moment, repairs):
    user = UserFactory(timezone=zone)
    lost_on = lose_streak(user, length=5, zone=zone)
    assert lost_on == dt.date(2026, 5, 6)
    repair_tool(user)
    day, hour, minute = local_moment
    moment = local(day, hour, zone=zone, minute=minute).astimezone(dt.UTC)
    # At these instants UTC is on another date than the user (Kiritimati's
    # first minute of May 9 is still May 8 in UTC; Pago Pago's last minute of
    # May 8 is May 9 in UTC): the user's own local date decides.

    if repairs:
        result = tool_use(user_id=user.pk, tool_id="streak_repair", now=moment)
        assert result.state.streak == 6
        assert held(user) == 0
    else:
        with pytest.raises(NothingToRepair):
            tool_use(user_id=user.pk, tool_id="streak_repair", now=moment)
        assert held(user) == 1
        assert state_of(user).lost_streak == 5


def test_outside_the_window_nothing_is_written_and_the_item_is_kept(user):
    lose_streak(user, length=5)
    item = repair_tool(user, quantity=2)
    before = (state_of(user).as_rules_state(), kinds(user), events_of(user), item.updated_at)

    with pytest.raises(NothingToRepair):
        tool_use(user_id=user.pk, tool_id="streak_repair", now=local(9))

    item.refresh_from_db()
    assert item.quantity == 2
    after = (state_of(user).as_rules_state(), kinds(user), events_of(user), item.updated_at)
    assert after == before


def test_a_loss_found_days_later_is_past_the_window(user):
    for day in (1, 2, 3):
        checkin_create(user_id=user.pk, now=local(day))
    checkin_create(user_id=user.pk, now=local(10))  # lost on May 4: six days ago
    repair_tool(user)

    with pytest.raises(NothingToRepair):
        tool_use(user_id=user.pk, tool_id="streak_repair", now=local(10, 13))
    assert held(user) == 1


def test_nothing_lost_is_nothing_to_repair(user):
    for day in (1, 2, 3):
        checkin_create(user_id=user.pk, now=local(day))
    repair_tool(user)

    with pytest.raises(NothingToRepair):
        tool_use(user_id=user.pk, tool_id="streak_repair", now=local(3, 13))
    assert held(user) == 1


def test_a_loss_is_repaired_once(user):
    lose_streak(user, length=5)
    repair_tool(user, quantity=2)
    tool_use(user_id=user.pk, tool_id="streak_repair", now=local(7, 13))

    with pytest.raises(NothingToRepair):
        tool_use(user_id=user.pk, tool_id="streak_repair", now=local(7, 14))

    assert held(user) == 1
    assert state_of(user).streak == 6
    assert LedgerEntry.objects.filter(user_id=user.pk, kind="streak_restore").count() == 1


def test_not_holding_the_tool_comes_before_the_window(user):
    ToolFactory(id="streak_repair", effects={"streak_repair": 1})

    with pytest.raises(NotInInventory):
        tool_use(user_id=user.pk, tool_id="streak_repair", now=local(1))


def test_a_tool_may_repair_and_apply_other_effects(user):
    lose_streak(user, length=5)
    tool = ToolFactory(id="phoenix", effects={"streak_repair": 1, "energy": 10})
    InventoryItemFactory(user=user, tool=tool)
    energy = state_of(user).energy

    result = tool_use(user_id=user.pk, tool_id="phoenix", now=local(7, 13))

    assert (result.state.streak, result.state.energy) == (6, energy + 10)
    assert (result.step.applied.streak, result.step.applied.energy) == (5, 10)
    assert_invariants_hold()


def test_the_periodic_job_announces_a_restored_loss_never_again_and_the_next_one_once(user):
    lose_streak(user, length=5)
    repair_tool(user)
    tool_use(user_id=user.pk, tool_id="streak_repair", now=local(7, 13))
    lost_before = events_of(user, "streak.lost")
    assert len(lost_before) == 1  # reported by the reset check-in

    streaks_lost_report(now=local(8, 0, minute=5))  # May 7 ended: the restored streak holds

    assert events_of(user, "streak.lost") == lost_before
    streaks_lost_report(now=local(9, 0, minute=5))  # May 8 ended without a check-in
    streaks_lost_report(now=local(9, 0, minute=20))
    assert events_of(user, "streak.lost")[1:] == [
        ("streak.lost", {"date": "2026-05-08", "lost_streak": 6, "last_checkin_date": "2026-05-07"})
    ]


# --- Staff ---------------------------------------------------------------------------------


def test_staff_restore_at_any_time_with_the_reason(user):
    lost_on = lose_streak(user, length=5)

    result = streak_restore(user_id=user.pk, reason="  app outage on May 6 ", now=local(30))

    assert (result.state.streak, result.state.longest_streak) == (6, 6)
    entry = LedgerEntry.objects.get(user_id=user.pk, kind="streak_restore")
    assert (entry.ref, entry.reason, entry.streak) == (
        lost_on.isoformat(),
        "app outage on May 6",
        5,
    )
    assert events_of(user, "streak.restored") == [
        (
            "streak.restored",
            {"date": "2026-05-06", "lost_streak": 5, "streak": 6, "source": "staff"},
        )
    ]
    assert_invariants_hold()


def test_staff_restore_needs_a_reason_and_writes_nothing_without_one(user):
    lose_streak(user, length=5)
    before = kinds(user)

    with pytest.raises(ReasonRequired):
        streak_restore(user_id=user.pk, reason="   ", now=local(8))

    assert kinds(user) == before
    assert state_of(user).lost_streak == 5


def test_staff_restore_is_once_per_loss(user):
    lose_streak(user, length=5)
    streak_restore(user_id=user.pk, reason="outage", now=local(8))

    with pytest.raises(NothingToRepair):
        streak_restore(user_id=user.pk, reason="outage", now=local(8))

    assert state_of(user).streak == 6


def test_a_restore_keeps_the_longest_streak_when_it_was_longer(user):
    for day in range(1, 11):
        checkin_create(user_id=user.pk, now=local(day))
    checkin_create(user_id=user.pk, now=local(12))  # lost 10
    for day in (13, 14):
        checkin_create(user_id=user.pk, now=local(day))
    checkin_create(user_id=user.pk, now=local(16))  # lost 3 (the kept loss now)

    result = streak_restore(user_id=user.pk, reason="support ticket", now=local(16, 13))

    assert (result.state.streak, result.state.longest_streak) == (4, 10)
    assert_invariants_hold()


# --- Over HTTP -------------------------------------------------------------------------------


def test_using_the_tool_over_http(user):
    lose_streak(user, length=5)
    repair_tool(user)

    with time_machine.travel(local(7, 13), tick=False):
        response = client_for(user).post("/api/v1/inventory/streak_repair/use")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["item"] == {
        "tool": {
            "id": "streak_repair",
            "name": body["item"]["tool"]["name"],
            "description": "",
            "price": 40,
            "effects": {"streak_repair": 1},
        },
        "quantity": 0,
    }
    assert (body["state"]["streak"], body["state"]["longest_streak"]) == (6, 6)
    assert (body["state"]["lost_streak"], body["state"]["streak_lost_on"]) == (0, None)
    assert body["meta"]["applied"]["streak"] == 5


def test_the_state_shows_what_can_be_restored(user):
    lose_streak(user, length=5)

    with time_machine.travel(local(7, 13), tick=False):
        state = client_for(user).get("/api/v1/me").json()["state"]

    assert (state["streak"], state["lost_streak"], state["streak_lost_on"]) == (1, 5, "2026-05-06")


def test_outside_the_window_over_http_is_409_nothing_to_repair_and_keeps_the_item(user):
    lose_streak(user, length=5)
    repair_tool(user)

    with time_machine.travel(local(9, 13), tick=False):
        response = client_for(user).post("/api/v1/inventory/streak_repair/use")

    assert_problem(response, 409, "nothing_to_repair")
    assert held(user) == 1
    assert state_of(user).lost_streak == 5
    assert not LedgerEntry.objects.filter(user_id=user.pk, kind__in=["tool_use", "streak_restore"])
