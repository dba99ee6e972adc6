import datetime as dt
from decimal import Decimal

import pytest

from engagement.models import LedgerEntry
from engagement.services import state_get_or_create
from rewards.errors import (
    AlreadyClaimed,
    InsufficientLoyalty,
    InventoryFull,
    NotInInventory,
    RewardLocked,
    RewardNotFound,
    ToolNotFound,
)
from rewards.models import InventoryItem, Reward, UserReward
from rewards.rules import Progress
from rewards.selectors import inventory_for_user, rewards_for_user
from rewards.services import reward_claim, tool_buy, tool_use
from rewards.tests.factories import (
    T0,
    InventoryItemFactory,
    RewardFactory,
    ToolFactory,
    UserRewardFactory,
    checkin_days,
    state_of,
)

pytestmark = pytest.mark.django_db


def ledger_kinds(user) -> list[tuple[str, str]]:
    return list(
        LedgerEntry.objects.filter(user_id=user.pk).order_by("id").values_list("kind", "ref")
    )


def snapshot(user) -> dict:
    """Everything a rejected operation must leave as it was."""
    return {
        "state": state_of(user).as_rules_state(),
        "ledger": LedgerEntry.objects.filter(user_id=user.pk).count(),
        "rewards": list(
            UserReward.objects.filter(user_id=user.pk)
            .order_by("id")
            .values_list("reward_id", "unlocked_at", "claimed_at")
        ),
        "inventory": list(
            InventoryItem.objects.filter(user_id=user.pk)
            .order_by("id")
            .values_list("tool_id", "quantity")
        ),
    }


# --- Unlock -------------------------------------------------------------------------
def test_a_met_rule_unlocks_the_reward_in_the_checkin(user, assert_ledger_replays):
    reward = RewardFactory(id="streak_3", rule=Reward.Rule.STREAK, threshold=3)

    results = checkin_days(user, 3)

    assert [r.unlocked for r in results[:2]] == [[], []]
    assert [(u.reward.id, u.auto_claimed) for u in results[2].unlocked] == [("streak_3", False)]
    owned = UserReward.objects.get(user_id=user.pk, reward=reward)
    assert owned.unlocked_at == T0 + dt.timedelta(days=2)
    assert owned.claimed_at is None
    assert state_of(user).loyalty == 15  # not claimed: no effects yet
    assert_ledger_replays(user)


def test_a_reward_is_owned_once_ever(user):
    RewardFactory(id="streak_2", rule=Reward.Rule.STREAK, threshold=2)
    checkin_days(user, 2)
    # The streak breaks (a gap of two days without freezes), then reaches 2 again.
    later = checkin_days(user, 2, start=T0 + dt.timedelta(days=4))

    assert [r.state.streak for r in later] == [1, 2]
    assert later[1].unlocked == []
    assert UserReward.objects.filter(user_id=user.pk).count() == 1


def test_inactive_rewards_do_not_unlock(user):
    RewardFactory(rule=Reward.Rule.TOTAL_CHECKINS, threshold=1, active=False)

    (result,) = checkin_days(user, 1)

    assert result.unlocked == []
    assert not UserReward.objects.filter(user_id=user.pk).exists()


def test_auto_claim_applies_in_the_unlocking_checkin_and_chains(user, assert_ledger_replays):
    RewardFactory(
        id="checkins_2",
        rule=Reward.Rule.TOTAL_CHECKINS,
        threshold=2,
        effects={"energy": 30},
        auto_claim=True,
    )
    RewardFactory(id="level_2", rule=Reward.Rule.LEVEL, threshold=2, effects={"loyalty": 50})

    results = checkin_days(user, 2)

    # Day 2: energy 70 + 20 = 90, then +30 from the auto-claim reaches 100: level 2,
    # which meets the level reward in the same transaction.
    assert [(u.reward.id, u.auto_claimed) for u in results[1].unlocked] == [
        ("checkins_2", True),
        ("level_2", False),
    ]
    state = state_of(user)
    assert (state.level, state.energy, state.loyalty) == (2, 0, 10)
    auto = UserReward.objects.get(user_id=user.pk, reward_id="checkins_2")
    assert auto.claimed_at == auto.unlocked_at == T0 + dt.timedelta(days=1)
    assert UserReward.objects.get(user_id=user.pk, reward_id="level_2").claimed_at is None
    assert ledger_kinds(user) == [
        ("checkin", "2026-03-02"),
        ("checkin", "2026-03-03"),
        ("reward_claim", "checkins_2"),
    ]
    assert_ledger_replays(user)


