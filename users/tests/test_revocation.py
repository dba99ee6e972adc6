"""Revoking every token of an account: the version in the token, checked
where the user's row is read anyway, and carried there per request."""

import datetime as dt
import uuid

import jwt
import pytest
import time_machine
from django.conf import settings
from django.core.signals import request_started
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from base.testing import assert_problem, bearer_client
from checkins.models import CheckIn
from engagement.models import LedgerEntry
from engagement.services import state_lock
from idempotency.models import IdempotencyKey
from users import services
from users.authentication import (
    _forget_caller_token_version,
    caller_token_version,
    check_token_version,
)
from users.errors import TokenRevoked
from users.models import User
from users.tests.factories import TEST_PASSWORD
from users.tokens import token_pair

pytestmark = pytest.mark.django_db


@pytest.fixture
def stale(user) -> APIClient:
    """A client whose access token was revoked (sign-out everywhere)."""
    client = bearer_client(token_pair(user)["access"])
    services.user_logout_all(user_id=user.pk)
    return client


class TestWhereTheRowIsRead:
    def test_a_check_in_is_refused_and_writes_nothing(self, user, stale):
        assert_problem(stale.post("/api/v1/checkins"), 401, "token_revoked")

        assert not CheckIn.objects.exists()
        assert not LedgerEntry.objects.exists()

    def test_a_keyed_check_in_is_refused_and_its_key_not_stored(self, user, stale):
        response = stale.post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="k1")

        assert_problem(response, 401, "token_revoked")
        assert not IdempotencyKey.objects.exists()
        assert not CheckIn.objects.exists()

    def test_me_is_refused(self, user, stale):
        bearer_client(token_pair(User.objects.get(pk=user.pk))["access"]).get(
            "/api/v1/me"
        )  # state row

        assert_problem(stale.get("/api/v1/me"), 401, "token_revoked")

    def test_me_is_refused_before_the_state_row_exists(self, user, stale):
        assert_problem(stale.get("/api/v1/me"), 401, "token_revoked")

    def test_a_profile_change_is_refused_and_changes_nothing(self, user, stale):
        response = stale.patch("/api/v1/me", {"display_name": "Mallory"})

        assert_problem(response, 401, "token_revoked")
        assert User.objects.get(pk=user.pk).display_name == user.display_name

    def test_a_shop_purchase_is_refused(self, user, stale):
        from rewards.tests.factories import ToolFactory

        ToolFactory(id="coffee", price=0)

        assert_problem(stale.post("/api/v1/inventory/coffee/buy"), 401, "token_revoked")

    def test_a_current_token_passes_every_check(self, user):
        services.user_logout_all(user_id=user.pk)
        client = bearer_client(token_pair(User.objects.get(pk=user.pk))["access"])

        assert client.get("/api/v1/me").status_code == 200
        assert client.patch("/api/v1/me", {"display_name": "Ann"}).status_code == 200
        assert client.post("/api/v1/checkins").status_code == 201

    def test_reads_without_the_users_row_answer_until_the_token_expires(self, user, stale):
        """Documented: history reads do not read the user's row; an access
        token is good for them until it expires (JWT_ACCESS_MINUTES)."""
        assert stale.get("/api/v1/checkins").status_code == 200
        later = dt.datetime.now(dt.UTC) + settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
        with time_machine.travel(later + dt.timedelta(seconds=1)):
            assert_problem(stale.get("/api/v1/checkins"), 401, "token_not_valid")

    def test_the_check_costs_no_statement(self, user, settings):
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
        client = bearer_client(token_pair(user)["access"])
        client.get("/api/v1/me")

        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/me").status_code == 200

        assert len(captured.captured_queries) == 1


class TestTheVersionClaim:
    @pytest.mark.parametrize("version", ["0", -1, 0.5, None, [0]])
    def test_an_access_token_with_a_bad_version_is_not_valid(self, user, version):
        now = dt.datetime.now(dt.UTC)
        token = jwt.encode(
            {
                "token_type": "access",
                "jti": uuid.uuid4().hex,
                "iat": int(now.timestamp()),
                "exp": int((now + dt.timedelta(minutes=5)).timestamp()),
                "user_id": str(user.pk),
                "token_version": version,
            },
            settings.SECRET_KEY,
            algorithm="HS256",
        )

        assert_problem(bearer_client(token).get("/api/v1/me"), 401, "token_not_valid")


class TestTheRequestScope:
    def test_authentication_sets_the_version_and_the_request_end_clears_it(self, user, monkeypatch):
        seen: list[int | None] = []

        def check(current: int) -> None:
            seen.append(caller_token_version.get())
            check_token_version(current)

        monkeypatch.setattr(services, "check_token_version", check)
        User.objects.filter(pk=user.pk).update(token_version=3)

        response = bearer_client(token_pair(User.objects.get(pk=user.pk))["access"]).get(
            "/api/v1/me"
        )

        assert response.status_code == 200
        assert seen == [3]
        assert caller_token_version.get() is None

    def test_a_request_starts_without_a_version(self):
        caller_token_version.set(7)

        assert _forget_caller_token_version in request_started._live_receivers(None)[0]
        _forget_caller_token_version()

        assert caller_token_version.get() is None

    def test_work_after_a_request_in_the_same_thread_is_not_checked(self, user, stale):
        """Staff actions and commands carry no bearer token: a previous
        request's version must not follow them."""
        assert_problem(stale.get("/api/v1/me"), 401, "token_revoked")

        with transaction.atomic():
            locked = state_lock(user_id=user.pk)

        assert locked.token_version == 1

    def test_no_version_no_check(self):
        caller_token_version.set(None)

        check_token_version(5)  # nothing raised

    def test_another_version_is_revoked(self):
        token = caller_token_version.set(2)
        try:
            with pytest.raises(TokenRevoked):
                check_token_version(3)
            check_token_version(2)
        finally:
            caller_token_version.reset(token)


class TestLastLogin:
    def test_a_login_records_last_login_once_and_requests_do_not(self, user):
        moment = dt.datetime(2026, 5, 4, 3, 2, 1, tzinfo=dt.UTC)
        with time_machine.travel(moment, tick=False):
            response = APIClient().post(
                "/api/v1/auth/login", {"email": user.email, "password": TEST_PASSWORD}
            )
        assert response.status_code == 200
        assert User.objects.get(pk=user.pk).last_login == moment

        client = bearer_client(response.json()["access"])
        with time_machine.travel(moment + dt.timedelta(minutes=5), tick=False):
            assert client.get("/api/v1/me").status_code == 200
            assert client.post("/api/v1/checkins").status_code == 201

        assert User.objects.get(pk=user.pk).last_login == moment

    def test_a_failed_login_records_nothing(self, user):
        APIClient().post("/api/v1/auth/login", {"email": user.email, "password": "wrong one"})

        assert User.objects.get(pk=user.pk).last_login is None


class TestDeactivation:
    def test_deactivation_raises_the_version_and_stops_every_token(self, user):
        pair = token_pair(user)

        services.user_deactivate(user_id=user.pk)

        fresh = User.objects.get(pk=user.pk)
        assert (fresh.is_active, fresh.token_version) == (False, 1)
        client = bearer_client(pair["access"])
        assert_problem(client.get("/api/v1/me"), 401, "account_unavailable")
        assert_problem(client.post("/api/v1/checkins"), 401, "account_unavailable")
        body = {"email": user.email, "password": TEST_PASSWORD}
        assert_problem(APIClient().post("/api/v1/auth/login", body), 401, "invalid_credentials")
