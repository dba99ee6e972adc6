"""The token lifecycle: rotation on refresh, reuse, sign-out of one session and
of every session, and what each leaves working."""

import datetime as dt

import jwt
import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from base.testing import assert_problem, bearer_client, run_concurrently
from engagement.models import UserState
from users import services
from users.models import User
from users.tests.factories import UserFactory
from users.tokens import token_pair

pytestmark = pytest.mark.django_db


def refresh(token: str):
    return APIClient().post("/api/v1/auth/refresh", {"refresh": token}, format="json")


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def version_of(user: User) -> int:
    return User.objects.values_list("token_version", flat=True).get(pk=user.pk)


class TestIssue:
    def test_both_tokens_carry_the_users_id_and_token_version(self, user):
        User.objects.filter(pk=user.pk).update(token_version=4)
        user.refresh_from_db()

        pair = token_pair(user)

        for token in pair.values():
            assert claims(token)["user_id"] == str(user.pk)
            assert claims(token)["token_version"] == 4

    def test_the_refresh_token_is_recorded_as_outstanding(self, user):
        pair = token_pair(user)

        recorded = OutstandingToken.objects.get()
        assert (recorded.user_id, recorded.jti, recorded.token) == (
            user.pk,
            claims(pair["refresh"])["jti"],
            pair["refresh"],
        )
        assert not BlacklistedToken.objects.exists()


class TestRotation:
    def test_refresh_answers_a_new_pair_and_revokes_the_old_refresh_token(self, user):
        old = token_pair(user)

        response = refresh(old["refresh"])

        assert response.status_code == 200
        new = response.json()
        assert set(new) == {"access", "refresh"}
        assert new["refresh"] != old["refresh"]
        assert claims(new["refresh"])["token_version"] == claims(new["access"])["token_version"]
        assert bearer_client(new["access"]).get("/api/v1/me").status_code == 200
        blacklisted = BlacklistedToken.objects.get()
        assert blacklisted.token.jti == claims(old["refresh"])["jti"]
        assert OutstandingToken.objects.count() == 2

    def test_the_new_refresh_token_refreshes_again(self, user):
        first = refresh(token_pair(user)["refresh"]).json()

        second = refresh(first["refresh"])

        assert second.status_code == 200
        assert BlacklistedToken.objects.count() == 2

    def test_a_refresh_token_is_good_for_one_refresh_only(self, user):
        old = token_pair(user)["refresh"]
        refresh(old)

        assert_problem(refresh(old), 401, "token_revoked")

    def test_reuse_revokes_every_token_of_the_account(self, user):
        """A rotated token presented again means two parties hold it: the pair
        the first refresh handed out dies too (refresh token reuse detection)."""
        stolen = token_pair(user)["refresh"]
        rotated = refresh(stolen).json()

        assert_problem(refresh(stolen), 401, "token_revoked")

        assert version_of(user) == 1
        assert_problem(refresh(rotated["refresh"]), 401, "token_revoked")
        assert_problem(bearer_client(rotated["access"]).get("/api/v1/me"), 401, "token_revoked")

    def test_reuse_after_the_account_was_revoked_changes_nothing_more(self, user):
        old = token_pair(user)["refresh"]
        refresh(old)
        services.user_logout_all(user_id=user.pk)

        assert_problem(refresh(old), 401, "token_revoked")

        assert version_of(user) == 1

    def test_refresh_tokens_issued_before_the_blacklist_are_recorded_and_rotated(self, user):
        old = token_pair(user)["refresh"]
        OutstandingToken.objects.all().delete()

        assert refresh(old).status_code == 200
        assert_problem(refresh(old), 401, "token_revoked")

    def test_an_expired_refresh_token_is_not_valid(self, user):
        with time_machine.travel(dt.datetime.now(dt.UTC) - dt.timedelta(days=8), tick=False):
            old = token_pair(user)["refresh"]

        assert_problem(refresh(old), 401, "token_invalid")
        assert not BlacklistedToken.objects.exists()

    def test_an_access_token_cannot_refresh(self, user):
        assert_problem(refresh(token_pair(user)["access"]), 401, "token_invalid")

    def test_a_token_without_a_version_counts_as_version_0(self, user):
        """Tokens issued before versions existed keep working until the account's
        first revocation."""
        from rest_framework_simplejwt.tokens import RefreshToken

        legacy = RefreshToken()
        legacy["user_id"] = str(user.pk)

        assert refresh(str(legacy)).status_code == 200

        services.user_logout_all(user_id=user.pk)
        fresh = RefreshToken()
        fresh["user_id"] = str(user.pk)
        assert_problem(refresh(str(fresh)), 401, "token_revoked")

    @pytest.mark.parametrize("version", ["1", -1, 1.5, None, True])
    def test_a_signed_token_with_a_bad_version_is_not_valid(self, user, version):
        from rest_framework_simplejwt.tokens import RefreshToken

        token = RefreshToken()
        token["user_id"] = str(user.pk)
        token["token_version"] = version

        assert_problem(refresh(str(token)), 401, "token_invalid")


