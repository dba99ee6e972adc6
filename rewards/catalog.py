"""The default catalog: rewards and tools a fresh installation starts with.

Seeding creates the entries that are missing and never touches existing ones,
so staff edits in the admin (titles, prices, effects, deactivation) survive
every re-run. Each entry goes through ``full_clean()`` like any other write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Model

from rewards.models import Reward, Tool

DEFAULT_REWARDS: list[dict[str, Any]] = [
    {
        "id": "streak_3",
        "title": "Three in a row",
        "description": "Check in three days in a row.",
        "rule": Reward.Rule.STREAK,
        "threshold": 3,
        "effects": {"loyalty": 10},
    },
    {
        "id": "streak_7",
        "title": "A full week",
        "description": "Check in seven days in a row; a streak freeze keeps the next one safe.",
        "rule": Reward.Rule.STREAK,
        "threshold": 7,
        "effects": {"streak_freezes": 1, "loyalty": 20},
    },
    {
        "id": "streak_30",
        "title": "Thirty days strong",
        "description": "Check in thirty days in a row.",
        "rule": Reward.Rule.STREAK,
        "threshold": 30,
        "effects": {"loyalty": 100},
    },
    {
        "id": "checkins_10",
        "title": "Ten check-ins",
        "description": "Check in ten times; the energy boost arrives at once.",
        "rule": Reward.Rule.TOTAL_CHECKINS,
        "threshold": 10,
        "effects": {"energy": 30},
        "auto_claim": True,
    },
    {
        "id": "level_5",
        "title": "Level five",
        "description": "Reach level five.",
        "rule": Reward.Rule.LEVEL,
        "threshold": 5,
        "effects": {"loyalty": 50},
    },
]

DEFAULT_TOOLS: list[dict[str, Any]] = [
    {
        "id": "coffee",
        "name": "Coffee",
        "description": "A quick lift: more energy, a little more fatigue.",
        "price": 10,
        "effects": {"energy": 15, "fatigue": 2},
    },
    {
        "id": "rest",
        "name": "Rest",
        "description": "Take a break and shed fatigue.",
        "price": 16,
        "effects": {"fatigue": -15},
    },
    {
        "id": "focus",
        "name": "Focus",
        "description": "A focused session: some loyalty and some energy.",
        "price": 20,
        "effects": {"loyalty": 5, "energy": 5},
    },
    {
        "id": "streak_freeze",
        "name": "Streak freeze",
        "description": "Covers one missed day so the streak survives it.",
        "price": 50,
        "effects": {"streak_freezes": 1},
    },
    {
        "id": "streak_repair",
        "name": "Streak repair",
        "description": "Gives back the streak you lost, within two days of the loss.",
        "price": 40,
        "effects": {"streak_repair": 1},
    },
]


@dataclass(frozen=True)
class CatalogSeedResult:
    rewards_created: list[str]
    rewards_kept: list[str]
    tools_created: list[str]
    tools_kept: list[str]

    def summary(self) -> str:
        return (
            f"Catalog seeded: rewards {len(self.rewards_created)} created, "
            f"{len(self.rewards_kept)} already present; tools {len(self.tools_created)} created, "
            f"{len(self.tools_kept)} already present."
        )


def _create_missing(model: type[Model], entries: list[dict[str, Any]]) -> tuple[list, list]:
    created, kept = [], []
    existing = set(
        model._default_manager.filter(pk__in=[e["id"] for e in entries]).values_list(
            "pk", flat=True
        )
    )
    for entry in entries:
        if entry["id"] in existing:
            kept.append(entry["id"])
            continue
        obj = model(**entry)
        obj.full_clean(validate_unique=False)
        try:
            # A concurrent run may insert the same id first; its row wins.
            with transaction.atomic():
                obj.save(force_insert=True)
        except IntegrityError:
            kept.append(entry["id"])
        else:
            created.append(entry["id"])
    return created, kept


def catalog_seed(
    *,
    rewards: list[dict[str, Any]] | None = None,
    tools: list[dict[str, Any]] | None = None,
) -> CatalogSeedResult:
    """Create the default rewards and tools that do not exist yet (by id);
    leave existing ones exactly as they are. Safe to run twice, even at once."""
    with transaction.atomic():
        rewards_created, rewards_kept = _create_missing(
            Reward, DEFAULT_REWARDS if rewards is None else rewards
        )
        tools_created, tools_kept = _create_missing(Tool, DEFAULT_TOOLS if tools is None else tools)
    return CatalogSeedResult(
        rewards_created=rewards_created,
        rewards_kept=rewards_kept,
        tools_created=tools_created,
        tools_kept=tools_kept,
    )
