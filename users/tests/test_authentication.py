"""Bearer tokens: simplejwt's stateless check under every SIMPLE_JWT setting,
a UUID ``request.user.pk``, and one token check per request."""

import datetime as dt
import uuid
from unittest import mock

import jwt
import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework_simplejwt.backends import TokenBackend

from users.authentication import AccessTokenUser, BearerTokenAuthentication
from users.tokens import token_pair

pytestmark = pytest.mark.django_db

ME = "/api/v1/me"


def simple_jwt(**changes) -> override_settings:
    return override_settings(SIMPLE_JWT={**settings.SIMPLE_JWT, **changes})


def get_me(token: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get(ME)


def signed(claims: dict, *, key: str | None = None, algorithm: str = "HS256") -> str:
    now = dt.datetime.now(dt.UTC)
    payload = {
        "token_type": "access",
        "jti": uuid.uuid4().hex,
        "iat": int(now.timestamp()),
        "exp": int((now + dt.timedelta(minutes=5)).timestamp()),
        **claims,
    }
    return jwt.encode(payload, key or settings.SECRET_KEY, algorithm=algorithm)


def assert_401(response, code: str = "token_not_valid") -> None:
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["code"] == code


class TestTheUser:
    def test_request_user_pk_is_the_users_uuid(self, user):
        token = token_pair(user)["access"]
        request = APIRequestFactory().get(ME, HTTP_AUTHORIZATION=f"Bearer {token}")

        authenticated = BearerTokenAuthentication().authenticate(request)

        assert authenticated is not None
        found, validated = authenticated

        assert isinstance(found, AccessTokenUser)
        assert (found.pk, found.id) == (user.pk, user.pk)
        assert isinstance(found.pk, uuid.UUID)
        assert found.is_authenticated
        assert str(validated) == token

    @pytest.mark.parametrize("user_id", ["not-a-uuid", 42, None, ["x"]])
    def test_a_token_naming_no_uuid_is_a_401_problem(self, user, user_id):
        assert_401(get_me(signed({"user_id": user_id})))

    def test_a_token_naming_no_user_is_a_401_problem(self, user):
        assert_401(get_me(signed({})))

    def test_no_token_is_a_401_problem(self, user):
        assert_401(APIClient().get(ME), "not_authenticated")

    def test_another_scheme_is_not_read_as_a_token(self, user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_pair(user)['access']}")

        assert_401(client.get(ME), "not_authenticated")

    def test_a_header_with_three_parts_is_a_401_problem(self, user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Bearer a b")

        assert_401(client.get(ME), "bad_authorization_header")


class TestSettings:
    """SIMPLE_JWT applies, also when a test changes it (override_settings)."""

    def test_an_issuer_mismatch_is_a_401_when_an_issuer_is_set(self, user):
        with simple_jwt(ISSUER="https://engagement.example"):
            assert get_me(token_pair(user)["access"]).status_code == 200
            assert_401(get_me(signed({"user_id": str(user.pk)})))  # no iss
            assert_401(get_me(signed({"user_id": str(user.pk), "iss": "https://other.example"})))

    def test_an_audience_mismatch_is_a_401_when_an_audience_is_set(self, user):
        with simple_jwt(AUDIENCE="engagement-api"):
            assert get_me(token_pair(user)["access"]).status_code == 200
            assert_401(get_me(signed({"user_id": str(user.pk)})))  # no aud
            assert_401(get_me(signed({"user_id": str(user.pk), "aud": "another-api"})))

    def test_a_changed_signing_key_takes_effect_and_is_undone(self, user):
        before = token_pair(user)["access"]

        with simple_jwt(SIGNING_KEY="another-signing-key-" + "k" * 32):
            assert_401(get_me(before))
            during = token_pair(user)["access"]
            assert get_me(during).status_code == 200

        assert get_me(before).status_code == 200
        assert_401(get_me(during))

    def test_the_algorithm_setting_is_the_only_one_accepted(self, user):
        key = "a-key-long-enough-for-hs512-" + "k" * 40
        claims = {"user_id": str(user.pk)}
        with simple_jwt(ALGORITHM="HS512", SIGNING_KEY=key):
            assert get_me(token_pair(user)["access"]).status_code == 200
            assert get_me(signed(claims, key=key, algorithm="HS512")).status_code == 200
            assert_401(get_me(signed(claims, key=key, algorithm="HS256")))

        assert_401(get_me(signed(claims, key=key, algorithm="HS512")))

    def test_the_claim_names_follow_the_settings(self, user):
        with simple_jwt(TOKEN_TYPE_CLAIM="typ", USER_ID_CLAIM="sub"):
            token = token_pair(user)["access"]
            claims = jwt.decode(token, options={"verify_signature": False})
            response = get_me(token)
            assert_401(get_me(signed({"user_id": str(user.pk)})))  # the default names

        assert (claims["typ"], claims["sub"]) == ("access", str(user.pk))
        assert not {"token_type", "user_id"} & claims.keys()
        assert response.status_code == 200
        assert response.json()["user"]["id"] == str(user.pk)

    def test_a_refresh_token_is_not_an_access_token_whatever_the_claim_name(self, user):
        with simple_jwt(TOKEN_TYPE_CLAIM="typ"):
            assert_401(get_me(token_pair(user)["refresh"]))

    def test_leeway_accepts_a_just_expired_token(self, user):
        expired = signed(
            {"user_id": str(user.pk), "exp": int(dt.datetime.now(dt.UTC).timestamp()) - 10}
        )

        assert_401(get_me(expired))
        with simple_jwt(LEEWAY=dt.timedelta(seconds=60)):
            assert get_me(expired).status_code == 200


class TestOneCheckPerRequest:
    """The idempotency middleware checks the token to scope the key; DRF's
    authentication takes its outcome instead of decoding the token again."""

    @pytest.fixture
    def decodes(self):
        with mock.patch.object(
            TokenBackend, "decode", autospec=True, side_effect=TokenBackend.decode
        ) as decode:
            yield decode

    def test_a_keyed_post_decodes_the_token_once(self, user, decodes):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair(user)['access']}")

        response = client.post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="once-1")

        assert response.status_code == 201
        assert decodes.call_count == 1

    def test_a_keyed_post_with_a_bad_token_decodes_it_once_and_is_401(self, user, decodes):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {signed({'user_id': 'x'}, key='k' * 40)}")

        response = client.post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="once-2")

        assert_401(response)
        assert decodes.call_count == 1

    def test_a_request_without_a_key_decodes_the_token_once(self, user, decodes):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair(user)['access']}")

        assert client.post("/api/v1/checkins").status_code == 201
        assert client.get(ME).status_code == 200
        assert decodes.call_count == 2  # one per request
