"""The reward and tool catalogs in the admin: effects validated on every save."""

import json

import pytest
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from base.admin_mixins import CappedCountPaginator
from engagement.tests.factories import LedgerEntryFactory
from rewards.models import Reward, Tool
from rewards.tests.factories import (
    InventoryItemFactory,
    RewardFactory,
    ToolFactory,
    UserRewardFactory,
)
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def reward_form(**overrides) -> dict:
    return {
        "id": "streak_5",
        "title": "Five in a row",
        "description": "",
        "rule": "streak",
        "threshold": "5",
        "effects": json.dumps({"loyalty": 15}),
        "active": "on",
        **overrides,
    }


def test_staff_create_a_reward(staff_client):
    response = staff_client.post(reverse("admin:rewards_reward_add"), reward_form())

    assert response.status_code == 302
    reward = Reward.objects.get(pk="streak_5")
    assert (reward.rule, reward.threshold, reward.effects) == ("streak", 5, {"loyalty": 15})
    assert (reward.active, reward.auto_claim) == (True, False)


@pytest.mark.parametrize(
    ("effects", "message"),
    [
        ('{"bogus": 1}', "Unknown effect keys: bogus."),
        ('{"energy": "5"}', "Effect energy must be an integer."),
        ('{"energy": 1.5}', "Effect energy must be an integer."),
        ('{"loyalty": 10000000}', "Effect loyalty is out of range."),
        ("[1, 2]", "Effects must be a JSON object."),
        ("", "Effects must be a JSON object."),
        ("{not json", "Enter a valid JSON."),
    ],
)
def test_invalid_effects_are_refused(staff_client, effects, message):
    response = staff_client.post(reverse("admin:rewards_reward_add"), reward_form(effects=effects))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Reward.objects.exists()


@pytest.mark.parametrize("threshold", ["0", "-1"])
def test_a_threshold_must_be_positive(staff_client, threshold):
    response = staff_client.post(
        reverse("admin:rewards_reward_add"), reward_form(threshold=threshold)
    )

    assert response.status_code == 200
    assert not Reward.objects.exists()


def test_tools_validate_price_and_effects(staff_client):
    url = reverse("admin:rewards_tool_add")
    tool = {"id": "tea", "name": "Tea", "price": "5", "effects": '{"fatigue": -5}'}

    assert staff_client.post(url, {**tool, "price": "-1"}).status_code == 200
    assert staff_client.post(url, {**tool, "effects": '{"mood": 1}'}).status_code == 200
    assert not Tool.objects.exists()
    assert staff_client.post(url, {**tool, "active": "on"}).status_code == 302
    assert Tool.objects.get().effects == {"fatigue": -5}


def test_staff_create_a_streak_repair_tool_and_no_such_reward(staff_client):
    url = reverse("admin:rewards_tool_add")
    tool = {"id": "mend", "name": "Mend", "price": "40", "active": "on"}

    refused = staff_client.post(url, {**tool, "effects": '{"streak_repair": 2}'})
    assert "Effect streak_repair must be 1" in refused.content.decode()
    assert staff_client.post(url, {**tool, "effects": '{"streak_repair": 1}'}).status_code == 302
    assert Tool.objects.get().effects == {"streak_repair": 1}
    assert "streak_repair" in staff_client.get(url).content.decode()  # the help text says so

    response = staff_client.post(
        reverse("admin:rewards_reward_add"), reward_form(effects='{"streak_repair": 1}')
    )
    assert "Unknown effect keys: streak_repair." in response.content.decode()
    assert not Reward.objects.exists()


def test_the_id_cannot_be_changed_after_creation(staff_client):
    RewardFactory(id="streak_3", title="Old")

    response = staff_client.post(
        reverse("admin:rewards_reward_change", args=["streak_3"]),
        reward_form(id="renamed", title="New", threshold="3"),
    )

    assert response.status_code == 302
    assert list(Reward.objects.values_list("id", "title")) == [("streak_3", "New")]


def test_catalog_lists_show_effects_and_filter(staff_client):
    RewardFactory(id="a", effects={"loyalty": 10, "streak_freezes": 1}, active=True)
    RewardFactory(id="b", active=False)
    ToolFactory(id="coffee", effects={"energy": 15, "fatigue": 2})

    rewards = staff_client.get(reverse("admin:rewards_reward_changelist") + "?active__exact=0")
    tools = staff_client.get(reverse("admin:rewards_tool_changelist") + "?q=coffee")

    assert list(rewards.context["cl"].result_list) == [Reward.objects.get(pk="b")]
    assert "energy +15, fatigue +2" in tools.content.decode()


def test_catalog_actions_switch_entries_on_and_off(staff_client):
    RewardFactory(id="a")
    RewardFactory(id="b")

    staff_client.post(
        reverse("admin:rewards_reward_changelist"),
        {"action": "make_inactive", "_selected_action": ["a", "b"], "index": 0},
    )

    assert list(Reward.objects.values_list("active", flat=True)) == [False, False]


def test_a_changelist_past_the_count_cap_says_so(staff_client, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 5)
    LedgerEntryFactory.create_batch(7)

    page = staff_client.get(reverse("admin:engagement_ledgerentry_changelist")).content.decode()

    assert "5+ ledger entries" in page