class TestGoneAccounts:
    def test_a_deactivated_account_cannot_refresh(self, user):
        pair = token_pair(user)
        services.user_deactivate(user_id=user.pk)

        assert_problem(refresh(pair["refresh"]), 401, "account_unavailable")
        assert not BlacklistedToken.objects.exists()

    def test_deactivation_revokes_the_tokens_for_good(self, user):
        """Activated again, the account's earlier tokens stay dead."""
        pair = token_pair(user)
        services.user_deactivate(user_id=user.pk)
        User.objects.filter(pk=user.pk).update(is_active=True)

        assert_problem(refresh(pair["refresh"]), 401, "token_revoked")
        assert_problem(bearer_client(pair["access"]).post("/api/v1/checkins"), 401, "token_revoked")

    def test_a_deleted_account_cannot_refresh_log_out_or_check_in(self, user):
        pair = token_pair(user)
        User.objects.filter(pk=user.pk).delete()

        assert_problem(refresh(pair["refresh"]), 401, "account_unavailable")
        client = bearer_client(pair["access"])
        assert_problem(client.post("/api/v1/checkins"), 401, "account_unavailable")
        assert_problem(client.get("/api/v1/me"), 401, "account_unavailable")
        assert client.post("/api/v1/auth/logout-all").status_code == 204  # nothing left to revoke


class TestLogout:
    def test_logout_revokes_that_refresh_token_only(self, user):
        phone, laptop = token_pair(user), token_pair(user)

        response = bearer_client(phone["access"]).post(
            "/api/v1/auth/logout", {"refresh": phone["refresh"]}, format="json"
        )

        assert response.status_code == 204
        assert response.content == b""
        assert version_of(user) == 0  # the other sessions go on
        assert refresh(laptop["refresh"]).status_code == 200
        assert bearer_client(laptop["access"]).get("/api/v1/me").status_code == 200

    def test_a_signed_out_refresh_token_presented_again_is_reuse(self, user):
        """Whoever still holds it kept a copy: every token of the account dies."""
        phone, laptop = token_pair(user), token_pair(user)
        bearer_client(phone["access"]).post(
            "/api/v1/auth/logout", {"refresh": phone["refresh"]}, format="json"
        )

        assert_problem(refresh(phone["refresh"]), 401, "token_revoked")
        assert version_of(user) == 1
        assert_problem(refresh(laptop["refresh"]), 401, "token_revoked")

    def test_logging_out_twice_is_204(self, user):
        pair = token_pair(user)
        client = bearer_client(pair["access"])

        client.post("/api/v1/auth/logout", {"refresh": pair["refresh"]}, format="json")
        again = client.post("/api/v1/auth/logout", {"refresh": pair["refresh"]}, format="json")

        assert again.status_code == 204
        assert BlacklistedToken.objects.count() == 1

    def test_another_accounts_refresh_token_is_400_and_stays_valid(self, user):
        other = token_pair(UserFactory())["refresh"]

        response = bearer_client(token_pair(user)["access"]).post(
            "/api/v1/auth/logout", {"refresh": other}, format="json"
        )

        assert_problem(response, 400, "validation_error")
        assert "refresh" in response.json()["errors"]
        assert refresh(other).status_code == 200

    @pytest.mark.parametrize("body", [{"refresh": "garbage"}, {}, {"refresh": 5}, {"x": 1}])
    def test_a_bad_body_is_400_and_revokes_nothing(self, user, body):
        pair = token_pair(user)
        if body.get("refresh") == "garbage":
            body = {"refresh": pair["access"]}  # a token, but not a refresh token

        response = bearer_client(pair["access"]).post("/api/v1/auth/logout", body, format="json")

        assert_problem(response, 400, "validation_error")
        assert not BlacklistedToken.objects.exists()

    def test_logout_needs_an_access_token(self, user):
        response = APIClient().post(
            "/api/v1/auth/logout", {"refresh": token_pair(user)["refresh"]}, format="json"
        )

        assert_problem(response, 401, "not_authenticated")
        assert not BlacklistedToken.objects.exists()


