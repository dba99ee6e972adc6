import datetime as dt

import pytest
import time_machine
from rest_framework.test import APIClient

from engagement.models import UserState
from users.models import User
from users.tests.factories import TEST_PASSWORD, UserFactory, client_for

pytestmark = pytest.mark.django_db

STRONG_PASSWORD = "correct horse battery staple"


def register(client: APIClient, **body):
    return client.post("/api/v1/auth/register", body, format="json")


class TestRegister:
    def test_creates_user_and_state_and_returns_tokens(self, api_client):
        response = register(api_client, email="  Ann@Example.COM ", password=STRONG_PASSWORD)

        assert response.status_code == 201
        body = response.json()
        assert body["user"]["email"] == "ann@example.com"
        assert body["user"]["timezone"] == "UTC"
        assert body["access"]
        assert body["refresh"]
        user = User.objects.get()
        assert user.email == "ann@example.com"
        assert user.check_password(STRONG_PASSWORD)
        assert UserState.objects.filter(user=user).count() == 1

    def test_accepts_timezone_and_display_name(self, api_client):
        response = register(
            api_client,
            email="a@example.com",
            password=STRONG_PASSWORD,
            timezone="Europe/Warsaw",
            display_name="Ann",
        )

        assert response.status_code == 201
        assert response.json()["user"]["timezone"] == "Europe/Warsaw"
        assert response.json()["user"]["display_name"] == "Ann"

    def test_email_taken_regardless_of_case(self, api_client):
        UserFactory(email="ann@example.com")

        response = register(api_client, email="ANN@example.com", password=STRONG_PASSWORD)

        assert response.status_code == 409
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "email_taken"
        assert User.objects.count() == 1

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"email": "not-an-email", "password": STRONG_PASSWORD}, "email"),
            ({"email": "a@example.com", "password": "short"}, "password"),
            ({"email": "a@example.com", "password": "12345678901"}, "password"),
            ({"email": "a@example.com"}, "password"),
            ({"password": STRONG_PASSWORD}, "email"),
            (
                {"email": "a@example.com", "password": STRONG_PASSWORD, "timezone": "Mars/Base"},
                "timezone",
            ),
            ({"email": "a@example.com", "password": STRONG_PASSWORD, "is_staff": True}, "is_staff"),
        ],
    )
    def test_invalid_input_is_a_validation_problem_and_writes_nothing(
        self, api_client, body, field
    ):
        response = register(api_client, **body)

        assert response.status_code == 400
        problem = response.json()
        assert problem["code"] == "validation_error"
        assert field in problem["errors"]
        assert User.objects.count() == 0
        assert UserState.objects.count() == 0

    def test_is_throttled_per_ip(self, api_client, settings):
        for n in range(5):
            assert (
                register(
                    api_client, email=f"u{n}@example.com", password=STRONG_PASSWORD
                ).status_code
                == 201
            )

        response = register(api_client, email="u6@example.com", password=STRONG_PASSWORD)

        assert response.status_code == 429
        assert response.json()["code"] == "throttled"
        assert int(response["Retry-After"]) >= 1
        assert User.objects.count() == 5


class TestLogin:
    def test_returns_user_and_tokens(self, api_client):
        user = UserFactory(email="ann@example.com")

        response = api_client.post(
            "/api/v1/auth/login", {"email": "Ann@Example.com", "password": TEST_PASSWORD}
        )

        assert response.status_code == 200
        assert response.json()["user"]["id"] == str(user.pk)
        assert response.json()["access"]

    @pytest.mark.parametrize("email", ["ann@example.com", "nobody@example.com"])
    def test_wrong_credentials_are_401_without_saying_which(self, api_client, email):
        UserFactory(email="ann@example.com")

        response = api_client.post("/api/v1/auth/login", {"email": email, "password": "wrong-pw"})

        assert response.status_code == 401
        assert response.json()["code"] == "invalid_credentials"

    def test_inactive_user_cannot_log_in(self, api_client):
        UserFactory(email="ann@example.com", is_active=False)

        response = api_client.post(
            "/api/v1/auth/login", {"email": "ann@example.com", "password": TEST_PASSWORD}
        )

        assert response.status_code == 401


