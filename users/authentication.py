"""Bearer-token authentication for the API: simplejwt's own stateless check.

Tokens are issued and refreshed by simplejwt (users/tokens.py) and checked by
its ``JWTStatelessUserAuthentication``, so every ``SIMPLE_JWT`` setting
applies (algorithm and keys, audience, issuer, leeway, the token-type and
user-id claims). Two additions, both here:

- ``request.user.pk`` is a ``uuid.UUID``, what the services take: simplejwt's
  ``TokenUser`` hands the claim over as it is in the token (a string), so
  :class:`AccessTokenUser` converts it, and a token naming no UUID is a 401;
- the token is checked once per request: ``IdempotencyMiddleware`` checks it
  first (to scope the key to the user) and DRF's authentication takes that
  outcome from the request instead of decoding the token again.

The access token is signed and short-lived, so it is trusted on its own: no
query per request. What a token cannot know (the account was deactivated or
deleted since it was issued) is checked where it matters: every write locks
the user's state row joined with the user (``engagement.services.state_lock``),
and /me reads the user row anyway. Reads of one's own history stay possible
for at most the access-token lifetime after a deactivation.
"""

from __future__ import annotations

import uuid
from functools import cached_property
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from rest_framework import HTTP_HEADER_ENCODING
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework_simplejwt import authentication as jwt_authentication
from rest_framework_simplejwt import models as jwt_models
from rest_framework_simplejwt import settings as jwt_settings
from rest_framework_simplejwt import state as jwt_state
from rest_framework_simplejwt import tokens as jwt_tokens
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.models import TokenUser
from rest_framework_simplejwt.tokens import Token

# The outcome of checking the request's Authorization header, kept on the
# Django request: (header, (user, token) | None | the AuthenticationFailed raised).
_CHECKED = "_bearer_token_checked"


class AccessTokenUser(TokenUser):
    """The caller as the access token names them; ``pk`` (a UUID) is all the
    services need. The one place where the user-id claim becomes a UUID."""

    @cached_property
    def id(self) -> uuid.UUID:  # type: ignore[override]
        return uuid.UUID(str(self.token[jwt_settings.api_settings.USER_ID_CLAIM]))

    @cached_property
    def pk(self) -> uuid.UUID:  # type: ignore[override]
        return self.id


class BearerTokenAuthentication(jwt_authentication.JWTStatelessUserAuthentication):
    """simplejwt's stateless authentication, once per request, with a UUID ``pk``."""

    def authenticate(  # type: ignore[override]
        self, request: Request | HttpRequest
    ) -> tuple[AccessTokenUser, Token] | None:
        http_request: HttpRequest = getattr(request, "_request", request)
        header = self.get_header(request)  # type: ignore[arg-type]
        checked = getattr(http_request, _CHECKED, None)
        if checked is None or checked[0] != header:
            checked = (header, self._check(header))
            setattr(http_request, _CHECKED, checked)
        outcome = checked[1]
        if isinstance(outcome, AuthenticationFailed):
            raise outcome
        return outcome

    def _check(
        self, header: bytes | None
    ) -> tuple[AccessTokenUser, Token] | AuthenticationFailed | None:
        """``JWTAuthentication.authenticate`` from the header on, with a
        failure returned (to be kept on the request) instead of raised."""
        if header is None:
            return None
        try:
            raw_token = self.get_raw_token(header)
            if raw_token is None:
                return None
            validated_token = self.get_validated_token(raw_token)
            return self.get_user(validated_token), validated_token
        except AuthenticationFailed as exc:
            return exc

    def get_user(self, validated_token: Token) -> AccessTokenUser:  # type: ignore[override]
        user = AccessTokenUser(validated_token)
        try:
            user.pk  # noqa: B018 (converted here, so that a bad claim is a 401, not a 500 later)
        except (KeyError, ValueError, TypeError):
            raise InvalidToken("Token contained no recognizable user identification") from None
        return user


def token_user_id(request: HttpRequest) -> uuid.UUID | None:
    """The user a valid bearer token names, or None (no token, or a bad one:
    the view answers 401 then). Checked once per request, see above."""
    try:
        outcome = BearerTokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        return None
    return outcome[0].pk if outcome else None


@receiver(setting_changed)
def _simplejwt_follows_settings(*, setting: str, **kwargs: Any) -> None:
    """Make a changed ``SIMPLE_JWT`` (``override_settings``) reach token checks.

    simplejwt rebinds ``rest_framework_simplejwt.settings.api_settings`` when
    the setting changes, but its other modules keep the object they imported
    and its token backend (keys, algorithm, audience, issuer, leeway) is built
    once, at import, as are the token lifetimes and the header types
    (jazzband/djangorestframework-simplejwt#58). Settings never
    change in a running server; this is for tests, and a test proves it works.
    """
    if setting != "SIMPLE_JWT":
        return
    current = jwt_settings.api_settings  # rebound by simplejwt's own receiver, connected first
    for module in (jwt_authentication, jwt_models, jwt_state, jwt_tokens):
        module.api_settings = current  # type: ignore[attr-defined]
    jwt_state.token_backend = TokenBackend(
        current.ALGORITHM,
        current.SIGNING_KEY,
        current.VERIFYING_KEY,
        current.AUDIENCE,
        current.ISSUER,
        current.JWK_URL,
        current.LEEWAY,
        current.JSON_ENCODER,
    )
    jwt_tokens.AccessToken.lifetime = current.ACCESS_TOKEN_LIFETIME
    jwt_tokens.RefreshToken.lifetime = current.REFRESH_TOKEN_LIFETIME
    jwt_tokens.RefreshToken.no_copy_claims = (
        current.TOKEN_TYPE_CLAIM,
        "exp",
        current.JTI_CLAIM,
        "jti",
        "iat",
    )
    header_types = current.AUTH_HEADER_TYPES
    if not isinstance(header_types, list | tuple):
        header_types = (header_types,)
    jwt_authentication.AUTH_HEADER_TYPES = header_types
    jwt_authentication.AUTH_HEADER_TYPE_BYTES = {
        h.encode(HTTP_HEADER_ENCODING) for h in header_types
    }
