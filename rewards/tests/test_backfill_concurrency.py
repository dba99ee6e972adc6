"""A backfill racing live traffic, for real: threads with their own
connections, released together by a barrier. Two backfills of one reward and
check-ins of the same users at once: every user owns the reward once, claimed
once in the ledger, with one event of each, and every invariant holds."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command

from base.testing import run_concurrently
from checkins.services import checkin_create
from engagement.models import LedgerEntry
from events.models import Event
from rewards.models import Reward, UserReward
from rewards.services.backfill import BackfillResult, reward_backfill
from rewards.tests.factories import T0, RewardFactory, checkin_days
from users.tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

USERS = 24
CHECKIN_THREADS = 6


def test_backfills_racing_check_ins_unlock_and_claim_each_user_once():
    users = [UserFactory() for _ in range(USERS)]
    for user in users:
        checkin_days(user, 2)  # streak 2, before the reward exists
    RewardFactory(
        id="two", rule=Reward.Rule.STREAK, threshold=2, effects={"loyalty": 5}, auto_claim=True
    )
    day_3 = T0 + dt.timedelta(days=2)
    slices = [users[i::CHECKIN_THREADS] for i in range(CHECKIN_THREADS)]

    def act(i: int) -> BackfillResult | int:
        if i < 2:  # two backfills at once, in small batches
            return reward_backfill(reward_id="two", now=day_3, batch_size=3)
        for user in slices[i - 2]:  # check-ins that unlock it live
            checkin_create(user_id=user.pk, now=day_3)
        return len(slices[i - 2])

    results = run_concurrently(2 + CHECKIN_THREADS, act)

    assert [r for r in results if isinstance(r, BaseException)] == []
    backfilled = sum(r.unlocked for r in results if isinstance(r, BackfillResult))
    assert UserReward.objects.filter(reward_id="two").count() == USERS
    assert UserReward.objects.filter(reward_id="two", claimed_at__isnull=True).count() == 0
    claims = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REWARD_CLAIM, ref="two")
    assert sorted(claims.values_list("user_id", flat=True)) == sorted(u.pk for u in users)
    unlocked = Event.objects.filter(type="reward.unlocked", data__reward_id="two")
    assert unlocked.count() == USERS
    assert Event.objects.filter(type="reward.claimed", data__reward_id="two").count() == USERS
    assert unlocked.filter(data__backfill=True).count() == backfilled
    out = StringIO()
    call_command("verify_invariants", "--no-progress", stdout=out, stderr=StringIO())
    assert out.getvalue() == f"Checked {USERS} users: every invariant holds.\n"