class TestRefresh:
    def test_refresh_token_gives_a_working_access_token(self, api_client):
        tokens = register(api_client, email="a@example.com", password=STRONG_PASSWORD).json()

        response = api_client.post("/api/v1/auth/refresh", {"refresh": tokens["refresh"]})

        assert response.status_code == 200
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
        assert api_client.get("/api/v1/me").status_code == 200

    @pytest.mark.parametrize("token", ["garbage", "a.b.c", ""])
    def test_bad_refresh_token_is_rejected(self, api_client, token):
        response = api_client.post("/api/v1/auth/refresh", {"refresh": token})

        assert response.status_code in (400, 401)
        assert response["Content-Type"] == "application/problem+json"

    def test_access_token_cannot_refresh(self, api_client):
        tokens = register(api_client, email="a@example.com", password=STRONG_PASSWORD).json()

        response = api_client.post("/api/v1/auth/refresh", {"refresh": tokens["access"]})

        assert response.status_code == 401
        assert response.json()["code"] == "token_invalid"


class TestMe:
    def test_requires_authentication(self, api_client):
        response = api_client.get("/api/v1/me")

        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert "Bearer" in response["WWW-Authenticate"]

    def test_refresh_token_is_not_an_access_token(self, api_client):
        tokens = register(api_client, email="a@example.com", password=STRONG_PASSWORD).json()
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['refresh']}")

        response = api_client.get("/api/v1/me")

        assert response.status_code == 401
        assert response.json()["code"] == "token_not_valid"

    def test_bootstraps_state_once_with_initial_values(self, auth_client, user):
        assert not UserState.objects.filter(user=user).exists()

        first = auth_client.get("/api/v1/me")
        second = auth_client.get("/api/v1/me")

        assert first.status_code == second.status_code == 200
        assert UserState.objects.filter(user=user).count() == 1
        assert first.json() == second.json()
        assert first.json()["user"]["email"] == user.email
        assert first.json()["state"] == {
            "level": 1,
            "energy": 50,
            "fatigue": 0,
            "loyalty": 0,
            "streak": 0,
            "longest_streak": 0,
            "total_checkins": 0,
            "streak_freezes": 0,
            "last_checkin_date": None,
            "lost_streak": 0,
            "streak_lost_on": None,
            "streak_status": "broken",
        }

    def test_patch_display_name(self, auth_client, user):
        response = auth_client.patch("/api/v1/me", {"display_name": "Ann"}, format="json")

        assert response.status_code == 200
        assert response.json()["user"]["display_name"] == "Ann"
        user.refresh_from_db()
        assert user.display_name == "Ann"

    def test_timezone_changes_once_per_24_hours(self, user):
        start = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)

        def patch_at(moment, zone):
            with time_machine.travel(moment, tick=False):
                return client_for(user).patch("/api/v1/me", {"timezone": zone})

        first = patch_at(start, "Europe/Warsaw")
        too_soon = patch_at(start + dt.timedelta(hours=23, minutes=59), "Asia/Tokyo")
        later = patch_at(start + dt.timedelta(hours=24), "Asia/Tokyo")

        assert first.status_code == 200
        assert first.json()["user"]["timezone"] == "Europe/Warsaw"
        assert too_soon.status_code == 409
        assert too_soon.json()["code"] == "timezone_change_too_soon"
        # When the client may try again: 24 hours after the first change.
        assert too_soon.json()["allowed_at"] == "2026-03-02T12:00:00Z"
        assert later.status_code == 200
        user.refresh_from_db()
        assert user.timezone == "Asia/Tokyo"

    def test_setting_the_same_timezone_is_not_a_change(self, auth_client, user):
        auth_client.patch("/api/v1/me", {"timezone": "UTC"}, format="json")

        response = auth_client.patch("/api/v1/me", {"timezone": "Asia/Tokyo"}, format="json")

        assert response.status_code == 200

    @pytest.mark.parametrize(
        "body",
        [
            {"timezone": "Not/AZone"},
            {"timezone": 5},
            {"display_name": "x" * 101},
            {"email": "other@example.com"},
            ["timezone", "UTC"],
        ],
    )
    def test_invalid_patch_is_400_and_changes_nothing(self, auth_client, user, body):
        response = auth_client.patch("/api/v1/me", body, format="json")

        assert response.status_code == 400
        fresh = User.objects.get(pk=user.pk)
        assert (fresh.email, fresh.timezone, fresh.display_name) == (
            user.email,
            user.timezone,
            user.display_name,
        )

    def test_deleted_user_token_is_rejected(self, auth_client, user):
        user.delete()

        response = auth_client.get("/api/v1/me")

        assert response.status_code == 401
