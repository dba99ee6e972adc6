"""Real threads racing on the real database (SQLite file or PostgreSQL)."""

import re

import pytest
from rest_framework.test import APIClient

from base.testing import bearer_client, run_concurrently
from checkins.models import CheckIn
from engagement.invariants import ledger_replay_mismatches
from engagement.models import LedgerEntry, UserState
from users.models import User
from users.tests.factories import UserFactory
from users.tokens import token_pair

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def test_parallel_checkins_of_one_user_give_exactly_one_201():
    user = UserFactory()
    access = token_pair(user)["access"]

    responses = run_concurrently(30, lambda _: bearer_client(access).post("/api/v1/checkins"))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 29
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"already_checked_in"}
    assert CheckIn.objects.filter(user=user).count() == 1
    assert LedgerEntry.objects.filter(user=user).count() == 1
    state = UserState.objects.get(user=user)
    assert (state.total_checkins, state.streak, state.energy, state.loyalty) == (1, 1, 70, 5)
    assert ledger_replay_mismatches(user_id=user.pk) == []


def test_parallel_checkins_of_different_users_all_succeed():
    users = UserFactory.create_batch(12)
    tokens = [token_pair(u)["access"] for u in users]

    responses = run_concurrently(12, lambda i: bearer_client(tokens[i]).post("/api/v1/checkins"))

    assert [r.status_code for r in responses] == [201] * 12
    assert CheckIn.objects.count() == 12
    for user in users:
        assert ledger_replay_mismatches(user_id=user.pk) == []


def test_parallel_first_me_creates_exactly_one_state_row():
    user = UserFactory()
    access = token_pair(user)["access"]

    responses = run_concurrently(20, lambda _: bearer_client(access).get("/api/v1/me"))

    assert [r.status_code for r in responses] == [200] * 20
    assert UserState.objects.filter(user=user).count() == 1
    assert {r.json()["state"]["energy"] for r in responses} == {50}


def test_parallel_registrations_of_one_email_create_one_user():
    def register(index: int):
        email = "Race@Example.com" if index % 2 else "race@example.COM"
        return APIClient().post(
            "/api/v1/auth/register",
            {"email": email, "password": "correct horse battery staple"},
            REMOTE_ADDR=f"10.0.0.{index}",
        )

    responses = run_concurrently(4, register)

    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    assert User.objects.count() == 1
    assert UserState.objects.count() == 1


def test_the_unique_constraint_alone_still_refuses_the_race(monkeypatch):
    """Control: take away the state-row lock and the (user, date) constraint is
    what stops a second check-in; it still ends in one row and 409s, not 500s."""
    from engagement import statements

    locking_sql = statements._lock_sql

    def without_lock(vendor):
        locking = locking_sql(vendor)
        unlocked = re.sub(r" FOR UPDATE( OF \S+)?$", "", locking)
        # The control must really remove the lock where there is one to remove.
        assert (unlocked != locking) == (vendor == "postgresql")
        return unlocked

    user = UserFactory()
    UserState.objects.create(user=user)
    monkeypatch.setattr(statements, "_lock_sql", without_lock)
    access = token_pair(user)["access"]

    responses = run_concurrently(10, lambda _: bearer_client(access).post("/api/v1/checkins"))

    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    assert CheckIn.objects.filter(user=user).count() == 1
    assert ledger_replay_mismatches(user_id=user.pk) == []
