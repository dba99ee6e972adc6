"""Idempotency-Key: replay, refusal of reuse, expiry, and one execution under races."""

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from base.testing import run_concurrently
from checkins.models import CheckIn
from engagement.models import LedgerEntry
from idempotency.models import IdempotencyKey
from idempotency.services import idempotency_keys_prune
from users.tests.factories import UserFactory, client_for
from users.tokens import token_pair

NOON = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


@pytest.mark.django_db
class TestReplay:
    def test_a_retry_replays_the_first_response_without_doing_the_work_again(self, user):
        with time_machine.travel(NOON, tick=False):
            client = client_for(user)
            first = client.post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="k-1")
            retry = client.post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="k-1")

        assert first.status_code == retry.status_code == 201
        assert retry["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first
        assert retry.json() == first.json()
        assert CheckIn.objects.filter(user=user).count() == 1
        assert LedgerEntry.objects.filter(user=user).count() == 1

    def test_a_replayed_body_keeps_the_original_request_id_and_the_header_names_the_retry(
        self, user
    ):
        late_evening = NOON + dt.timedelta(hours=11)
        with time_machine.travel(late_evening, tick=False):
            client = client_for(user)
            client.post("/api/v1/checkins")
            first = client.post(
                "/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="k-7", HTTP_X_REQUEST_ID="first-try"
            )
            retry = client.post(
                "/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="k-7", HTTP_X_REQUEST_ID="second-try"
            )

        assert first.status_code == retry.status_code == 409
        assert retry["Idempotent-Replayed"] == "true"
        assert first.json()["request_id"] == retry.json()["request_id"] == "first-try"
        assert (first["X-Request-ID"], retry["X-Request-ID"]) == ("first-try", "second-try")

    def test_a_new_key_does_new_work(self, user):
        with time_machine.travel(NOON, tick=False):
            client = client_for(user)
            client.post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="k-1")
            second = client.post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="k-2")

        assert second.status_code == 409
        assert second.json()["code"] == "already_checked_in"

    def test_a_stored_conflict_is_replayed_too(self, user):
        late_evening = NOON + dt.timedelta(hours=11)
        with time_machine.travel(late_evening, tick=False):
            client = client_for(user)
            client.post("/api/v1/checkins")
            conflict = client.post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="k-9")
        # Two hours later it is a new day, where the same request would succeed.
        with time_machine.travel(late_evening + dt.timedelta(hours=2), tick=False):
            retry = client_for(user).post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="k-9")

        assert conflict.status_code == retry.status_code == 409
        assert retry["Idempotent-Replayed"] == "true"
        assert CheckIn.objects.filter(user=user).count() == 1

    def test_the_same_key_with_another_body_is_422(self, user):
        client = client_for(user)
        client.post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="k-1")

        response = client.post("/api/v1/checkins", {"unexpected": True}, HTTP_IDEMPOTENCY_KEY="k-1")

        assert response.status_code == 422
        assert response.json()["code"] == "idempotency_key_reused"

    def test_keys_are_per_user(self, user):
        other = UserFactory()
        with time_machine.travel(NOON, tick=False):
            mine = client_for(user).post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="shared")
            theirs = client_for(other).post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="shared")

        assert mine.status_code == theirs.status_code == 201
        assert "Idempotent-Replayed" not in theirs
        assert mine.json()["checkin"]["id"] != theirs.json()["checkin"]["id"]

    @pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "zażółć"])
    def test_a_malformed_key_is_400_and_nothing_is_done(self, user, key):
        response = client_for(user).post(
            "/api/v1/checkins", HTTP_IDEMPOTENCY_KEY=key.encode().decode("latin-1")
        )

        assert response.status_code == 400
        assert response.json()["code"] == "invalid_idempotency_key"
        assert CheckIn.objects.count() == 0

    def test_a_401_is_not_stored(self, user):
        tokens = token_pair(user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['refresh']}")
        assert client.post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="k").status_code == 401

        response = client_for(user).post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="k")

        assert response.status_code == 201
        assert IdempotencyKey.objects.filter(user=user).count() == 1

    def test_anonymous_posts_other_than_register_ignore_the_key(self, api_client, user):
        body = {"email": user.email, "password": "wrong password"}
        first = api_client.post("/api/v1/auth/login", body, HTTP_IDEMPOTENCY_KEY="r")
        second = api_client.post("/api/v1/auth/login", body, HTTP_IDEMPOTENCY_KEY="r")

        assert (first.status_code, second.status_code) == (401, 401)
        assert IdempotencyKey.objects.count() == 0  # registration: test_registration.py


@pytest.mark.django_db
class TestExpiry:
    def test_an_expired_key_is_new_again(self, user):
        with time_machine.travel(NOON, tick=False):
            first = client_for(user).post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="k")
        with time_machine.travel(NOON + dt.timedelta(hours=24, seconds=1), tick=False):
            later = client_for(user).post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="k")

        assert first.status_code == later.status_code == 201
        assert "Idempotent-Replayed" not in later
        assert CheckIn.objects.filter(user=user).count() == 2

    def test_prune_removes_only_expired_keys(self, user):
        with time_machine.travel(NOON, tick=False):
            client_for(user).post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="old")
        with time_machine.travel(NOON + dt.timedelta(hours=20), tick=False):
            client_for(user).post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="young")

        with time_machine.travel(NOON + dt.timedelta(hours=25), tick=False):
            deleted = idempotency_keys_prune(batch_size=1, now=timezone.now())

        assert deleted == 1
        assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["young"]

    def test_prune_command_reports_a_summary(self, user, capsys):
        with time_machine.travel(NOON, tick=False):
            client_for(user).post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="old")
        with time_machine.travel(NOON + dt.timedelta(days=2), tick=False):
            call_command("prune_idempotency_keys")

        assert "Pruned 1 expired idempotency key." in capsys.readouterr().out
        assert IdempotencyKey.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_concurrent_requests_with_one_key_do_the_work_once():
    user = UserFactory()
    access = token_pair(user)["access"]

    def post(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        return client.post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="same-key")

    responses = run_concurrently(10, post)

    assert [r.status_code for r in responses] == [201] * 10
    assert sum(r.get("Idempotent-Replayed") == "true" for r in responses) == 9
    assert len({r.content for r in responses}) == 1
    assert CheckIn.objects.filter(user=user).count() == 1
    assert LedgerEntry.objects.filter(user=user).count() == 1
