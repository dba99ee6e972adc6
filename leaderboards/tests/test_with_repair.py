"""The boards follow every writer of a score, the streak restores included:
a restore moves the streak board like a check-in (the autouse check in
conftest.py compares the counts with the rows after each test)."""

import datetime as dt
import io

import pytest
from django.core.management import call_command

from checkins.services import checkin_create
from engagement.models import UserState
from rewards.services import tool_use
from rewards.services.staff import streak_restore
from rewards.tests.factories import T0, InventoryItemFactory, ToolFactory, checkin_days
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)


def lose_a_streak_of(user, length: int) -> dt.datetime:
    checkin_days(user, length)
    back = T0 + (length + 2) * DAY  # two days missed, no freeze: the streak is lost
    checkin_create(user_id=user.pk, now=back)
    return back


def test_a_staff_restore_moves_the_streak_board():
    user = UserFactory()
    back = lose_a_streak_of(user, 4)

    streak_restore(user_id=user.pk, reason="support ticket 12", now=back)

    assert UserState.objects.get(user=user).streak == 5
    call_command("rebuild_leaderboards", "--check", stdout=io.StringIO())


def test_a_repair_tool_moves_the_streak_board():
    user = UserFactory()
    back = lose_a_streak_of(user, 3)
    InventoryItemFactory(
        user=user, tool=ToolFactory(id="streak_repair", effects={"streak_repair": 1}), quantity=1
    )

    tool_use(user_id=user.pk, tool_id="streak_repair", now=back)

    assert UserState.objects.get(user=user).streak == 4
    call_command("rebuild_leaderboards", "--check", stdout=io.StringIO())
