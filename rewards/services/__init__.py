"""Rewards use cases, one module each: ``unlock`` (the after-change step of
every state change), ``claim``, ``shop`` (buy, use), ``staff`` (grants,
adjustments, streak restores), ``repair`` (the restore step staff and the
``streak_repair`` tool share) and ``backfill`` (a new or re-activated reward
for the users who already meet it). Every one goes through the state-change
envelope (``engagement.services.state_change``, or its batch form
``states_change``)."""

from rewards.services.backfill import BackfillResult, reward_backfill, reward_backfill_enqueue
from rewards.services.claim import reward_claim
from rewards.services.results import ChangeResult, Holding
from rewards.services.shop import tool_buy, tool_use
from rewards.services.staff import (
    REASON_MAX_LENGTH,
    TOOL_GRANT_MAX_QUANTITY,
    freezes_grant,
    loyalty_grant,
    state_adjust,
    streak_restore,
    tool_grant,
)
from rewards.services.unlock import Unlocked, rewards_unlock, unlocked_in

__all__ = [
    "REASON_MAX_LENGTH",
    "TOOL_GRANT_MAX_QUANTITY",
    "BackfillResult",
    "ChangeResult",
    "Holding",
    "Unlocked",
    "freezes_grant",
    "loyalty_grant",
    "reward_backfill",
    "reward_backfill_enqueue",
    "reward_claim",
    "rewards_unlock",
    "state_adjust",
    "streak_restore",
    "tool_buy",
    "tool_grant",
    "tool_use",
    "unlocked_in",
]
