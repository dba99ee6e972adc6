from io import StringIO

import pytest
from django.core.management import call_command

from rewards.catalog import DEFAULT_REWARDS, DEFAULT_TOOLS
from rewards.management.commands import seed_catalog
from rewards.models import Reward, Tool

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("seed_catalog", stdout=out)
    return out.getvalue().strip()


def test_seed_catalog_creates_the_default_catalog():
    output = seed()

    assert output == (
        "Catalog seeded: rewards 5 created, 0 already present; tools 5 created, 0 already present."
    )
    rewards = {
        r.id: (r.rule, r.threshold, r.effects, r.auto_claim, r.active) for r in Reward.objects.all()
    }
    assert rewards == {
        "streak_3": ("streak", 3, {"loyalty": 10}, False, True),
        "streak_7": ("streak", 7, {"streak_freezes": 1, "loyalty": 20}, False, True),
        "streak_30": ("streak", 30, {"loyalty": 100}, False, True),
        "checkins_10": ("total_checkins", 10, {"energy": 30}, True, True),
        "level_5": ("level", 5, {"loyalty": 50}, False, True),
    }
    tools = {t.id: (t.price, t.effects, t.active) for t in Tool.objects.all()}
    assert tools == {
        "coffee": (10, {"energy": 15, "fatigue": 2}, True),
        "rest": (16, {"fatigue": -15}, True),
        "focus": (20, {"loyalty": 5, "energy": 5}, True),
        "streak_freeze": (50, {"streak_freezes": 1}, True),
        "streak_repair": (40, {"streak_repair": 1}, True),
    }


def test_seed_catalog_is_idempotent():
    seed()

    output = seed()

    assert output == (
        "Catalog seeded: rewards 0 created, 5 already present; tools 0 created, 5 already present."
    )
    assert (Reward.objects.count(), Tool.objects.count()) == (5, 5)


def test_seed_catalog_keeps_staff_edits_and_restores_missing_entries():
    seed()
    Tool.objects.filter(pk="coffee").update(price=12, effects={"energy": 10})
    Reward.objects.filter(pk="streak_30").update(active=False, title="Retired")
    Tool.objects.filter(pk="rest").delete()

    output = seed()

    assert output == (
        "Catalog seeded: rewards 0 created, 5 already present; tools 1 created, 4 already present."
    )
    coffee = Tool.objects.get(pk="coffee")
    assert (coffee.price, coffee.effects) == (12, {"energy": 10})
    streak_30 = Reward.objects.get(pk="streak_30")
    assert (streak_30.active, streak_30.title) == (False, "Retired")
    assert Tool.objects.get(pk="rest").price == 16


def test_every_default_entry_is_valid():
    for entry in DEFAULT_REWARDS:
        Reward(**entry).full_clean(validate_unique=False)
    for entry in DEFAULT_TOOLS:
        Tool(**entry).full_clean(validate_unique=False)


def test_seed_catalog_says_it_never_overwrites():
    assert "left untouched" in seed_catalog.Command.help
