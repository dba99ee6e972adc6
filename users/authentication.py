"""Bearer-token authentication for the API.

Tokens are issued and refreshed by simplejwt (users/tokens.py); checking an
access token on every request is done here, with PyJWT directly: the same
checks (signature and algorithm, expiry, ``token_type == "access"``, a ``jti``
and a UUID ``user_id``) without simplejwt's per-request settings lookups, which
cost more than the rest of authentication together.

The access token is signed and short-lived, so it is trusted on its own: no
query per request. What a token cannot know (the account was deactivated or
deleted since it was issued) is checked where it matters: every write locks
the user's state row joined with the user (``engagement.services.state_lock``),
and /me reads the user row anyway. Reads of one's own history stay possible
for at most the access-token lifetime after a deactivation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cache

import jwt
from django.conf import settings
from rest_framework import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken

KEYWORD = "Bearer"
ACCESS = "access"  # the token_type claim of access tokens


@dataclass(frozen=True)
class AuthenticatedUser:
    """The caller as the token names them; ``pk`` is all services need."""

    pk: uuid.UUID
    is_authenticated = True
    is_active = True
    is_anonymous = False

    @property
    def id(self) -> uuid.UUID:
        return self.pk


@cache
def _jwt_settings() -> tuple[str, str, str, float]:
    config = settings.SIMPLE_JWT
    leeway = config.get("LEEWAY", 0)
    if hasattr(leeway, "total_seconds"):
        leeway = leeway.total_seconds()
    return config["SIGNING_KEY"], config["ALGORITHM"], config["USER_ID_CLAIM"], float(leeway)


def access_token_user_id(token: str) -> uuid.UUID:
    """The user id of a valid access token; raises InvalidToken otherwise."""
    key, algorithm, claim, leeway = _jwt_settings()
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            leeway=leeway,
            options={"require": ["exp", "jti", "token_type", claim]},
        )
    except jwt.PyJWTError:
        raise InvalidToken("Token is invalid or expired") from None
    if claims["token_type"] != ACCESS:
        raise InvalidToken("Token has wrong type")
    try:
        return uuid.UUID(str(claims[claim]))
    except ValueError:
        raise InvalidToken("Token contained no recognizable user identification") from None


def bearer_token(request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None when the
    header is absent or names another scheme."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if not header:
        return None
    parts = header.split()
    if not parts or parts[0] != KEYWORD:
        return None
    if len(parts) != 2:
        raise AuthenticationFailed(
            "Authorization header must contain two space-delimited values",
            code="bad_authorization_header",
        )
    return parts[1]


class BearerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        token = bearer_token(request)
        if token is None:
            return None
        return AuthenticatedUser(pk=access_token_user_id(token)), token

    def authenticate_header(self, request) -> str:
        return f'{KEYWORD} realm="api"'
