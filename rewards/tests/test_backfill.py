"""Reward backfill: a reward created or re-activated is unlocked for the users
who already meet its rule, through the same unlock step as a live change."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from engagement import services as engagement_services
from engagement.models import LedgerEntry, UserState
from engagement.rules import INITIAL_STATE, State
from events import services as events_services
from events.models import Event
from rewards import tasks
from rewards.errors import RewardNotFound
from rewards.models import Reward, UserReward
from rewards.rules import RULE_FIELDS, rule_values
from rewards.services.backfill import backfill_count, reward_backfill
from rewards.tests.factories import T0, RewardFactory, checkin_days, state_of
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LATER = T0 + dt.timedelta(days=30)


def streakers(*streaks: int) -> list:
    """One user per streak length, checked in that many days in a row."""
    users = []
    for streak in streaks:
        user = UserFactory()
        checkin_days(user, streak)
        users.append(user)
    return users


def owners(reward_id: str) -> set:
    return set(UserReward.objects.filter(reward_id=reward_id).values_list("user_id", flat=True))


def events_of(user, *types: str) -> list[tuple[str, dict]]:
    rows = Event.objects.filter(user_id=user.pk, type__in=types).order_by("created_at", "id")
    return [(e.type, e.data) for e in rows]


def run(*args: str) -> str:
    out = StringIO()
    call_command("backfill_rewards", *args, "--no-progress", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_every_rule_reads_the_state_field_of_its_name():
    state = State(**{**INITIAL_STATE.__dict__, "streak": 1, "level": 2, "total_checkins": 3})
    state = State(**{**state.__dict__, "longest_streak": 4})

    assert {rule: getattr(state, field) for rule, field in RULE_FIELDS.items()} == rule_values(
        state
    )
    assert set(RULE_FIELDS) == set(Reward.Rule.values)


def test_users_who_meet_the_rule_get_it_unlocked_and_others_do_not():
    ann, bob, cy = streakers(3, 2, 4)
    RewardFactory(id="three", title="Three", rule=Reward.Rule.STREAK, threshold=3)
    before = {u.pk: state_of(u) for u in (ann, bob, cy)}

    result = reward_backfill(reward_id="three", now=LATER)

    assert (result.found, result.unlocked, result.auto_claimed, result.skipped) == (2, 2, 0, 0)
    assert owners("three") == {ann.pk, cy.pk}
    ownership = UserReward.objects.get(user_id=ann.pk)
    assert (ownership.unlocked_at, ownership.claimed_at) == (LATER, None)
    # Not claimed: the state, its ledger and its updated_at are untouched.
    for user in (ann, bob, cy):
        after = state_of(user)
        assert (after.loyalty, after.updated_at) == (
            before[user.pk].loyalty,
            before[user.pk].updated_at,
        )
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REWARD_CLAIM).exists()
    assert events_of(ann, "reward.unlocked", "reward.claimed") == [
        (
            "reward.unlocked",
            {
                "user_id": str(ann.pk),
                "reward_id": "three",
                "title": "Three",
                "auto_claimed": False,
                "backfill": True,
            },
        )
    ]
    assert events_of(bob, "reward.unlocked") == []


def test_auto_claim_rewards_are_claimed_through_the_ledger_with_marked_events():
    (ann,) = streakers(3)
    loyalty = state_of(ann).loyalty
    RewardFactory(
        id="boost",
        rule=Reward.Rule.TOTAL_CHECKINS,
        threshold=2,
        effects={"loyalty": 7},
        auto_claim=True,
    )

    result = reward_backfill(reward_id="boost", now=LATER)

    assert (result.unlocked, result.unlocks, result.auto_claimed) == (1, 1, 1)
    ownership = UserReward.objects.get(user_id=ann.pk, reward_id="boost")
    assert ownership.claimed_at == LATER
    assert state_of(ann).loyalty == loyalty + 7
    claim = LedgerEntry.objects.get(user_id=ann.pk, kind=LedgerEntry.Kind.REWARD_CLAIM)
    assert (claim.ref, claim.loyalty, claim.created_at) == ("boost", 7, LATER)
    types = [
        (kind, data["backfill"])
        for kind, data in events_of(ann, "reward.unlocked", "reward.claimed")
    ]
    assert types == [("reward.unlocked", True), ("reward.claimed", True)]
    out = StringIO()
    call_command("verify_invariants", "--no-progress", stdout=out, stderr=StringIO())
    assert "every invariant holds" in out.getvalue()


def test_live_events_carry_no_backfill_mark():
    RewardFactory(id="three", title="Three", rule=Reward.Rule.STREAK, threshold=3)
    (ann,) = streakers(3)  # unlocked live, by the third check-in

    assert [data for _, data in events_of(ann, "reward.unlocked")] == [
        {"user_id": str(ann.pk), "reward_id": "three", "title": "Three", "auto_claimed": False}
    ]
    assert reward_backfill(reward_id="three", now=LATER).found == 0


def test_a_user_is_given_every_active_reward_the_state_meets_in_one_change():
    (ann,) = streakers(3)
    RewardFactory(id="a", rule=Reward.Rule.STREAK, threshold=2)
    RewardFactory(id="b", rule=Reward.Rule.STREAK, threshold=3)
    RewardFactory(id="off", rule=Reward.Rule.STREAK, threshold=1, active=False)

    reward_backfill(reward_id="a", now=LATER)

    assert set(UserReward.objects.filter(user_id=ann.pk).values_list("reward_id", flat=True)) == {
        "a",
        "b",
    }
    assert reward_backfill(reward_id="b", now=LATER).found == 0


def test_running_it_twice_unlocks_nothing_more():
    streakers(3, 3, 1)
    RewardFactory(id="three", rule=Reward.Rule.STREAK, threshold=3, auto_claim=True)
    reward_backfill(reward_id="three", now=LATER, batch_size=1)
    counts = (UserReward.objects.count(), LedgerEntry.objects.count(), Event.objects.count())

    again = reward_backfill(reward_id="three", now=LATER + dt.timedelta(hours=1))

    assert (again.found, again.unlocked, again.batches) == (0, 0, 0)
    assert (
        UserReward.objects.count(),
        LedgerEntry.objects.count(),
        Event.objects.count(),
    ) == counts


class Killed(Exception):
    pass


def test_a_run_killed_after_some_batches_is_completed_by_the_next_without_doubling():
    users = streakers(3, 3, 3, 3, 3, 2)
    RewardFactory(id="three", rule=Reward.Rule.STREAK, threshold=3, auto_claim=True)
    batches = []

    def kill_after_two(size: int) -> None:
        batches.append(size)
        if len(batches) == 2:
            raise Killed()

    with pytest.raises(Killed):
        reward_backfill(reward_id="three", now=LATER, batch_size=2, on_batch=kill_after_two)
    assert len(owners("three")) == 4  # two committed batches of two
    assert backfill_count(reward_id="three") == 1

    result = reward_backfill(reward_id="three", now=LATER, batch_size=2)

    assert (result.found, result.unlocked) == (1, 1)
    assert owners("three") == {u.pk for u in users[:5]}
    for user in users[:5]:
        assert LedgerEntry.objects.filter(user_id=user.pk, kind="reward_claim").count() == 1
        assert len(events_of(user, "reward.unlocked")) == 1


def test_a_batch_killed_mid_way_leaves_nothing_of_itself(monkeypatch):
    streakers(3, 3, 3)
    RewardFactory(id="three", rule=Reward.Rule.STREAK, threshold=3, auto_claim=True)
    calls = []
    record = events_services.events_record

    def failing_on_the_third_user(change):
        calls.append(change.user_id)
        if len(calls) == 3:
            raise Killed()
        return record(change)

    monkeypatch.setitem(
        engagement_services._after_change_steps,
        events_services.EVENTS_STEP,
        failing_on_the_third_user,
    )
    with pytest.raises(Killed):
        reward_backfill(reward_id="three", now=LATER, batch_size=2)
    monkeypatch.undo()
    assert len(owners("three")) == 2  # the first batch; none of the second

    assert reward_backfill(reward_id="three", now=LATER).unlocked == 1
    assert len(owners("three")) == 3


def test_an_inactive_reward_unlocks_nothing():
    streakers(3)
    RewardFactory(id="three", rule=Reward.Rule.STREAK, threshold=3, active=False)

    result = reward_backfill(reward_id="three", now=LATER)

    assert (result.found, result.unlocked) == (0, 0)
    assert not UserReward.objects.exists()
    assert backfill_count(reward_id="three") == 0


def test_a_reward_deactivated_mid_run_stops_the_run():
    streakers(3, 3, 3)
    RewardFactory(id="three", rule=Reward.Rule.STREAK, threshold=3)

    def deactivate(size: int) -> None:
        Reward.objects.filter(pk="three").update(active=False)

    result = reward_backfill(reward_id="three", now=LATER, batch_size=1, on_batch=deactivate)

    assert (result.found, result.unlocked, result.batches) == (1, 1, 1)


def test_deactivated_accounts_are_skipped():
    ann, bob = streakers(3, 3)
    type(bob).objects.filter(pk=bob.pk).update(is_active=False)
    RewardFactory(id="three", rule=Reward.Rule.STREAK, threshold=3)

    result = reward_backfill(reward_id="three", now=LATER)

    assert (result.found, result.unlocked, result.skipped) == (2, 1, 1)
    assert owners("three") == {ann.pk}


def test_an_unknown_reward_is_not_found():
    with pytest.raises(RewardNotFound):
        reward_backfill(reward_id="nope", now=LATER)


def test_a_batch_costs_three_statements_a_user():
    streakers(3, 3, 3, 3)
    RewardFactory(id="three", rule=Reward.Rule.STREAK, threshold=3)

    with CaptureQueriesContext(connection) as captured:
        reward_backfill(reward_id="three", now=LATER, batch_size=4)

    # exists; per batch: the reward, the candidates, BEGIN, the lock, then per user the
    # rewards not owned, the ownership insert, the events insert; COMMIT; the final
    # reward and candidates reads that find nobody.
    # On PostgreSQL, ANALYZE of the ownership table first (_refresh_ownership_statistics).
    analyze = 1 if connection.vendor == "postgresql" else 0
    assert len(captured) == 1 + analyze + 2 + 2 + 1 + 3 * 4 + 2


# --- The task ------------------------------------------------------------------------
def test_the_task_backfills_the_reward():
    (ann,) = streakers(3)
    RewardFactory(id="three", rule=Reward.Rule.STREAK, threshold=3, auto_claim=True)

    assert tasks.backfill_reward.call(reward_id="three") == {
        "found": 1,
        "unlocked": 1,
        "unlocks": 1,
        "auto_claimed": 1,
        "batches": 1,
    }
    assert owners("three") == {ann.pk}
    assert tasks.backfill_reward.call(reward_id="three")["unlocked"] == 0


def test_the_task_of_a_reward_deleted_meanwhile_does_nothing():
    assert tasks.backfill_reward.call(reward_id="gone")["found"] == 0


# --- The command ---------------------------------------------------------------------
def test_the_command_backfills_one_reward_in_batches_and_ends_with_a_summary():
    ann, bob, _cy = streakers(3, 3, 1)
    RewardFactory(id="three", rule=Reward.Rule.STREAK, threshold=3, auto_claim=True)
    RewardFactory(id="one", rule=Reward.Rule.STREAK, threshold=1)

    out = run("--reward", "three", "--batch", "1")

    assert out == (
        "Backfilled reward three: 2 users found, 2 unlocked, 0 skipped; "
        "4 unlocks in all (2 auto-claimed).\n"
    )
    assert owners("three") == {ann.pk, bob.pk}
    assert owners("one") == {ann.pk, bob.pk}  # met too: unlocked in the same changes
    assert run("--reward", "three") == (
        "Backfilled reward three: 0 users found, 0 unlocked, 0 skipped; "
        "0 unlocks in all (0 auto-claimed).\n"
    )


def test_the_command_backfills_every_active_reward_by_default():
    ann, bob = streakers(3, 1)
    RewardFactory(id="one", rule=Reward.Rule.STREAK, threshold=1)
    RewardFactory(id="three", rule=Reward.Rule.STREAK, threshold=3)
    RewardFactory(id="off", rule=Reward.Rule.STREAK, threshold=1, active=False)

    out = run()

    assert out == (
        "Backfilled 2 rewards: 2 users found, 2 unlocked, 0 skipped; "
        "3 unlocks in all (0 auto-claimed).\n"
    )
    assert owners("one") == {ann.pk, bob.pk}
    assert owners("three") == {ann.pk}
    assert owners("off") == set()


def test_the_command_refuses_an_unknown_reward_and_says_an_inactive_one_has_nothing():
    RewardFactory(id="off", active=False)

    with pytest.raises(CommandError, match=r"No reward with the id 'nope'\."):
        run("--reward", "nope")
    assert run("--reward", "off") == "Reward off is inactive: nothing to backfill.\n"


@pytest.mark.parametrize("batch", ["0", "x"])
def test_the_command_refuses_a_bad_batch_size(batch):
    with pytest.raises(CommandError, match="--batch"):
        run("--batch", batch)


def test_the_command_draws_its_bar_on_a_terminal():
    streakers(3, 3)
    RewardFactory(id="three", rule=Reward.Rule.STREAK, threshold=3)

    class Terminal(StringIO):
        def isatty(self) -> bool:
            return True

    out, err = StringIO(), Terminal()
    call_command("backfill_rewards", "--batch", "1", stdout=out, stderr=err)

    frame = err.getvalue().rstrip("\n").split("\r")[-1]
    assert frame.startswith("users: 100%|")
    assert " 2/2 [" in frame
    assert out.getvalue().startswith("Backfilled 1 reward: 2 users found, 2 unlocked")


def test_nothing_happens_without_a_state_row():
    UserFactory()
    RewardFactory(id="one", rule=Reward.Rule.LEVEL, threshold=1)
    assert UserState.objects.count() == 0

    assert reward_backfill(reward_id="one", now=LATER).found == 0
