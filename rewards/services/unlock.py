"""Unlocking rewards: the after-change step of every state change.

Registered with the state-change envelope (``RewardsConfig.ready``), so every
use case that changes a state unlocks what the new state meets, in the same
transaction, without repeating it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet

from base.compiled import CompiledSelect
from engagement import rules
from engagement.models import LedgerEntry
from engagement.services import StateChange, limits
from rewards.effects import effects_kwargs
from rewards.models import Reward, UserReward
from rewards.rules import rule_values

UNLOCK_STEP = "rewards.unlock"


@dataclass(frozen=True)
class Candidate:
    """A catalog reward the user does not own yet: what unlocking needs."""

    id: str
    title: str
    rule: str
    threshold: int
    effects: dict[str, int]
    auto_claim: bool

    @property
    def pk(self) -> str:
        return self.id


@dataclass(frozen=True)
class Unlocked:
    reward: Candidate
    auto_claimed: bool


_CANDIDATE_COLUMNS = ("id", "title", "rule", "threshold", "effects", "auto_claim")


def _candidates_query(user_id: uuid.UUID) -> QuerySet[Reward, Any]:
    owned = UserReward.objects.filter(user_id=user_id, reward_id=OuterRef("pk"))
    return (
        Reward.objects.filter(active=True)
        .filter(~Exists(owned))
        .order_by("id")
        .values_list(*_CANDIDATE_COLUMNS)
    )


# On every state change: compiled once (base.compiled), not per call.
_UNOWNED_ACTIVE_REWARDS = CompiledSelect(
    _candidates_query,
    lambda: [Reward._meta.get_field(name) for name in _CANDIDATE_COLUMNS],  # type: ignore[misc]
    sample=uuid.UUID(int=1),
    prep=lambda user_id: UserReward._meta.get_field("user").get_db_prep_value(user_id, connection),
)


def _unowned_active_rewards(*, user_id: uuid.UUID) -> list[Candidate]:
    """Active rewards the user does not own yet. Read after the state lock, in
    its own statement, so it sees every unlock committed before the lock was
    granted (ownership changes only under that lock)."""
    return [Candidate(*row) for row in _UNOWNED_ACTIVE_REWARDS.fetchall(user_id)]


def rewards_unlock(change: StateChange) -> list[Unlocked]:
    """Unlock every active reward whose rule the current state meets and that
    the user does not own yet; claim the ``auto_claim`` ones at once. Claiming
    changes the state, which may meet further rules, so this repeats until
    nothing new is met (at most once per reward in the catalog). One read (the
    candidates) plus one insert per round that unlocks something. A reward
    added to the catalog later unlocks at the user's next state change."""
    pending = _unowned_active_rewards(user_id=change.user_id)
    unlocked: list[Unlocked] = []
    while pending:
        values = rule_values(change.current)
        met = [reward for reward in pending if values[reward.rule] >= reward.threshold]
        if not met:
            break
        pending = [reward for reward in pending if reward not in met]
        UserReward.objects.bulk_create(
            [
                UserReward(
                    user_id=change.user_id,
                    reward_id=reward.pk,
                    unlocked_at=change.now,
                    claimed_at=change.now if reward.auto_claim else None,
                )
                for reward in met
            ]
        )
        for reward in met:
            if reward.auto_claim:
                change.record(
                    LedgerEntry.Kind.REWARD_CLAIM,
                    reward.id,
                    rules.apply(change.current, **effects_kwargs(reward.effects), limits=limits()),
                )
            unlocked.append(Unlocked(reward=reward, auto_claimed=reward.auto_claim))
        if not any(reward.auto_claim for reward in met):
            break
    return unlocked


def unlocked_in(change: StateChange) -> list[Unlocked]:
    """What the unlock step unlocked in a finished state change."""
    # The outcome under UNLOCK_STEP is what rewards_unlock, registered under it, returned.
    return cast("list[Unlocked]", change.outcomes.get(UNLOCK_STEP, []))
