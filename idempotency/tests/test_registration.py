"""Retry-safe sign-up: a keyed ``POST auth/register`` is replayed, scoped to the
key and the e-mail; login and refresh stay key-free and safe to repeat."""

import datetime as dt
from typing import Any

import pytest
import time_machine
from rest_framework.test import APIClient

from base.testing import run_concurrently
from engagement.models import UserState
from idempotency.models import IdempotencyKey
from users.models import User

PASSWORD = "correct horse battery staple"
NOON = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


def register(key: str | None = None, ip: str = "10.1.0.1", **body):
    body = {"email": "ann@example.com", "password": PASSWORD, **body}
    headers: dict[str, Any] = {"REMOTE_ADDR": ip}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return APIClient().post("/api/v1/auth/register", body, format="json", **headers)


def tokens_work(body: dict) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    return client.get("/api/v1/me").status_code == 200


@pytest.mark.django_db
class TestReplay:
    def test_a_retry_replays_the_first_201_with_its_tokens(self):
        first = register("signup-1")
        retry = register("signup-1", ip="10.1.0.2")

        assert first.status_code == retry.status_code == 201
        assert retry["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first
        assert retry.json() == first.json()
        assert tokens_work(retry.json())
        assert User.objects.count() == 1
        assert UserState.objects.count() == 1

    def test_the_key_row_belongs_to_the_new_account(self):
        first = register("signup-1", display_name="Ann")

        row = IdempotencyKey.objects.get()
        assert str(row.user_id) == first.json()["user"]["id"]
        assert (row.key, row.status_code) == ("signup-1", 201)
        assert PASSWORD not in row.fingerprint

    def test_the_e_mail_is_matched_as_stored(self):
        register("signup-1")

        retry = register("signup-1", email="  ANN@example.com ")

        assert retry.status_code == 201
        assert retry["Idempotent-Replayed"] == "true"

    def test_without_a_key_a_repeat_is_still_409(self):
        register()

        again = register()

        assert again.status_code == 409
        assert again.json()["code"] == "email_taken"

    def test_another_key_for_a_taken_e_mail_is_409(self):
        register("signup-1")

        response = register("signup-2")

        assert response.status_code == 409
        assert response.json()["code"] == "email_taken"
        assert IdempotencyKey.objects.count() == 1

    def test_the_same_key_for_another_e_mail_is_a_new_registration(self):
        ann = register("shared-key")
        bob = register("shared-key", email="bob@example.com")
        bob_again = register("shared-key", email="bob@example.com")

        assert ann.status_code == bob.status_code == bob_again.status_code == 201
        assert "Idempotent-Replayed" not in bob
        assert bob.json()["user"]["email"] == "bob@example.com"
        assert bob_again.json() == bob.json()
        assert User.objects.count() == 2

    @pytest.mark.parametrize(
        "changed",
        [{"display_name": "Someone else"}, {"timezone": "Europe/Warsaw"}, {"password": "x" * 20}],
    )
    def test_the_same_key_and_e_mail_with_another_body_is_422(self, changed):
        first = register("signup-1")

        response = register("signup-1", **changed)

        assert response.status_code == 422
        assert response.json()["code"] == "idempotency_key_reused"
        user = User.objects.get()
        assert str(user.pk) == first.json()["user"]["id"]
        assert (user.display_name, user.timezone) == ("", "UTC")
        assert user.check_password(PASSWORD)

    def test_an_expired_key_no_longer_replays(self):
        with time_machine.travel(NOON, tick=False):
            register("signup-1")
        with time_machine.travel(NOON + dt.timedelta(hours=24, seconds=1), tick=False):
            retry = register("signup-1")

        assert retry.status_code == 409
        assert retry.json()["code"] == "email_taken"

    @pytest.mark.parametrize(
        "body",
        [
            {"email": "not-an-e-mail", "password": PASSWORD},
            {"email": "ann@example.com", "password": "short"},
            {"email": "ann@example.com"},
        ],
    )
    def test_a_refused_registration_stores_nothing_and_a_fixed_retry_succeeds(self, body):
        client = APIClient()
        refused = client.post(
            "/api/v1/auth/register", body, format="json", HTTP_IDEMPOTENCY_KEY="k"
        )

        fixed = register("k")

        assert refused.status_code == 400
        assert fixed.status_code == 201
        assert "Idempotent-Replayed" not in fixed

    def test_malformed_json_with_a_key_is_400(self):
        response = APIClient().post(
            "/api/v1/auth/register",
            '{"email": ',
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="k",
        )

        assert response.status_code == 400
        assert User.objects.count() == 0
        assert IdempotencyKey.objects.count() == 0


@pytest.mark.django_db
class TestOtherAnonymousPosts:
    def test_login_ignores_the_key_and_is_safe_to_repeat(self, user):
        from users.tests.factories import TEST_PASSWORD

        body = {"email": user.email, "password": TEST_PASSWORD}
        first = APIClient().post("/api/v1/auth/login", body, HTTP_IDEMPOTENCY_KEY="l")
        second = APIClient().post("/api/v1/auth/login", body, HTTP_IDEMPOTENCY_KEY="l")

        assert first.status_code == second.status_code == 200
        assert "Idempotent-Replayed" not in second
        assert IdempotencyKey.objects.count() == 0

    def test_refresh_ignores_the_key(self, user):
        from users.tokens import token_pair

        body = {"refresh": token_pair(user)["refresh"]}
        first = APIClient().post("/api/v1/auth/refresh", body, HTTP_IDEMPOTENCY_KEY="r")
        second = APIClient().post("/api/v1/auth/refresh", body, HTTP_IDEMPOTENCY_KEY="r")

        assert first.status_code == 200
        assert "Idempotent-Replayed" not in second  # whatever refreshing twice answers
        assert second.content != first.content
        assert IdempotencyKey.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_concurrent_registrations_with_one_key_create_one_account_and_replay_it():
    responses = run_concurrently(8, lambda i: register("race-key", ip=f"10.2.0.{i}"))

    assert [r.status_code for r in responses] == [201] * 8
    assert sum(r.get("Idempotent-Replayed") == "true" for r in responses) == 7
    assert len({r.content for r in responses}) == 1
    assert User.objects.count() == 1
    assert UserState.objects.count() == 1
    assert IdempotencyKey.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_concurrent_registrations_with_one_key_and_different_bodies_are_refused_clearly():
    def attempt(i: int):
        return register("race-key", ip=f"10.3.0.{i}", display_name=f"Ann {i % 2}")

    responses = run_concurrently(6, attempt)

    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 3  # the winner and the replays of its body
    assert statuses.count(422) == 3
    assert {r.json()["code"] for r in responses if r.status_code == 422} == {
        "idempotency_key_reused"
    }
    assert User.objects.count() == 1