def test_a_reward_added_later_unlocks_at_the_next_state_change(user, grant):
    checkin_days(user, 3)
    RewardFactory(id="streak_3", rule=Reward.Rule.STREAK, threshold=3)
    assert rewards_for_user(user_id=user.pk)[0].status == "locked"

    grant(user, loyalty=1)

    assert rewards_for_user(user_id=user.pk)[0].status == "unlocked"


# --- Claim --------------------------------------------------------------------------
def test_claim_applies_the_effects_once_through_the_ledger(user, assert_ledger_replays):
    RewardFactory(id="streak_3", threshold=3, effects={"loyalty": 10, "streak_freezes": 1})
    checkin_days(user, 3)  # level 2 after day 3, loyalty 15
    now = T0 + dt.timedelta(days=2, hours=1)

    result = reward_claim(user_id=user.pk, reward_id="streak_3", now=now)

    # Loyalty gains are multiplied at level 2: 10 x 1.05 = 10.5 -> 11.
    assert (result.state.loyalty, result.state.streak_freezes) == (26, 1)
    assert result.step.loyalty_applied == 11
    assert result.reward is not None
    assert result.reward.status == "claimed"
    assert result.reward.claimed_at == now
    assert UserReward.objects.get(user_id=user.pk, reward_id="streak_3").claimed_at == now
    entry = LedgerEntry.objects.filter(user_id=user.pk).latest("id")
    assert (entry.kind, entry.ref, entry.loyalty, entry.streak_freezes) == (
        "reward_claim",
        "streak_3",
        11,
        1,
    )
    assert_ledger_replays(user)


def test_claim_can_level_up_and_unlock_further_rewards(user, grant):
    RewardFactory(id="boost", rule=Reward.Rule.LEVEL, threshold=1, effects={"energy": 60})
    RewardFactory(id="level_2", rule=Reward.Rule.LEVEL, threshold=2)
    grant(user, loyalty=1)  # unlocks "boost"

    result = reward_claim(user_id=user.pk, reward_id="boost", now=T0)

    assert result.step.leveled_up is True
    assert [u.reward.id for u in result.unlocked] == ["level_2"]
    # Energy clamps at 100, which levels up and starts again from 0.
    assert (result.state.level, result.state.energy) == (2, 0)


def test_claim_of_a_locked_reward_is_refused_and_changes_nothing(user, grant):
    RewardFactory(id="streak_3", threshold=3)
    grant(user, loyalty=5)
    before = snapshot(user)

    with pytest.raises(RewardLocked):
        reward_claim(user_id=user.pk, reward_id="streak_3", now=T0)

    assert snapshot(user) == before


def test_a_second_claim_is_refused_and_changes_nothing(user):
    RewardFactory(id="streak_3", threshold=3)
    checkin_days(user, 3)
    reward_claim(user_id=user.pk, reward_id="streak_3", now=T0 + dt.timedelta(days=3))
    before = snapshot(user)

    with pytest.raises(AlreadyClaimed):
        reward_claim(user_id=user.pk, reward_id="streak_3", now=T0 + dt.timedelta(days=4))

    assert snapshot(user) == before


@pytest.mark.parametrize("reward_id", ["nope", "retired"])
def test_unknown_rewards_and_inactive_ones_not_owned_are_not_found(user, grant, reward_id):
    RewardFactory(id="retired", rule=Reward.Rule.LEVEL, threshold=1, active=False)
    grant(user, loyalty=5)  # inactive: nothing unlocks
    before = snapshot(user)

    with pytest.raises(RewardNotFound):
        reward_claim(user_id=user.pk, reward_id=reward_id, now=T0)

    assert snapshot(user) == before


def test_ownership_is_forever_a_deactivated_unlocked_reward_stays_claimable(user, grant):
    retired = RewardFactory(
        id="retired", rule=Reward.Rule.LEVEL, threshold=1, effects={"loyalty": 4}
    )
    grant(user, loyalty=5)  # unlocks "retired" while it is active
    retired.active = False
    retired.save()

    listed = {r.reward.id: r.status for r in rewards_for_user(user_id=user.pk)}
    result = reward_claim(user_id=user.pk, reward_id="retired", now=T0)

    assert listed == {"retired": "unlocked"}
    assert result.reward is not None
    assert result.reward.status == "claimed"
    assert snapshot(user)["state"].loyalty == 9
    assert {r.reward.id: r.status for r in rewards_for_user(user_id=user.pk)} == {
        "retired": "claimed"
    }


