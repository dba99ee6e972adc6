"""Hostile input, second round: every case below once answered a 500 (or HTML,
or silently did the wrong thing). Each is now a 4xx problem that writes nothing."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.db.models import Model
from rest_framework.test import APIClient

from base.testing import assert_problem
from checkins.models import CheckIn
from engagement.models import LedgerEntry, UserState
from idempotency.models import IdempotencyKey
from rewards.models import InventoryItem, UserReward
from users.models import User
from users.tests.factories import TEST_PASSWORD, UserFactory, client_for
from users.tokens import token_pair

pytestmark = pytest.mark.django_db

TABLES: tuple[type[Model], ...] = (
    User,
    UserState,
    CheckIn,
    LedgerEntry,
    UserReward,
    InventoryItem,
    IdempotencyKey,
)


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in TABLES}


@pytest.fixture
def unchanged() -> Callable[[], None]:
    """Snapshot the row counts now; calling the fixture's value asserts they
    are still the same."""
    before = row_counts()

    def check() -> None:
        assert row_counts() == before

    return check


def cursor(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


# --- 1. Cursors the server never issued --------------------------------------------------
class TestForgedCursors:
    @pytest.mark.parametrize(
        ("path", "raw"),
        [
            ("/api/v1/ledger", "p=2026-12-01"),
            ("/api/v1/ledger", "p=x"),
            ("/api/v1/ledger", "p=1.5"),
            ("/api/v1/ledger", "p=1\x00"),
            ("/api/v1/checkins", "p=x"),
            ("/api/v1/checkins", "p=2026-13-45"),
            ("/api/v1/checkins", "p=2026-12-01\x00"),
            ("/api/v1/checkins", "p=12"),
        ],
    )
    def test_a_decodable_cursor_with_a_foreign_position_is_404(
        self, auth_client, unchanged, path, raw
    ):
        response = auth_client.get(path, {"cursor": cursor(raw)})

        assert_problem(response, 404, "not_found")
        unchanged()

    @pytest.mark.parametrize(
        ("path", "raw"),
        [("/api/v1/ledger", "p=12"), ("/api/v1/checkins", "p=2026-12-01")],
    )
    def test_a_well_formed_position_is_still_honoured(self, auth_client, path, raw):
        response = auth_client.get(path, {"cursor": cursor(raw)})

        assert response.status_code == 200
        assert response.json()["results"] == []

    def test_an_out_of_range_id_position_is_no_500(self, auth_client):
        response = auth_client.get("/api/v1/ledger", {"cursor": cursor("p=" + "9" * 40)})

        assert response.status_code == 200


# --- 2. Deeply nested JSON ------------------------------------------------------------------
NESTED_ARRAYS = "[" * 1000 + "]" * 1000
NESTED_OBJECTS = '{"a":' * 1000 + "1" + "}" * 1000
# Far below the interpreter's recursion limit, but no request body has a use for it.
MODERATELY_NESTED = '{"display_name": ' + "[" * 100 + "]" * 100 + "}"


class TestNestedJson:
    @pytest.mark.parametrize("body", [NESTED_ARRAYS, NESTED_OBJECTS, MODERATELY_NESTED])
    @pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/v1/auth/register"])
    def test_anonymous_posts_are_400(self, api_client, unchanged, path, body):
        response = api_client.generic("POST", path, body, content_type="application/json")

        assert_problem(response, 400, "malformed_request")
        unchanged()

    @pytest.mark.parametrize("body", [NESTED_ARRAYS, NESTED_OBJECTS, MODERATELY_NESTED])
    def test_patch_me_is_400_and_changes_nothing(self, auth_client, user, unchanged, body):
        before = (user.display_name, user.timezone)

        response = auth_client.generic("PATCH", "/api/v1/me", body, content_type="application/json")

        assert_problem(response, 400, "malformed_request")
        user.refresh_from_db()
        assert (user.display_name, user.timezone) == before
        unchanged()

    def test_ordinary_nesting_still_parses(self, auth_client):
        response = auth_client.generic(
            "PATCH", "/api/v1/me", '{"display_name": "Ann"}', content_type="application/json"
        )

        assert response.status_code == 200


# --- 3. Refresh tokens of deleted or deactivated users -----------------------------------
class TestRefreshForAGoneUser:
    def refresh(self, token: str):
        return APIClient().post("/api/v1/auth/refresh", {"refresh": token}, format="json")

    def test_deleted_user_is_401(self, user):
        token = token_pair(user)["refresh"]
        user.delete()
        before = row_counts()

        response = self.refresh(token)

        assert_problem(response, 401, "account_unavailable")
        assert row_counts() == before

    def test_deactivated_user_is_401(self, user, unchanged):
        token = token_pair(user)["refresh"]
        User.objects.filter(pk=user.pk).update(is_active=False)

        response = self.refresh(token)

        assert_problem(response, 401, "account_unavailable")
        unchanged()

    def test_a_signed_token_naming_no_uuid_is_401(self, user, unchanged):
        from rest_framework_simplejwt.tokens import RefreshToken

        token = RefreshToken()
        token["user_id"] = "not-a-uuid"

        response = self.refresh(str(token))

        assert_problem(response, 401, "token_invalid")
        unchanged()

    def test_an_active_user_still_refreshes(self, user):
        response = self.refresh(token_pair(user)["refresh"])

        assert response.status_code == 200
        assert response.json()["access"]


# --- 4. Path ids that no slug can be -------------------------------------------------------
class TestPathIds:
    @pytest.mark.parametrize(
        "path",
        [
            "/api/v1/inventory/%00/buy",
            "/api/v1/inventory/%00/use",
            "/api/v1/rewards/%00/claim",
            "/api/v1/rewards/a%00b/claim",
            "/api/v1/inventory/%C3%BC/buy",
            "/api/v1/rewards/" + "a" * 65 + "/claim",
        ],
    )
    def test_is_404_before_the_database(
        self, auth_client, unchanged, django_assert_num_queries, path
    ):
        with django_assert_num_queries(0):
            response = auth_client.post(path)

        assert_problem(response, 404, "not_found")
        unchanged()

    def test_a_slug_shaped_unknown_id_reaches_the_service(self, auth_client):
        response = auth_client.post("/api/v1/rewards/no-such-reward_1/claim")

        assert_problem(response, 404, "reward_not_found")


# --- 5. POST checkins is strict about its body ---------------------------------------------
CHECKINS = "/api/v1/checkins"


class TestCheckinBody:
    @pytest.mark.parametrize(
        ("body", "content_type", "status", "code"),
        [
            ("{", "application/json", 400, "malformed_request"),
            ('{"date": "2030-01-01", "streak": 999}', "application/json", 400, "validation_error"),
            ("null", "application/json", 400, "validation_error"),
            ("[]", "application/json", 400, "validation_error"),
            ('"x"', "application/json", 400, "validation_error"),
            ("<checkin/>", "application/xml", 415, "unsupported_media_type"),
            ("{}", "text/plain", 415, "unsupported_media_type"),
            ("date=2030-01-01", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ],
    )
    def test_anything_but_nothing_or_an_empty_object_is_refused(
        self, auth_client, unchanged, body, content_type, status, code
    ):
        response = auth_client.generic("POST", CHECKINS, body, content_type=content_type)

        assert_problem(response, status, code)
        unchanged()

    def test_unknown_fields_are_named(self, auth_client):
        response = auth_client.post(CHECKINS, {"date": "2030-01-01", "streak": 999}, format="json")

        body = assert_problem(response, 400, "validation_error")
        assert set(body["errors"]) == {"date", "streak"}

    @pytest.mark.parametrize(
        "send",
        [
            lambda client: client.post(CHECKINS),
            lambda client: client.generic("POST", CHECKINS, "{}", content_type="application/json"),
        ],
        ids=["no-body", "empty-object"],
    )
    def test_no_body_or_an_empty_object_checks_in(self, auth_client, send):
        response = send(auth_client)

        assert response.status_code == 201
        assert CheckIn.objects.count() == 1


# --- 6. Chunked bodies (the WSGI side; tests/test_live_chunked.py runs the servers) ---------
def chunked(client: APIClient, method: str, path: str, body: bytes, *, terminated: bool = True):
    """What granian and gunicorn hand Django for ``Transfer-Encoding: chunked``:
    no CONTENT_LENGTH, the decoded body on ``wsgi.input``, ``wsgi.input_terminated``."""
    wsgi: dict[str, Any] = {"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": terminated}
    return client.generic(
        method,
        path,
        content_type="application/json",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
        **wsgi,
    )


class TestChunkedBodies:
    def test_a_chunked_patch_is_applied(self, auth_client, user):
        response = chunked(auth_client, "PATCH", "/api/v1/me", b'{"display_name": "Chunky"}')

        assert response.status_code == 200
        user.refresh_from_db()
        assert user.display_name == "Chunky"

    def test_a_chunked_body_over_the_limit_is_413(self, auth_client, user, unchanged):
        body = b'{"display_name": "' + b"x" * (settings.MAX_REQUEST_BODY_BYTES + 1) + b'"}'
        before = user.display_name

        response = chunked(auth_client, "PATCH", "/api/v1/me", body)

        assert_problem(response, 413, "payload_too_large")
        user.refresh_from_db()
        assert user.display_name == before
        unchanged()

    def test_a_chunked_body_with_unknown_fields_is_400(self, auth_client, unchanged):
        response = chunked(auth_client, "POST", CHECKINS, b'{"streak": 999}')

        assert_problem(response, 400, "validation_error")
        unchanged()

    def test_a_server_that_cannot_end_the_stream_gets_411(self, auth_client, unchanged):
        response = chunked(auth_client, "POST", CHECKINS, b"{}", terminated=False)

        assert_problem(response, 411, "length_required")
        unchanged()


# --- 7. Unknown paths and CSRF never answer HTML ---------------------------------------------
@pytest.fixture
def csrf_client() -> APIClient:
    """A client that enforces CSRF the way a browser-less attacker meets it."""
    return APIClient(enforce_csrf_checks=True)


class TestUnknownPaths:
    @pytest.mark.parametrize(
        "path", ["/nothing-here", "/api/v1/checkins/", "/api/v1/me/", "/api/v1/nothing-here"]
    )
    @pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "GET"])
    def test_any_method_is_a_404_problem(self, csrf_client, unchanged, method, path):
        response = csrf_client.generic(method, path, "{}", content_type="application/json")

        assert_problem(response, 404, "not_found")
        unchanged()

    def test_with_credentials_too(self, user, unchanged):
        client = client_for(user)
        client.handler.enforce_csrf_checks = True

        response = client.post("/api/v1/checkins/")

        assert_problem(response, 404, "not_found")
        unchanged()

    def test_a_csrf_failure_is_a_403_problem(self, csrf_client):
        UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
        before = row_counts()

        response = csrf_client.post(
            "/admin/login/", {"username": "staff@example.com", "password": TEST_PASSWORD}
        )

        assert_problem(response, 403, "csrf_failed")
        assert row_counts() == before
