"""Fixtures for the rewards tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engagement.invariants import ledger_replay_mismatches
from engagement.models import UserState
from rewards.tests.factories import state_grant
from users.models import User


@pytest.fixture
def grant() -> Callable[..., UserState]:
    """``grant(user, loyalty=.., energy=..)``: a recorded, locked state change."""
    return state_grant


@pytest.fixture
def assert_ledger_replays() -> Callable[[User], None]:
    """Initial state + the user's ledger deltas must equal their state row."""

    def check(user: User) -> None:
        assert ledger_replay_mismatches(user_id=user.pk) == []

    return check
