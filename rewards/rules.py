"""Reward rules on plain values: which state number a rule reads, and how far
a state is from a threshold. No I/O."""

from __future__ import annotations

from dataclasses import dataclass

from engagement import rules
from rewards.models import RewardRule

# The state field each reward rule compares with its threshold: a field of
# ``rules.State`` and a column of the state row (the backfill selects by it).
RULE_FIELDS: dict[str, str] = {
    RewardRule.STREAK: "streak",
    RewardRule.TOTAL_CHECKINS: "total_checkins",
    RewardRule.LEVEL: "level",
    RewardRule.LONGEST_STREAK: "longest_streak",
}


def rule_values(state: rules.State) -> dict[str, int]:
    """The state value each reward rule compares with its threshold."""
    return {
        RewardRule.STREAK: state.streak,
        RewardRule.TOTAL_CHECKINS: state.total_checkins,
        RewardRule.LEVEL: state.level,
        RewardRule.LONGEST_STREAK: state.longest_streak,
    }


@dataclass(frozen=True)
class Progress:
    current: int
    target: int


def progress(*, rule: str, threshold: int, state: rules.State, owned: bool) -> Progress:
    """How far the state is towards a reward, capped at the target. A reward the
    user owns is complete for good, even if its value (a streak) fell since."""
    if owned:
        return Progress(current=threshold, target=threshold)
    return Progress(current=min(rule_values(state)[rule], threshold), target=threshold)