def test_claimed_at_never_precedes_unlocked_at(user):
    RewardFactory(id="streak_1", threshold=1)
    checkin_days(user, 1)

    result = reward_claim(user_id=user.pk, reward_id="streak_1", now=T0 - dt.timedelta(hours=5))

    assert result.reward is not None
    assert result.reward.claimed_at == T0


# --- Buy ----------------------------------------------------------------------------
def test_buy_takes_the_price_without_multiplier(user, grant, assert_ledger_replays):
    tool = ToolFactory(id="coffee", price=10)
    grant(user, energy=50)  # level 2
    grant(user, loyalty=40)  # 40 x 1.05 = 42

    result = tool_buy(user_id=user.pk, tool_id="coffee", now=T0)

    assert result.state.loyalty == 32
    assert (result.step.loyalty_applied, result.step.loyalty_multiplier) == (-10, Decimal(1))
    assert result.item is not None
    assert (result.item.tool, result.item.quantity) == (tool, 1)
    assert InventoryItem.objects.get(user_id=user.pk, tool=tool).quantity == 1
    assert ledger_kinds(user)[-1] == ("tool_buy", "coffee")
    assert_ledger_replays(user)


def test_buying_a_held_tool_stacks(user, grant):
    ToolFactory(id="coffee", price=10)
    grant(user, loyalty=30)

    tool_buy(user_id=user.pk, tool_id="coffee", now=T0)
    result = tool_buy(user_id=user.pk, tool_id="coffee", now=T0)

    assert result.item is not None
    assert result.item.quantity == 2
    assert InventoryItem.objects.filter(user_id=user.pk).count() == 1
    assert state_of(user).loyalty == 10


def test_a_free_tool_can_be_bought_with_no_loyalty(user):
    ToolFactory(id="free", price=0)

    result = tool_buy(user_id=user.pk, tool_id="free", now=T0)

    assert result.item is not None
    assert (result.item.quantity, result.state.loyalty) == (1, 0)


def test_buy_without_enough_loyalty_is_refused_and_changes_nothing(user, grant):
    ToolFactory(id="coffee", price=10)
    grant(user, loyalty=9)
    before = snapshot(user)

    with pytest.raises(InsufficientLoyalty):
        tool_buy(user_id=user.pk, tool_id="coffee", now=T0)

    assert snapshot(user) == before


def test_a_new_tool_needs_a_free_slot(user, grant, settings):
    assert settings.ENGAGEMENT["INVENTORY_CAPACITY"] == 5
    for i in range(5):
        InventoryItemFactory(user=user, tool=ToolFactory(id=f"held_{i}"), quantity=1)
    ToolFactory(id="sixth", price=1)
    grant(user, loyalty=50)
    before = snapshot(user)

    with pytest.raises(InventoryFull):
        tool_buy(user_id=user.pk, tool_id="sixth", now=T0)

    assert snapshot(user) == before
    # A held tool stacks in its own slot, full or not.
    item = tool_buy(user_id=user.pk, tool_id="held_0", now=T0).item
    assert item is not None
    assert item.quantity == 2


def test_used_up_tools_free_their_slot_and_need_one_again(user, grant):
    for i in range(4):
        InventoryItemFactory(user=user, tool=ToolFactory(id=f"held_{i}"), quantity=1)
    InventoryItemFactory(user=user, tool=ToolFactory(id="empty", price=1), quantity=0)
    ToolFactory(id="new", price=1)
    grant(user, loyalty=50)

    item = tool_buy(user_id=user.pk, tool_id="new", now=T0).item
    assert item is not None
    assert item.quantity == 1  # 5th slot
    with pytest.raises(InventoryFull):
        tool_buy(user_id=user.pk, tool_id="empty", now=T0)
    assert inventory_for_user(user_id=user.pk).capacity_used == 5


@pytest.mark.parametrize("tool_id", ["nope", "retired"])
def test_unknown_and_inactive_tools_are_not_sold(user, grant, tool_id):
    ToolFactory(id="retired", price=1, active=False)
    grant(user, loyalty=50)
    before = snapshot(user)

    with pytest.raises(ToolNotFound):
        tool_buy(user_id=user.pk, tool_id=tool_id, now=T0)

    assert snapshot(user) == before


