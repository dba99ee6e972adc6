"""An erasure racing the user's own requests, with real threads.

The erasure takes the user's state lock first, like every write: a check-in
either commits before it (and is erased with the rest) or finds the account
gone (401 ``account_unavailable``). Never a deadlock, an orphan row or a 500
(any 500 fails the test, see conftest.py).
"""

import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from base.testing import bearer_client, run_concurrently
from checkins.models import CheckIn
from checkins.services import checkin_create
from idempotency.models import IdempotencyKey
from privacy.sections import user_relations
from privacy.services import user_erase
from rewards.tests.test_interleavings import interleave
from users.models import User
from users.tests.factories import TEST_PASSWORD, UserFactory
from users.tokens import token_pair

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks are PostgreSQL's; SQLite's IMMEDIATE transactions serialize whole "
    "transactions",
)


def leftovers(user_id) -> dict[str, int]:
    return {
        model._meta.label: count
        for model, field in user_relations()
        if (count := model._base_manager.filter(**{field.attname: user_id}).count())
    }


def assert_gone(user_id) -> None:
    assert not User.objects.filter(pk=user_id).exists()
    assert leftovers(user_id) == {}


def assert_invariants_hold() -> None:
    call_command("verify_invariants", stdout=None)  # raises CommandError on a violation


def erase_over_http(access: str):
    return bearer_client(access).delete("/api/v1/me", {"password": TEST_PASSWORD}, format="json")


def checkin_over_http(access: str, key: str | None):
    if key is None:
        return bearer_client(access).post("/api/v1/checkins")
    return bearer_client(access).post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY=key)


@postgresql_only
@pytest.mark.parametrize("key", [None, "checkin-key"])
def test_a_checkin_behind_an_erasure_finds_the_account_gone(key):
    user = UserFactory()
    access = token_pair(user)["access"]
    checkin_create(user_id=user.pk, now=timezone.now() - dt.timedelta(days=1))

    erased, checkin = interleave(
        first_holds_lock=lambda: user_erase(user_id=user.pk, now=timezone.now(), reason=None),
        second=lambda: checkin_over_http(access, key),
    )

    assert not isinstance(erased, BaseException), erased
    assert checkin.status_code == 401, checkin.content
    assert checkin.json()["code"] == "account_unavailable"
    assert_gone(user.pk)
    assert not IdempotencyKey.objects.exists()
    assert_invariants_hold()


@postgresql_only
@pytest.mark.parametrize("request_kind", ["me", "checkin", "keyed_checkin"])
def test_a_first_request_of_an_account_without_state_behind_an_erasure(request_kind):
    """Accounts made by staff have no state row until their first /me or
    write: the erasure creates and locks it, the request's insert of the same
    row waits, and once the erasure commits its foreign key finds no user."""
    user = UserFactory()  # no state row
    access = token_pair(user)["access"]
    send = {
        "me": lambda: bearer_client(access).get("/api/v1/me"),
        "checkin": lambda: checkin_over_http(access, None),
        "keyed_checkin": lambda: checkin_over_http(access, "first"),
    }[request_kind]

    erased, response = interleave(
        first_holds_lock=lambda: user_erase(user_id=user.pk, now=timezone.now(), reason=None),
        second=send,
    )

    assert not isinstance(erased, BaseException), erased
    assert not isinstance(response, BaseException), response
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "account_unavailable"
    assert_gone(user.pk)


@postgresql_only
def test_an_erasure_behind_a_checkin_erases_it_too():
    user = UserFactory()
    access = token_pair(user)["access"]

    checkin, erased = interleave(
        first_holds_lock=lambda: checkin_create(user_id=user.pk, now=timezone.now()),
        second=lambda: erase_over_http(access),
    )

    assert not isinstance(checkin, BaseException), checkin
    assert erased.status_code == 204, erased.content
    assert_gone(user.pk)
    assert not CheckIn.objects.exists()
    assert_invariants_hold()


def send_one(requests: list[Callable[[], Any]], index: int) -> Any:
    return requests[index]()


def requests_of(access: str, key: str) -> list[Callable[[], Any]]:
    return [
        lambda: erase_over_http(access),
        lambda: checkin_over_http(access, None),
        lambda: checkin_over_http(access, key),
        lambda: bearer_client(access).patch("/api/v1/me", {"display_name": "X"}, format="json"),
        lambda: bearer_client(access).get("/api/v1/me"),
        lambda: bearer_client(access).get("/api/v1/me/export"),
    ]


def test_an_erasure_racing_the_users_own_requests():
    """Rounds of DELETE /me beside two check-ins (one keyed), a profile
    change, /me and the export of the same user, all released at once."""
    allowed = {
        "checkin": {201, 401, 409},  # 409: the other check-in of the day came first
        "patch": {200, 401},
        "me": {200, 401},
        "export": {200, 401},
    }
    for round_number in range(10):
        user, bystander = UserFactory(), UserFactory()
        checkin_create(user_id=bystander.pk, now=timezone.now())
        requests = requests_of(token_pair(user)["access"], f"key-{round_number}")

        responses = run_concurrently(len(requests), partial(send_one, requests))

        for response in responses:
            assert not isinstance(response, BaseException), response
        erase, checkin, keyed_checkin, patch, me, export = responses
        assert erase.status_code == 204, erase.content
        for kind, response in [
            ("checkin", checkin),
            ("checkin", keyed_checkin),
            ("patch", patch),
            ("me", me),
            ("export", export),
        ]:
            assert response.status_code in allowed[kind], (kind, response.content)
            if response.status_code == 401:
                assert response.json()["code"] == "account_unavailable"
            if response.status_code == 409:
                assert response.json()["code"] == "already_checked_in"
        assert_gone(user.pk)
        assert CheckIn.objects.filter(user=bystander).count() == 1
    assert_invariants_hold()
