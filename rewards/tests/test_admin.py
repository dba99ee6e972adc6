"""The reward and tool catalogs in the admin: effects validated on every save."""

import json

import pytest
from django.urls import reverse

from base.admin_mixins import CappedCountPaginator
from engagement.tests.factories import LedgerEntryFactory
from rewards.models import Reward, Tool
from rewards.tests.factories import RewardFactory, ToolFactory
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