class TestLogoutAll:
    def test_every_access_and_refresh_token_is_revoked_at_once(self, user):
        phone, laptop = token_pair(user), token_pair(user)

        response = bearer_client(phone["access"]).post("/api/v1/auth/logout-all")

        assert response.status_code == 204
        assert version_of(user) == 1
        for pair in (phone, laptop):
            assert_problem(refresh(pair["refresh"]), 401, "token_revoked")
            client = bearer_client(pair["access"])
            assert_problem(client.get("/api/v1/me"), 401, "token_revoked")
            assert_problem(client.patch("/api/v1/me", {"display_name": "X"}), 401, "token_revoked")
            assert_problem(client.post("/api/v1/checkins"), 401, "token_revoked")
        assert not UserState.objects.filter(user=user, total_checkins__gt=0).exists()

    def test_tokens_issued_afterwards_work(self, user):
        bearer_client(token_pair(user)["access"]).post("/api/v1/auth/logout-all")
        user.refresh_from_db()

        fresh = token_pair(user)

        assert bearer_client(fresh["access"]).post("/api/v1/checkins").status_code == 201
        assert refresh(fresh["refresh"]).status_code == 200

    def test_a_body_other_than_nothing_or_empty_is_400_and_revokes_nothing(self, user):
        client = bearer_client(token_pair(user)["access"])

        assert_problem(
            client.post("/api/v1/auth/logout-all", {"all": True}), 400, "validation_error"
        )
        assert client.post("/api/v1/auth/logout-all", {}, format="json").status_code == 204
        assert version_of(user) == 1

    def test_needs_an_access_token(self, user):
        assert_problem(APIClient().post("/api/v1/auth/logout-all"), 401, "not_authenticated")
        assert version_of(user) == 0


class TestStatements:
    """Refresh writes rows (the new token recorded, the old one blacklisted);
    the hot paths read the version with the row they read anyway."""

    @pytest.fixture(autouse=True)
    def _throttle_counters_outside_sql(self, settings):
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

    def count(self, client, path: str, body: dict, status: int) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            response = client.post(path, body, format="json")
        assert response.status_code == status, response.content
        return [q["sql"] for q in captured.captured_queries]

    def test_register_login_and_refresh_stay_within_their_budgets(self, api_client):
        body = {"email": "a@example.com", "password": "correct horse battery staple"}

        register = self.count(api_client, "/api/v1/auth/register", body, 201)
        login = self.count(api_client, "/api/v1/auth/login", body, 200)
        pair = api_client.post("/api/v1/auth/login", body, format="json").json()
        rotate = self.count(api_client, "/api/v1/auth/refresh", {"refresh": pair["refresh"]}, 200)

        # Before: 7 (in the test's transaction: savepoints, user, state) + 1
        # outstanding token.
        assert len(register) <= 8, "\n".join(register)
        # The user by e-mail, last_login, the outstanding token.
        assert len(login) <= 3, "\n".join(login)
        # The user; in a transaction: the old token's record, its blacklisting
        # (in a savepoint: 3), the new token's record.
        assert len(rotate) <= 8, "\n".join(rotate)

    def test_logout_all_is_one_update(self, user):
        client = bearer_client(token_pair(user)["access"])

        with CaptureQueriesContext(connection) as captured:
            assert client.post("/api/v1/auth/logout-all").status_code == 204

        assert len(captured.captured_queries) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_one_refresh_token_presented_at_once_rotates_once():
    """Of many requests presenting one refresh token together, exactly one gets
    a pair; the others are reuse (401), which revokes that pair too."""
    user = UserFactory()
    token = token_pair(user)["refresh"]

    responses = run_concurrently(6, lambda i: refresh(token))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [401] * 5, statuses
    assert {r.json()["code"] for r in responses if r.status_code == 401} == {"token_revoked"}
    assert BlacklistedToken.objects.count() == 1
    assert version_of(user) == 1  # bumped once, by the first reuse
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert_problem(refresh(winner["refresh"]), 401, "token_revoked")


def test_simplejwt_settings_say_rotation():
    assert settings.SIMPLE_JWT["ROTATE_REFRESH_TOKENS"] is True
    assert settings.SIMPLE_JWT["BLACKLIST_AFTER_ROTATION"] is True
    assert "rest_framework_simplejwt.token_blacklist" in settings.INSTALLED_APPS
