"""Every failure, the framework's own included, is a problem+json with a code."""

import psycopg
import pytest
from django.db.utils import IntegrityError, InterfaceError, InternalError, OperationalError
from django.test import Client

from base.testing import assert_problem
from checkins.models import CheckIn
from users.models import User

pytestmark = pytest.mark.django_db


def test_unknown_api_path_is_a_404_problem(api_client):
    assert_problem(api_client.get("/api/v1/nothing-here"), 404, "not_found")


def test_unknown_path_outside_the_api_is_a_404_problem(api_client):
    assert_problem(api_client.get("/nothing-here"), 404, "not_found")


def test_wrong_method_is_a_405_problem(auth_client):
    assert_problem(auth_client.put("/api/v1/me"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    "header", ["", "Bearer", "Bearer garbage", "Token abc", "Bearer a.b.c", "Basic Zm9vOmJhcg=="]
)
def test_missing_or_garbled_tokens_are_401_problems(api_client, header):
    if header:
        api_client.credentials(HTTP_AUTHORIZATION=header)

    response = api_client.get("/api/v1/me")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] in {
        "not_authenticated",
        "token_not_valid",
        "bad_authorization_header",
    }


def test_malformed_json_is_a_400_problem_and_writes_nothing(api_client):
    response = api_client.post(
        "/api/v1/auth/register", data='{"email": "a@example.com",', content_type="application/json"
    )

    assert_problem(response, 400, "malformed_request")
    assert User.objects.count() == 0


def test_wrong_content_type_is_a_415_problem(api_client):
    response = api_client.post(
        "/api/v1/auth/register", data="email=a@example.com", content_type="text/plain"
    )

    assert_problem(response, 415, "unsupported_media_type")


def test_oversized_body_is_a_413_problem_and_writes_nothing(auth_client):
    response = auth_client.post(
        "/api/v1/checkins", data="x" * (100 * 1024 + 1), content_type="application/json"
    )

    assert_problem(response, 413, "payload_too_large")
    assert CheckIn.objects.count() == 0


def test_non_object_json_is_a_validation_problem(api_client):
    response = api_client.post("/api/v1/auth/register", data=[1, 2], format="json")

    body = assert_problem(response, 400, "validation_error")
    assert "non_field_errors" in body["errors"]


@pytest.mark.server_error_expected
def test_unhandled_exception_is_a_generic_500_problem_without_internals(user, monkeypatch):
    from checkins import api

    def explode(**kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(api, "checkin_create", explode)
    client = Client(raise_request_exception=False)
    from users.tokens import token_pair

    # No body: Django's Client would otherwise send an empty multipart form,
    # which POST checkins refuses (415) before the failure under test.
    response = client.post(
        "/api/v1/checkins",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token_pair(user)['access']}",
    )

    body = assert_problem(response, 500, "internal_error")
    assert "secret" not in response.content.decode()
    assert "Traceback" not in body["detail"]


def test_request_id_is_echoed_when_sane(api_client):
    response = api_client.get("/healthz", HTTP_X_REQUEST_ID="abc-123.retry_2")

    assert response["X-Request-ID"] == "abc-123.retry_2"


@pytest.mark.parametrize("incoming", ["", "has space", "x" * 200, "<script>"])
def test_request_id_is_replaced_when_not_sane(api_client, incoming):
    response = api_client.get("/healthz", HTTP_X_REQUEST_ID=incoming)

    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32


def test_every_response_has_a_request_id(api_client, auth_client):
    for response in (
        api_client.get("/"),
        api_client.get("/api/v1/me"),
        auth_client.get("/api/v1/me"),
        api_client.get("/api/schema/"),
    ):
        assert response["X-Request-ID"]


def test_readyz_is_503_problem_when_the_database_is_unreachable(api_client, monkeypatch):
    from config import views

    class Unreachable:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(views, "connection", Unreachable())

    assert_problem(api_client.get("/readyz"), 503, "database_unavailable")


def _from(error: Exception, cause: Exception) -> Exception:
    """``error`` as Django's wrapper raises it: the driver's error as its cause."""
    error.__cause__ = cause
    return error


# An escaped database error, in a view or in a middleware: (error, status, code).
ESCAPED = [
    (OperationalError("server closed the connection unexpectedly"), 503, "database_unavailable"),
    (InterfaceError("connection already closed"), 503, "database_unavailable"),
    # psycopg's own protocol check (no SQLSTATE): PgBouncer passed on the FATAL
    # of a terminated server connection ahead of BEGIN's result.
    (
        _from(
            InternalError("received 2 results from command 'BEGIN'"),
            psycopg.InternalError("received 2 results from command 'BEGIN'"),
        ),
        503,
        "database_unavailable",
    ),
    # An InternalError the server reported is a bug, not an outage.
    (
        _from(
            InternalError("current transaction is aborted"),
            psycopg.errors.InFailedSqlTransaction("current transaction is aborted"),
        ),
        500,
        "internal_error",
    ),
    (
        IntegrityError('duplicate key value violates unique constraint "x"'),
        409,
        "constraint_conflict",
    ),
]


def _escaping(error: Exception):
    def fail(**kwargs):
        raise error

    return fail


@pytest.mark.server_error_expected
@pytest.mark.parametrize(("error", "status", "code"), ESCAPED)
def test_an_escaped_database_error_in_a_view_is_a_problem(user, monkeypatch, error, status, code):
    from checkins import api
    from users.tokens import token_pair

    monkeypatch.setattr(api, "checkin_create", _escaping(error))
    client = Client(raise_request_exception=False)

    # No body: Django's Client would otherwise send an empty multipart form,
    # which POST checkins refuses (415) before the failure under test.
    response = client.post(
        "/api/v1/checkins",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token_pair(user)['access']}",
    )

    assert_problem(response, status, code)
    assert str(error) not in response.content.decode()
    if status == 503:
        assert response["Retry-After"] == "1"


@pytest.mark.server_error_expected
@pytest.mark.parametrize(("error", "status", "code"), ESCAPED)
def test_an_escaped_database_error_outside_a_view_is_a_problem_too(
    user, monkeypatch, error, status, code
):
    from idempotency import services
    from users.tokens import token_pair

    monkeypatch.setattr(services, "idempotency_key_claim", _escaping(error))
    client = Client(raise_request_exception=False)

    response = client.post(
        "/api/v1/checkins",
        HTTP_AUTHORIZATION=f"Bearer {token_pair(user)['access']}",
        HTTP_IDEMPOTENCY_KEY="k",
    )

    assert_problem(response, status, code)
