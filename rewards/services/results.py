"""What the rewards use cases hand back to their callers: plain values."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from engagement import rules
from engagement.services import StateChange
from rewards.models import Tool
from rewards.selectors import RewardStatus
from rewards.services.unlock import Unlocked, unlocked_in


@dataclass(frozen=True)
class Holding:
    """How many of a tool the user holds after the change."""

    tool: Tool
    quantity: int


@dataclass(frozen=True)
class ChangeResult:
    """The outcome of one rewards use case: the state after it, the step that
    was the use case itself, what it unlocked, and the user's local date."""

    state: rules.State
    step: rules.Transition
    unlocked: list[Unlocked]
    today: dt.date
    item: Holding | None = None
    reward: RewardStatus | None = None

    @classmethod
    def of(
        cls,
        change: StateChange,
        step: rules.Transition,
        *,
        item: Holding | None = None,
        reward: RewardStatus | None = None,
    ) -> ChangeResult:
        """The result of a finished state change whose own step was ``step``."""
        return cls(
            state=change.current,
            step=step,
            unlocked=unlocked_in(change),
            today=change.today,
            item=item,
            reward=reward,
        )

    def describe(self) -> str:
        """What changed, e.g. ``loyalty +50`` or ``coffee now x3, unlocked streak_3``."""
        applied = {k: v for k, v in self.step.applied.as_dict().items() if v}
        parts = [f"{key} {value:+d}" for key, value in applied.items()]
        if self.item is not None:
            parts.append(f"{self.item.tool.pk} now x{self.item.quantity}")
        parts += [f"unlocked {u.reward.pk}" for u in self.unlocked]
        return ", ".join(parts) or "no change"
