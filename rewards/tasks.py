"""The rewards' background work, on Django's Tasks API (docs/ARCHITECTURE.md)."""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from rewards.errors import RewardNotFound
from rewards.services import backfill


@task()
def backfill_reward(reward_id: str) -> dict[str, int]:
    """Unlock the reward for every user who already meets its rule (enqueued
    when staff create or re-activate it). Idempotent: a repeat, or a run after
    a worker was killed mid-way, finds only the users still missing it."""
    try:
        result = backfill.reward_backfill(reward_id=reward_id, now=timezone.now())
    except RewardNotFound:  # deleted before the task ran: nobody to unlock it for
        return {"found": 0, "unlocked": 0, "unlocks": 0, "auto_claimed": 0, "batches": 0}
    return {
        "found": result.found,
        "unlocked": result.unlocked,
        "unlocks": result.unlocks,
        "auto_claimed": result.auto_claimed,
        "batches": result.batches,
    }
