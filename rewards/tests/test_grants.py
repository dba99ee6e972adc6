"""Staff grants and adjustments: locked, through ``rules.apply``, in the ledger
with their reason, refused whole when anything is wrong."""

import pytest
from django.utils import timezone

from engagement.models import LedgerEntry
from rewards.errors import (
    InvalidStaffChange,
    InventoryFull,
    NothingToApply,
    ReasonRequired,
    ToolNotFound,
)
from rewards.models import InventoryItem, Reward, UserReward
from rewards.services import freezes_grant, loyalty_grant, state_adjust, tool_grant
from rewards.tests.factories import (
    T0,
    InventoryItemFactory,
    RewardFactory,
    ToolFactory,
    checkin_days,
    state_of,
)
from rewards.tests.test_services import snapshot

pytestmark = pytest.mark.django_db


def last_entry(user) -> LedgerEntry:
    return LedgerEntry.objects.filter(user_id=user.pk).latest("id")


# --- Loyalty -------------------------------------------------------------------------
def test_loyalty_grant_is_exact_and_in_the_ledger_with_its_reason(user, assert_ledger_replays):
    checkin_days(user, 12)  # level 3: check-in loyalty is multiplied by 1.1 by now
    before = state_of(user).loyalty

    result = loyalty_grant(user_id=user.pk, amount=50, reason="  Outage compensation  ", now=T0)

    assert result.state.loyalty == before + 50
    entry = last_entry(user)
    assert (entry.kind, entry.ref, entry.reason) == (
        "admin_grant",
        "loyalty",
        "Outage compensation",
    )
    assert (entry.loyalty, entry.energy, entry.fatigue, entry.streak_freezes) == (50, 0, 0, 0)
    assert entry.state_after["loyalty"] == before + 50
    assert_ledger_replays(user)


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_every_staff_change_needs_a_reason(user, reason):
    tool = ToolFactory()
    calls = [
        lambda: loyalty_grant(user_id=user.pk, amount=5, reason=reason, now=timezone.now()),
        lambda: freezes_grant(user_id=user.pk, count=1, reason=reason, now=timezone.now()),
        lambda: tool_grant(user_id=user.pk, tool_id=tool.pk, reason=reason, now=timezone.now()),
        lambda: state_adjust(user_id=user.pk, energy=5, reason=reason, now=timezone.now()),
    ]
    for call in calls:
        with pytest.raises(ReasonRequired):
            call()

    assert not LedgerEntry.objects.filter(user_id=user.pk).exists()
    assert not InventoryItem.objects.filter(user_id=user.pk).exists()


def test_a_reason_has_a_maximum_length(user):
    with pytest.raises(InvalidStaffChange):
        loyalty_grant(user_id=user.pk, amount=5, reason="x" * 501, now=timezone.now())
    assert not LedgerEntry.objects.filter(user_id=user.pk).exists()


@pytest.mark.parametrize("amount", [0, -5, 1_000_001, True, "5"])
def test_loyalty_grant_refuses_amounts_out_of_range(user, amount):
    with pytest.raises(InvalidStaffChange):
        loyalty_grant(user_id=user.pk, amount=amount, reason="r", now=timezone.now())
    assert not LedgerEntry.objects.filter(user_id=user.pk).exists()


# --- Freezes -------------------------------------------------------------------------
def test_freezes_grant_is_clamped_to_the_maximum_and_records_what_was_added(user):
    freezes_grant(user_id=user.pk, count=1, reason="streak lost to a bug", now=timezone.now())

    result = freezes_grant(user_id=user.pk, count=2, reason="and again", now=timezone.now())

    assert result.state.streak_freezes == 2
    assert last_entry(user).streak_freezes == 1  # only one fitted
    with pytest.raises(NothingToApply):
        freezes_grant(user_id=user.pk, count=1, reason="a third time", now=timezone.now())
    assert LedgerEntry.objects.filter(user_id=user.pk).count() == 2


@pytest.mark.parametrize("count", [0, 3])
def test_freezes_grant_refuses_counts_out_of_range(user, count):
    with pytest.raises(InvalidStaffChange):
        freezes_grant(user_id=user.pk, count=count, reason="r", now=timezone.now())


# --- Adjust --------------------------------------------------------------------------
def test_state_adjust_applies_signed_deltas_within_the_bounds(user, grant, assert_ledger_replays):
    grant(user, loyalty=30, fatigue=40)  # energy 50, fatigue 40, loyalty 30

    result = state_adjust(
        user_id=user.pk,
        energy=-80,
        fatigue=-10,
        loyalty=-100,
        freezes=5,
        reason="Fix a bad import",
        now=timezone.now(),
    )

    state = result.state
    assert (state.energy, state.fatigue, state.loyalty, state.streak_freezes) == (0, 30, 0, 2)
    entry = last_entry(user)
    assert (entry.kind, entry.ref, entry.reason) == ("admin_adjust", "adjust", "Fix a bad import")
    # The ledger holds what was applied, not what was asked for.
    assert (entry.energy, entry.fatigue, entry.loyalty, entry.streak_freezes) == (-50, -10, -30, 2)
    assert_ledger_replays(user)