# --- Use ----------------------------------------------------------------------------
def test_use_spends_one_and_applies_the_effects(user, grant, assert_ledger_replays):
    ToolFactory(id="coffee", price=10, effects={"energy": 15, "fatigue": 2})
    grant(user, loyalty=20)
    tool_buy(user_id=user.pk, tool_id="coffee", now=T0)
    tool_buy(user_id=user.pk, tool_id="coffee", now=T0)

    result = tool_use(user_id=user.pk, tool_id="coffee", now=T0)

    assert result.item is not None
    assert result.item.quantity == 1
    assert (result.state.energy, result.state.fatigue, result.state.loyalty) == (65, 2, 0)
    assert result.step.applied.energy == 15
    assert ledger_kinds(user)[-1] == ("tool_use", "coffee")
    assert_ledger_replays(user)


def test_a_streak_freeze_tool_adds_a_freeze(user, grant):
    ToolFactory(id="streak_freeze", price=50, effects={"streak_freezes": 1})
    grant(user, loyalty=50)
    tool_buy(user_id=user.pk, tool_id="streak_freeze", now=T0)

    result = tool_use(user_id=user.pk, tool_id="streak_freeze", now=T0)

    assert result.item is not None
    assert (result.state.streak_freezes, result.item.quantity) == (1, 0)


def test_using_a_tool_not_held_is_refused_and_changes_nothing(user):
    ToolFactory(id="coffee")
    InventoryItemFactory(user=user, tool=ToolFactory(id="empty"), quantity=0)
    state_get_or_create(user_id=user.pk)
    before = snapshot(user)

    for tool_id in ("coffee", "empty"):
        with pytest.raises(NotInInventory):
            tool_use(user_id=user.pk, tool_id=tool_id, now=T0)

    assert snapshot(user) == before


def test_using_an_unknown_tool_is_not_found(user):
    with pytest.raises(ToolNotFound):
        tool_use(user_id=user.pk, tool_id="nope", now=T0)


def test_a_held_tool_taken_off_sale_can_still_be_used(user, grant):
    tool = ToolFactory(id="coffee", price=10)
    grant(user, loyalty=10)
    tool_buy(user_id=user.pk, tool_id="coffee", now=T0)
    tool.active = False
    tool.save()

    item = tool_use(user_id=user.pk, tool_id="coffee", now=T0).item
    assert item is not None
    assert item.quantity == 0


# --- Selectors ----------------------------------------------------------------------
def test_rewards_for_user_reports_status_and_progress(user, grant):
    RewardFactory(id="streak_2", rule=Reward.Rule.STREAK, threshold=2)
    RewardFactory(id="streak_5", rule=Reward.Rule.STREAK, threshold=5)
    RewardFactory(id="checkins_1", rule=Reward.Rule.TOTAL_CHECKINS, threshold=1)
    RewardFactory(id="hidden", rule=Reward.Rule.LEVEL, threshold=1, active=False)
    checkin_days(user, 2)
    reward_claim(user_id=user.pk, reward_id="checkins_1", now=T0 + dt.timedelta(days=2))
    checkin_days(user, 1, start=T0 + dt.timedelta(days=5))  # streak back to 1

    rows = {r.reward.id: r for r in rewards_for_user(user_id=user.pk)}

    assert set(rows) == {"streak_2", "streak_5", "checkins_1"}
    assert (rows["streak_5"].status, rows["streak_5"].progress) == ("locked", Progress(1, 5))
    # Owned rewards stay complete even though the streak fell back to 1.
    assert (rows["streak_2"].status, rows["streak_2"].progress) == ("unlocked", Progress(2, 2))
    assert rows["streak_2"].unlocked_at == T0 + dt.timedelta(days=1)
    assert rows["checkins_1"].status == "claimed"
    assert rows["checkins_1"].claimed_at == T0 + dt.timedelta(days=2)


def test_rewards_for_a_user_without_a_state_row_start_from_zero(user):
    reward = RewardFactory(id="checkins_3", rule=Reward.Rule.TOTAL_CHECKINS, threshold=3)
    UserRewardFactory(reward=reward)  # someone else's ownership does not leak

    (row,) = rewards_for_user(user_id=user.pk)

    assert (row.status, row.progress, row.unlocked_at) == ("locked", Progress(0, 3), None)