# --- Backfill: creating or re-activating a reward enqueues it --------------------------
def backfills() -> list[str]:
    return [
        row.args_kwargs["kwargs"]["reward_id"]
        for row in DBTaskResult.objects.filter(task_path="rewards.tasks.backfill_reward")
    ]


def test_creating_an_active_reward_enqueues_its_backfill(staff_client):
    response = staff_client.post(reverse("admin:rewards_reward_add"), reward_form(), follow=True)

    assert backfills() == ["streak_5"]
    assert "Backfill enqueued for streak_5" in response.content.decode()


def test_creating_an_inactive_reward_enqueues_nothing(staff_client):
    form = reward_form()
    del form["active"]

    staff_client.post(reverse("admin:rewards_reward_add"), form)

    assert Reward.objects.get().active is False
    assert backfills() == []


def test_re_activating_a_reward_enqueues_its_backfill_and_other_edits_do_not(staff_client):
    RewardFactory(id="streak_5", threshold=5, active=False)
    url = reverse("admin:rewards_reward_change", args=["streak_5"])
    inactive = reward_form()
    del inactive["active"]

    staff_client.post(url, {**inactive, "title": "Renamed"})  # still inactive
    assert backfills() == []
    staff_client.post(url, reward_form())  # re-activated
    assert backfills() == ["streak_5"]
    staff_client.post(url, reward_form(title="Five", threshold="4"))  # active, edited
    assert backfills() == ["streak_5"]
    staff_client.post(url, inactive)  # deactivated
    assert backfills() == ["streak_5"]


def test_the_activate_action_enqueues_a_backfill_per_re_activated_reward(staff_client):
    RewardFactory(id="a", active=False)
    RewardFactory(id="b", active=True)
    RewardFactory(id="c", active=False)
    changelist = reverse("admin:rewards_reward_changelist")

    staff_client.post(
        changelist, {"action": "make_active", "_selected_action": ["a", "b", "c"], "index": 0}
    )
    staff_client.post(
        changelist, {"action": "make_inactive", "_selected_action": ["a"], "index": 0}
    )

    assert sorted(backfills()) == ["a", "c"]
    assert not DBTaskResult.objects.exclude(task_path="rewards.tasks.backfill_reward").exists()


def test_tools_enqueue_no_backfill(staff_client):
    ToolFactory(id="coffee", active=False)

    staff_client.post(
        reverse("admin:rewards_tool_changelist"),
        {"action": "make_active", "_selected_action": ["coffee"], "index": 0},
    )

    assert Tool.objects.get().active is True
    assert not DBTaskResult.objects.exists()


def test_a_failed_save_enqueues_nothing(staff_client):
    staff_client.post(reverse("admin:rewards_reward_add"), reward_form(effects='{"bogus": 1}'))

    assert backfills() == []


# --- Deleting: owned entries are deactivated instead -----------------------------------
@pytest.mark.parametrize(
    ("kind", "make", "own"),
    [
        ("tool", ToolFactory, lambda entry: InventoryItemFactory(tool=entry, quantity=1)),
        ("reward", RewardFactory, lambda entry: UserRewardFactory(reward=entry)),
    ],
)
def test_deleting_an_owned_entry_says_to_deactivate_it_instead(staff_client, kind, make, own):
    entry = make()
    own(entry)
    delete = reverse(f"admin:rewards_{kind}_delete", args=[entry.pk])

    change = reverse(f"admin:rewards_{kind}_change", args=[entry.pk])
    for response in (
        staff_client.get(delete, follow=True),
        staff_client.post(delete, {"post": "yes"}, follow=True),
    ):
        assert response.redirect_chain == [(change, 302)]
        page = response.content.decode()
        message = page.split('class="messagelist"')[1].split("</ul>")[0]
        assert f"Not deleted: users own {entry.pk}" in message
        assert "Deactivate instead" in message
        assert "permission" not in message
    bulk = staff_client.post(
        reverse(f"admin:rewards_{kind}_changelist"),
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
        follow=True,
    )
    assert "Deactivate instead" in bulk.content.decode()
    assert type(entry).objects.filter(pk=entry.pk).exists()


def test_an_entry_nobody_owns_can_still_be_deleted(staff_client):
    tool = ToolFactory()
    owned = ToolFactory()
    InventoryItemFactory(tool=owned, quantity=0)  # used up, but its row refers to the tool

    confirm = staff_client.get(reverse("admin:rewards_tool_delete", args=[tool.pk]))
    assert confirm.status_code == 200
    assert "Are you sure" in confirm.content.decode()
    response = staff_client.post(
        reverse("admin:rewards_tool_delete", args=[tool.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert not Tool.objects.filter(pk=tool.pk).exists()
    bulk = staff_client.post(
        reverse("admin:rewards_tool_changelist"),
        {"action": "delete_selected", "_selected_action": [owned.pk], "post": "yes"},
        follow=True,
    )
    assert "Deactivate instead" in bulk.content.decode()
    assert Tool.objects.filter(pk=owned.pk).exists()