def test_state_adjust_energy_to_the_top_levels_up(user):
    result = state_adjust(user_id=user.pk, energy=50, reason="r", now=timezone.now())

    assert (result.state.level, result.state.energy) == (2, 0)
    assert result.step.leveled_up is True


def test_state_adjust_needs_a_non_zero_delta(user):
    with pytest.raises(InvalidStaffChange):
        state_adjust(user_id=user.pk, reason="r", now=timezone.now())


def test_state_adjust_that_the_bounds_swallow_is_refused(user):
    with pytest.raises(NothingToApply):
        state_adjust(
            user_id=user.pk, loyalty=-10, fatigue=-10, reason="nothing to take", now=timezone.now()
        )
    assert not LedgerEntry.objects.filter(user_id=user.pk).exists()


# --- Rewards after a grant -----------------------------------------------------------
def test_a_grant_unlocks_rewards_the_new_state_meets(user):
    RewardFactory(id="level_2", rule=Reward.Rule.LEVEL, threshold=2, auto_claim=True)

    result = state_adjust(user_id=user.pk, energy=50, reason="r", now=T0)

    assert [(u.reward.id, u.auto_claimed) for u in result.unlocked] == [("level_2", True)]
    owned = UserReward.objects.get(user_id=user.pk)
    assert (owned.unlocked_at, owned.claimed_at) == (T0, T0)
    kinds = list(LedgerEntry.objects.filter(user_id=user.pk).order_by("id").values_list("kind"))
    assert kinds == [("admin_adjust",), ("reward_claim",)]


def test_a_reward_added_later_unlocks_at_the_next_grant(user):
    checkin_days(user, 3)
    RewardFactory(id="streak_3", rule=Reward.Rule.STREAK, threshold=3)

    result = loyalty_grant(user_id=user.pk, amount=1, reason="r", now=timezone.now())

    assert [u.reward.id for u in result.unlocked] == ["streak_3"]


# --- Tools ---------------------------------------------------------------------------
def test_tool_grant_puts_tools_in_the_inventory_with_a_ledger_entry(user, assert_ledger_replays):
    tool = ToolFactory(id="coffee", active=False)  # off sale: staff may still grant it

    tool_grant(user_id=user.pk, tool_id="coffee", quantity=2, reason="Apology", now=timezone.now())
    result = tool_grant(
        user_id=user.pk, tool_id="coffee", quantity=3, reason="Another apology", now=timezone.now()
    )

    assert result.item is not None
    assert result.item.quantity == 5
    assert InventoryItem.objects.get(user_id=user.pk, tool=tool).quantity == 5
    entries = LedgerEntry.objects.filter(user_id=user.pk).order_by("id")
    assert [(e.kind, e.ref, e.reason, e.loyalty) for e in entries] == [
        ("admin_grant", "tool:coffee x2", "Apology", 0),
        ("admin_grant", "tool:coffee x3", "Another apology", 0),
    ]
    assert_ledger_replays(user)


def test_tool_grant_respects_the_inventory_capacity(user, settings):
    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "INVENTORY_CAPACITY": 2}
    held = [InventoryItemFactory(user=user).tool for _ in range(2)]
    new_tool = ToolFactory()
    loyalty_grant(user_id=user.pk, amount=1, reason="create the state", now=timezone.now())
    before = snapshot(user)

    with pytest.raises(InventoryFull):
        tool_grant(user_id=user.pk, tool_id=new_tool.pk, reason="r", now=timezone.now())

    assert snapshot(user) == before
    # A tool already held stacks in its slot.
    item = tool_grant(user_id=user.pk, tool_id=held[0].pk, reason="r", now=timezone.now()).item
    assert item is not None
    assert item.quantity == 2


def test_tool_grant_refuses_unknown_tools_and_bad_quantities(user):
    ToolFactory(id="coffee")
    with pytest.raises(ToolNotFound):
        tool_grant(user_id=user.pk, tool_id="nope", reason="r", now=timezone.now())
    for quantity in (0, 101):
        with pytest.raises(InvalidStaffChange):
            tool_grant(
                user_id=user.pk, tool_id="coffee", quantity=quantity, reason="r", now=timezone.now()
            )
    assert not InventoryItem.objects.exists()
    assert not LedgerEntry.objects.exists()
