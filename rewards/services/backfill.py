"""Backfill: a reward created or re-activated is unlocked for every user who
already meets its rule.

A live unlock happens at the user's next state change; a backfill does it now,
through the same code path. Its users are the state rows whose rule field
reaches the threshold and who do not own the reward, read in ``user_id`` order
a batch at a time (keyset pagination: each batch starts after the last user
of the one before). Each batch is one batch envelope
(``engagement.services.states_change``, ``backfill=True``): the batch's rows
are locked in ``user_id`` order, then each user's change runs the after-change
steps like any other change, so rewards' unlock step reads what the user owns
after the lock, unlocks (and auto-claims through the ledger), and the events
step writes the events, marked ``backfill: true``.

- **Idempotent**: ownership is read after the lock, so a user who got the
  reward meanwhile (a check-in, another backfill) gets nothing more.
- **Resumable**: nothing is remembered but the reward; a run that is killed
  leaves its committed batches, and the next run finds only the users still
  missing it.
- **Safe beside live traffic**: one lock per user and one order (a batch takes
  its rows in ``user_id`` order, a single change holds at most its own row);
  a row a check-in changed while the batch waited is judged as it is now.

docs/ARCHITECTURE.md, "Reward backfill".
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from engagement.models import UserState
from engagement.services import states_change
from rewards.errors import RewardNotFound
from rewards.models import Reward, UserReward
from rewards.rules import RULE_FIELDS
from rewards.services.unlock import unlocked_in

BATCH_SIZE = 1000


@dataclass(frozen=True)
class BackfillResult:
    """What one backfill of one reward did."""

    reward_id: str
    found: int  # users who met the rule without owning the reward when their batch was read
    unlocked: int  # of those, how many got it
    # Ownerships created in all: a user's change unlocks every active reward
    # its state meets, not only this one; and of those, how many were claimed.
    unlocks: int
    auto_claimed: int
    batches: int

    @property
    def skipped(self) -> int:
        """Found but not unlocked: changed meanwhile (a live change unlocked it,
        the streak fell), deactivated, or the reward was deactivated mid-run."""
        return self.found - self.unlocked


def backfill_candidates(
    reward: Reward, *, after: uuid.UUID | None = None
) -> QuerySet[UserState, Any]:
    """The state rows that meet ``reward``'s rule and whose user does not own
    it, in ``user_id`` order (the lock's order, and the keyset's), after the
    user ``after``.

    PostgreSQL reads it as a merge anti-join of two scans in ``user_id``
    order: the state table's primary key and the ``(user, reward)`` unique
    index of ownership. ``after`` is given to both sides: the planner does
    not carry an inequality across the join, and without it the ownership
    scan of every batch would start from the first user again."""
    owned = UserReward.objects.filter(user_id=OuterRef("user_id"), reward_id=reward.pk)
    meets = Q(**{f"{RULE_FIELDS[reward.rule]}__gte": reward.threshold})
    query = UserState.objects.filter(meets)
    if after is not None:
        query = query.filter(user_id__gt=after)
        owned = owned.filter(user_id__gt=after)
    return query.filter(~Exists(owned)).order_by("user_id")


def backfill_count(*, reward_id: str) -> int:
    """How many users a backfill of the reward would find now (for a progress
    bar): 0 for an inactive reward."""
    reward = Reward.objects.filter(pk=reward_id, active=True).first()
    return 0 if reward is None else backfill_candidates(reward).count()


def reward_backfill(
    *,
    reward_id: str,
    now: dt.datetime,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[int], object] | None = None,
) -> BackfillResult:
    """Unlock ``reward_id`` for every user whose state already meets its rule,
    a batch of ``batch_size`` users per transaction, all at ``now``.
    ``on_batch(n)`` is told how many users each committed batch read.

    The reward is read again before every batch: deactivated meanwhile, the
    run stops; its rule or threshold edited, the next batches follow the edit.
    Raises :class:`RewardNotFound` for an unknown reward."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if not Reward.objects.filter(pk=reward_id).exists():
        raise RewardNotFound()
    _refresh_ownership_statistics()
    found = unlocked = unlocks = auto_claimed = batches = 0
    after: uuid.UUID | None = None
    while True:
        reward = Reward.objects.filter(pk=reward_id, active=True).first()
        if reward is None:  # inactive (or deleted) now: nothing to unlock
            break
        query = backfill_candidates(reward, after=after)
        user_ids = list(query.values_list("user_id", flat=True)[:batch_size])
        if not user_ids:
            break
        field = RULE_FIELDS[reward.rule]
        with states_change(
            user_ids=user_ids,
            now=now,
            condition=Q(**{f"{field}__gte": reward.threshold}),
            backfill=True,
        ) as changes:
            pass  # the after-change steps do the work as each change closes
        for change in changes:
            for u in unlocked_in(change):
                unlocked += u.reward.id == reward_id
                unlocks += 1
                auto_claimed += u.auto_claimed
        found += len(user_ids)
        batches += 1
        after = user_ids[-1]
        if on_batch is not None:
            on_batch(len(user_ids))
    return BackfillResult(
        reward_id=reward_id,
        found=found,
        unlocked=unlocked,
        unlocks=unlocks,
        auto_claimed=auto_claimed,
        batches=batches,
    )


def _refresh_ownership_statistics() -> None:
    """``ANALYZE`` the ownership table on PostgreSQL before a run.

    A backfill inserts up to hundreds of thousands of ownership rows of one
    reward, too few to trigger autovacuum's analyze on a large table. With
    the statistics from before, the planner believes the reward has almost no
    owners and joins the next run's candidate read against all of them for
    every state row it reads: a re-run over 1 M users did not finish its
    first batch in a minute (docs/PERFORMANCE.md, "Reward backfill"). ANALYZE
    samples the table (a fraction of a second) and takes no lock that writes
    wait for."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {UserReward._meta.db_table}")


def reward_backfill_enqueue(*, reward_id: str) -> None:
    """Enqueue a background backfill of the reward (``rewards.tasks``), in the
    caller's transaction: the task row commits with the reward's save, or not
    at all."""
    from rewards.tasks import backfill_reward  # the task calls this module

    backfill_reward.enqueue(reward_id=reward_id)
