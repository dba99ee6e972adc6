"""Reward ownership and the shop. Every function here runs inside the caller's
transaction, on a state row the caller has locked (see ``engagement.services``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q

from engagement import rules
from engagement.models import LedgerEntry
from engagement.services import StateChange, limits
from rewards.effects import effects_kwargs
from rewards.models import Reward, UserReward


@dataclass(frozen=True)
class Unlocked:
    reward: Reward
    auto_claimed: bool


def rule_values(state: rules.State) -> dict[str, int]:
    """The state value each reward rule compares with its threshold."""
    return {
        Reward.Rule.STREAK: state.streak,
        Reward.Rule.TOTAL_CHECKINS: state.total_checkins,
        Reward.Rule.LEVEL: state.level,
        Reward.Rule.LONGEST_STREAK: state.longest_streak,
    }


def _rewards_newly_met(*, user_id, state: rules.State) -> list[Reward]:
    met = Q()
    for rule, value in rule_values(state).items():
        met |= Q(rule=rule, threshold__lte=value)
    owned = UserReward.objects.filter(user_id=user_id, reward_id=OuterRef("pk"))
    return list(Reward.objects.filter(met, active=True).filter(~Exists(owned)).order_by("id"))


def rewards_unlock(*, change: StateChange, now: dt.datetime) -> list[Unlocked]:
    """Unlock every active reward whose rule the current state meets and that the
    user does not own yet; claim the ``auto_claim`` ones at once. Claiming changes
    the state, which may meet further rules, so this repeats until nothing new is
    met (at most once per reward in the catalog)."""
    user_id = change.row.user_id
    unlocked: list[Unlocked] = []
    while True:
        rewards = _rewards_newly_met(user_id=user_id, state=change.current)
        if not rewards:
            return unlocked
        UserReward.objects.bulk_create(
            [
                UserReward(
                    user_id=user_id,
                    reward=reward,
                    unlocked_at=now,
                    claimed_at=now if reward.auto_claim else None,
                )
                for reward in rewards
            ]
        )
        for reward in rewards:
            if reward.auto_claim:
                change.record(
                    LedgerEntry.Kind.REWARD_CLAIM,
                    reward.id,
                    rules.apply(change.current, **effects_kwargs(reward.effects), limits=limits()),
                )
            unlocked.append(Unlocked(reward=reward, auto_claimed=reward.auto_claim))
        if not any(reward.auto_claim for reward in rewards):
            return unlocked
