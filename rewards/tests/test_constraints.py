"""Every rule of the rewards models, proven twice: ``full_clean()`` refuses it and
the database refuses a raw write that skips validation."""

import datetime as dt
from contextlib import contextmanager

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from rewards.models import InventoryItem, Reward, Tool, UserReward
from rewards.tests.factories import (
    InventoryItemFactory,
    RewardFactory,
    ToolFactory,
    UserRewardFactory,
)

pytestmark = pytest.mark.django_db


@contextmanager
def raises_integrity_error():
    """The statement must fail in the database; the savepoint keeps the test's
    transaction usable afterwards."""
    with pytest.raises(IntegrityError), transaction.atomic():
        yield


# --- Reward -------------------------------------------------------------------------
def test_reward_threshold_must_be_positive():
    reward = Reward(id="zero", title="Zero", rule=Reward.Rule.STREAK, threshold=0)
    with pytest.raises(ValidationError) as info:
        reward.full_clean()
    assert "rewards_reward_threshold_positive" in str(info.value)

    with raises_integrity_error():
        Reward.objects.create(id="zero", title="Zero", rule=Reward.Rule.STREAK, threshold=0)
    existing = RewardFactory(threshold=3)
    with raises_integrity_error():
        Reward.objects.filter(pk=existing.pk).update(threshold=0)


def test_reward_rule_must_be_known():
    reward = Reward(id="odd", title="Odd", rule="loyalty", threshold=1)
    with pytest.raises(ValidationError) as info:
        reward.full_clean()
    assert "rule" in info.value.message_dict

    with raises_integrity_error():
        Reward.objects.create(id="odd", title="Odd", rule="loyalty", threshold=1)


@pytest.mark.parametrize(
    "effects",
    [{"luck": 1}, {"energy": "10"}, {"energy": 1.5}, {"loyalty": True}, [], "", {"energy": 10**7}],
)
def test_reward_and_tool_effects_are_validated(effects):
    reward = Reward(id="bad", title="Bad", rule=Reward.Rule.STREAK, threshold=1, effects=effects)
    tool = Tool(id="bad", name="Bad", price=1, effects=effects)

    for obj in (reward, tool):
        with pytest.raises(ValidationError) as info:
            obj.full_clean()
        assert info.value.error_dict["effects"][0].code == "invalid_effects"


def test_valid_effects_pass():
    Tool(id="badge", name="Badge", price=0, effects={}).full_clean()
    Reward(
        id="good",
        title="Good",
        rule=Reward.Rule.LEVEL,
        threshold=2,
        effects={"energy": 1, "fatigue": -2, "loyalty": 3, "streak_freezes": 1},
    ).full_clean()


def test_a_tool_may_repair_a_streak():
    Tool(id="repair", name="Repair", price=40, effects={"streak_repair": 1}).full_clean()
    Tool(
        id="phoenix", name="Phoenix", price=90, effects={"streak_repair": 1, "energy": 5}
    ).full_clean()


@pytest.mark.parametrize("amount", [0, 2, -1, True, "1", 1.0])
def test_streak_repair_is_always_1(amount):
    tool = Tool(id="repair", name="Repair", price=40, effects={"streak_repair": amount})

    with pytest.raises(ValidationError) as info:
        tool.full_clean()
    assert info.value.error_dict["effects"][0].code == "invalid_effects"


def test_a_reward_cannot_repair_a_streak():
    reward = Reward(
        id="r", title="R", rule=Reward.Rule.STREAK, threshold=1, effects={"streak_repair": 1}
    )

    with pytest.raises(ValidationError) as info:
        reward.full_clean()
    assert "Unknown effect keys: streak_repair." in str(info.value)


# --- UserReward ---------------------------------------------------------------------
def test_a_user_owns_a_reward_at_most_once():
    owned = UserRewardFactory()
    duplicate = UserReward(user=owned.user, reward=owned.reward, unlocked_at=owned.unlocked_at)
    with pytest.raises(ValidationError) as info:
        duplicate.full_clean()
    assert info.value.error_dict["__all__"][0].code == "unique_together"

    with raises_integrity_error():
        UserReward.objects.create(
            user=owned.user, reward=owned.reward, unlocked_at=owned.unlocked_at
        )


def test_a_reward_is_not_claimed_before_it_is_unlocked():
    owned = UserRewardFactory()
    earlier = owned.unlocked_at - dt.timedelta(seconds=1)
    owned.claimed_at = earlier
    with pytest.raises(ValidationError) as info:
        owned.full_clean()
    assert "rewards_userreward_claimed_after_unlocked" in str(info.value)

    with raises_integrity_error():
        UserReward.objects.filter(pk=owned.pk).update(claimed_at=earlier)
    other = RewardFactory()
    with raises_integrity_error():
        UserReward.objects.create(
            user=owned.user, reward=other, unlocked_at=owned.unlocked_at, claimed_at=earlier
        )
    # Claimed at the very moment of unlocking (auto-claim) is fine.
    UserReward.objects.filter(pk=owned.pk).update(claimed_at=owned.unlocked_at)


# --- Tool ---------------------------------------------------------------------------
def test_tool_price_is_never_negative():
    with pytest.raises(ValidationError) as info:
        Tool(id="cheap", name="Cheap", price=-1).full_clean()
    assert "rewards_tool_price_min" in str(info.value)

    with raises_integrity_error():
        Tool.objects.create(id="cheap", name="Cheap", price=-1)
    tool = ToolFactory(price=0)  # free is allowed
    with raises_integrity_error():
        Tool.objects.filter(pk=tool.pk).update(price=-1)


# --- InventoryItem ------------------------------------------------------------------
def test_a_user_has_one_inventory_row_per_tool():
    item = InventoryItemFactory()
    with pytest.raises(ValidationError) as info:
        InventoryItem(user=item.user, tool=item.tool, quantity=1).full_clean()
    assert info.value.error_dict["__all__"][0].code == "unique_together"

    with raises_integrity_error():
        InventoryItem.objects.create(user=item.user, tool=item.tool, quantity=1)


def test_inventory_quantity_is_never_negative():
    item = InventoryItemFactory(quantity=0)
    item.quantity = -1
    with pytest.raises(ValidationError) as info:
        item.full_clean()
    assert "rewards_inventoryitem_quantity_min" in str(info.value)

    with raises_integrity_error():
        InventoryItem.objects.filter(pk=item.pk).update(quantity=-1)
    with raises_integrity_error():
        InventoryItem.objects.create(user=item.user, tool=ToolFactory(), quantity=-1)
