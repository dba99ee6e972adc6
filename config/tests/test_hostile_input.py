"""Garbage in never gets a 500 and never writes."""

import datetime as dt

import jwt
import pytest
import time_machine
from django.conf import settings
from rest_framework.test import APIClient

from checkins.models import CheckIn
from engagement.models import LedgerEntry
from users.models import User
from users.tests.factories import TEST_PASSWORD, UserFactory, client_for
from users.tokens import token_pair

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"


def nothing_written() -> bool:
    return not (User.objects.exists() or CheckIn.objects.exists() or LedgerEntry.objects.exists())


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("", "application/json", 400),
        ("{", "application/json", 400),
        ("null", "application/json", 400),
        ('"a string"', "application/json", 400),
        ("[]", "application/json", 400),
        ('{"email": NaN}', "application/json", 400),
        ('{"email": "a@example.com", "password": ' + "9" * 5000 + "}", "application/json", 400),
        ('{"email": "a@example.com", "password": 123456789012}', "application/json", 400),
        ('{"email": ["a@example.com"], "password": "x"}', "application/json", 400),
        ('{"email": {"$ne": null}, "password": "x"}', "application/json", 400),
        ('{"email": true, "password": false}', "application/json", 400),
        ("\xff\xfe garbage", "application/json", 400),
        ("email=a@example.com&password=x", "application/x-www-form-urlencoded", 415),
        ("<xml/>", "application/xml", 415),
        ('{"email": "a@example.com"}', "text/plain", 415),
    ],
)
def test_hostile_bodies_are_4xx_problems_and_write_nothing(api_client, body, content_type, status):
    response = api_client.generic("POST", REGISTER, body, content_type=content_type)

    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert nothing_written()


def test_a_200kb_body_is_413(api_client):
    body = '{"email": "a@example.com", "password": "' + "x" * 200_000 + '"}'

    response = api_client.generic("POST", REGISTER, body, content_type="application/json")

    assert response.status_code == 413
    assert nothing_written()


def test_a_lying_content_length_is_a_400(api_client):
    response = api_client.generic(
        "POST", REGISTER, "{}", content_type="application/json", CONTENT_LENGTH="banana"
    )

    assert response.status_code == 400


def test_huge_numbers_in_query_strings_are_handled(auth_client):
    response = auth_client.get("/api/v1/checkins", {"page_size": "9" * 400})

    assert response.status_code == 200  # capped at the maximum


class TestTokens:
    def forged(self, user, **overrides) -> str:
        now = dt.datetime.now(dt.UTC)
        claims = {
            "token_type": "access",
            "user_id": str(user.pk),
            "jti": "x",
            "iat": int(now.timestamp()),
            "exp": int((now + dt.timedelta(minutes=5)).timestamp()),
            **overrides.pop("claims", {}),
        }
        return jwt.encode(claims, overrides.get("key", "not-the-secret-key-at-all-0123456789"))

    def get_me(self, token: str):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client.get("/api/v1/me")

    def test_expired_access_token_is_401(self, user):
        token = token_pair(user)["access"]
        later = dt.datetime.now(dt.UTC) + settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]

        with time_machine.travel(later + dt.timedelta(seconds=1)):
            response = self.get_me(token)

        assert response.status_code == 401
        assert response.json()["code"] == "token_not_valid"

    def test_token_signed_with_another_key_is_401(self, user):
        assert self.get_me(self.forged(user)).status_code == 401

    def test_alg_none_token_is_401(self, user):
        header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
        payload = jwt.utils.base64url_encode(
            f'{{"token_type":"access","user_id":"{user.pk}","jti":"x","exp":9999999999}}'.encode()
        ).decode()

        assert self.get_me(f"{header}.{payload}.").status_code == 401

    def test_token_with_the_right_key_but_unknown_user_is_401(self, user):
        token = self.forged(user, key=settings.SECRET_KEY, claims={"user_id": "not-a-uuid"})

        assert self.get_me(token).status_code == 401

    def test_refresh_token_used_as_access_is_401(self, user):
        assert self.get_me(token_pair(user)["refresh"]).status_code == 401


class TestIsolation:
    def test_no_endpoint_shows_another_users_data(self, user):
        other = UserFactory()
        client_for(other).post("/api/v1/checkins")
        client = client_for(user)

        assert client.get("/api/v1/checkins").json()["results"] == []
        assert client.get("/api/v1/ledger").json()["results"] == []
        assert client.get("/api/v1/me").json()["user"]["id"] == str(user.pk)


def test_login_is_throttled_per_ip_and_email(api_client):
    UserFactory(email="ann@example.com")
    for _ in range(10):
        api_client.post("/api/v1/auth/login", {"email": "ann@example.com", "password": "wrong"})

    blocked = api_client.post(
        "/api/v1/auth/login", {"email": "ann@example.com", "password": TEST_PASSWORD}
    )
    other_account = api_client.post(
        "/api/v1/auth/login", {"email": "bob@example.com", "password": "wrong"}
    )

    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) >= 1
    assert other_account.status_code == 401
