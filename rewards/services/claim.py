"""Claiming an unlocked reward."""

from __future__ import annotations

import datetime as dt
import uuid

from django.db.models import F, FilteredRelation, Q

from engagement import rules
from engagement.models import LedgerEntry
from engagement.services import limits, state_change
from rewards.effects import effects_kwargs
from rewards.errors import AlreadyClaimed, RewardLocked, RewardNotFound
from rewards.models import Reward, UserReward
from rewards.selectors import reward_status
from rewards.services.results import ChangeResult


def reward_claim(*, user_id: uuid.UUID, reward_id: str, now: dt.datetime) -> ChangeResult:
    """Claim an unlocked reward: apply its effects once, mark it claimed.

    Refuses an unknown reward, or an inactive one the user does not own (404);
    one the user has not unlocked (``reward_locked``) and one already claimed
    (``already_claimed``). Ownership is forever: an unlocked reward staff took
    off the catalog since stays claimable. The ``claimed_at IS NULL`` condition
    on the update backs the lock up: a second claim can never apply the
    effects twice."""
    with state_change(user_id=user_id, now=now) as change:
        # The reward and the user's ownership of it, in one statement, after the lock.
        reward = (
            Reward.objects.filter(pk=reward_id)
            .annotate(
                own=FilteredRelation("owners", condition=Q(owners__user_id=user_id)),
                owned_id=F("own__id"),
                owned_unlocked_at=F("own__unlocked_at"),
                owned_claimed_at=F("own__claimed_at"),
            )
            .first()
        )
        if reward is None or (not reward.active and reward.owned_id is None):
            raise RewardNotFound()
        if reward.owned_id is None:
            raise RewardLocked()
        if reward.owned_claimed_at is not None:
            raise AlreadyClaimed()
        claimed_at = max(now, reward.owned_unlocked_at)
        claimed = UserReward.objects.filter(pk=reward.owned_id, claimed_at__isnull=True).update(
            claimed_at=claimed_at
        )
        if not claimed:
            raise AlreadyClaimed()
        step = change.record(
            LedgerEntry.Kind.REWARD_CLAIM,
            reward.pk,
            rules.apply(change.current, **effects_kwargs(reward.effects), limits=limits()),
        )
    owned = UserReward(
        id=reward.owned_id,
        user_id=user_id,
        reward=reward,
        unlocked_at=reward.owned_unlocked_at,
        claimed_at=claimed_at,
    )
    return ChangeResult.of(
        change, step, reward=reward_status(reward=reward, owned=owned, state=change.current)
    )
