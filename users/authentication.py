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
deleted since it was issued, or every earlier token was revoked) is checked
where the user's row is read anyway: every write locks the user's state row
joined with the user (``engagement.services.state_lock``), and /me, the
password change and refresh read the user row. Reads of one's own history
stay possible for at most the access-token lifetime after a revocation.

Revocation of every earlier token is a version: each token carries the
user's ``token_version`` (claim :data:`TOKEN_VERSION_CLAIM`), and raising the
version on the user's row revokes every token issued before. Services take no
tokens, so the version of the request's token travels to those checks in a
request-scoped context variable (:data:`caller_token_version`), set here when
a bearer token authenticates and cleared when any request starts or ends;
:func:`check_token_version` compares it with the row. Outside a request with
a bearer token (the admin, commands, background work) it is unset and there is
nothing to check.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from functools import cached_property
from typing import Any

from django.core.signals import request_finished, request_started, setting_changed
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

from users.errors import TokenRevoked

# The outcome of checking the request's Authorization header, kept on the
# Django request: (header, (user, token) | None | the AuthenticationFailed raised).
_CHECKED = "_bearer_token_checked"


# The claim every access and refresh token carries: the user's token_version
# when it was issued (users.tokens).
TOKEN_VERSION_CLAIM = "token_version"  # noqa: S105 (a claim name, no secret)

# The token version of the current request's bearer token; None: no bearer
# token authenticated this request, nothing to check.
caller_token_version: ContextVar[int | None] = ContextVar("caller_token_version", default=None)


def token_version(token: Token) -> int:
    """The token's version claim. Tokens issued before versions existed have
    none and count as version 0, every account's first: they keep working
    until the first revocation of their account. Raises ValueError for a
    claim that is not a non-negative integer (only a key holder could sign
    one)."""
    version = token.get(TOKEN_VERSION_CLAIM, 0)
    if type(version) is not int or version < 0:
        raise ValueError(f"bad {TOKEN_VERSION_CLAIM} claim")
    return version


def check_token_version(current: int) -> None:
    """Refuse the request's bearer token (401 ``token_revoked``) when the
    user's row, read by the caller anyway, says ``current`` and the token was
    issued at another version. Nothing to check without a bearer token."""
    presented = caller_token_version.get()
    if presented is not None and presented != current:
        raise TokenRevoked()


@receiver(request_started)
@receiver(request_finished)
def _forget_caller_token_version(**kwargs: Any) -> None:
    """Threads serve one request after another (and the admin's requests carry
    no bearer token): no request inherits the previous one's version."""
    caller_token_version.set(None)


class AccessTokenUser(TokenUser):
    """The caller as the access token names them; ``pk`` (a UUID) is all the
    services need. The one place where the user-id claim becomes a UUID."""

    @cached_property
    def id(self) -> uuid.UUID:  # type: ignore[override]
        return uuid.UUID(str(self.token[jwt_settings.api_settings.USER_ID_CLAIM]))

    @cached_property
    def pk(self) -> uuid.UUID:  # type: ignore[override]
        return self.id

    @cached_property
    def token_version(self) -> int:
        return token_version(self.token)


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
        if outcome is not None:
            caller_token_version.set(outcome[0].token_version)
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
        try:
            user.token_version  # noqa: B018 (likewise)
        except ValueError:
            raise InvalidToken("Token contained no valid token version") from None
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
