"""JWT pairs for a user, and their lifecycle (simplejwt and its ``token_blacklist``).

Every token carries the user's id (``user_id``) and the user's
``token_version`` when it was issued (see ``users.authentication``). Each
refresh token is recorded as simplejwt's ``OutstandingToken`` when issued;
using it (refresh: rotation) or signing it out revokes it with a
``BlacklistedToken`` row. The blacklist's unique row per token decides: of
two requests presenting one refresh token, exactly one revokes it and the
other is refused, so a refresh token is good for one rotation only.
"""

import uuid

from django.db import IntegrityError, transaction
from django.db.models import F
from rest_framework_simplejwt import settings as jwt_settings
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from engagement.errors import AccountUnavailable
from users.authentication import TOKEN_VERSION_CLAIM, token_version
from users.errors import InvalidRefreshToken, TokenRevoked
from users.models import User


class _RefreshToken(RefreshToken):
    """simplejwt's refresh token without its separate blacklist read: whether
    a token was revoked is decided by the revoking insert itself (below),
    which also holds when two requests present the token at once."""

    def check_blacklist(self) -> None:
        return None


def token_pair(user: User) -> dict[str, str]:
    return token_pair_for(user_id=user.pk, token_version=user.token_version)


def token_pair_for(*, user_id: uuid.UUID, token_version: int) -> dict[str, str]:
    """A new access and refresh token at ``token_version``; the refresh token
    is recorded as outstanding (one INSERT)."""
    refresh = _RefreshToken()
    refresh[jwt_settings.api_settings.USER_ID_CLAIM] = str(user_id)
    refresh[TOKEN_VERSION_CLAIM] = token_version
    encoded = str(refresh)
    OutstandingToken.objects.create(
        user_id=user_id,
        jti=refresh[jwt_settings.api_settings.JTI_CLAIM],
        token=encoded,
        created_at=refresh.current_time,
        expires_at=datetime_from_epoch(refresh["exp"]),
    )
    return {"access": str(refresh.access_token), "refresh": encoded}


def _decoded(refresh: str) -> tuple[_RefreshToken, uuid.UUID, int]:
    """The refresh token, its user id and version; InvalidRefreshToken (401
    ``token_not_valid``) when it is malformed, forged, expired or not a
    refresh token."""
    try:
        # simplejwt annotates the encoded token it decodes here as a Token.
        token = _RefreshToken(refresh)  # type: ignore[arg-type]
        user_id = uuid.UUID(str(token.payload.get(jwt_settings.api_settings.USER_ID_CLAIM)))
        version = token_version(token)
    except (TokenError, ValueError):
        raise InvalidRefreshToken() from None
    return token, user_id, version


def _revoke(token: _RefreshToken, *, encoded: str, user_id: uuid.UUID) -> bool:
    """Blacklist the refresh token; False when it was blacklisted already.
    Runs inside the caller's transaction."""
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=token[jwt_settings.api_settings.JTI_CLAIM],
        defaults={
            # Issued before the blacklist was installed: recorded now.
            "user_id": user_id,
            "token": encoded,
            "created_at": datetime_from_epoch(token["iat"]),
            "expires_at": datetime_from_epoch(token["exp"]),
        },
    )
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=outstanding)
    except IntegrityError:
        return False
    return True


def token_refresh(*, refresh: str) -> dict[str, str]:
    """A new token pair for a valid refresh token, which is revoked (rotation).

    Done here rather than by simplejwt's ``TokenRefreshSerializer``, which
    raises ``User.DoesNotExist`` (a 500) once the user is deleted, reports a
    deactivated one as a 403 on an unauthenticated view, and can rotate one
    token twice when two requests present it at once. Here:

    - deleted or deactivated account: 401 ``account_unavailable``;
    - a version older than the account's (every token revoked since): 401
      ``token_revoked``;
    - a refresh token revoked already (rotated before, or signed out): 401
      ``token_revoked``, and every token of the account is revoked too. A
      rotated token presented again means that two parties hold it (a copy
      was stolen, or a client kept an old one); which one is legitimate
      cannot be told, so both must sign in again (refresh token reuse
      detection, OAuth 2.0 Security BCP, RFC 9700 section 4.14.2)."""
    token, user_id, version = _decoded(refresh)
    found = User.objects.filter(pk=user_id).values_list("is_active", "token_version").first()
    if found is None or not found[0]:
        raise AccountUnavailable()
    if found[1] != version:
        raise TokenRevoked()
    with transaction.atomic():
        if _revoke(token, encoded=refresh, user_id=user_id):
            return token_pair_for(user_id=user_id, token_version=version)
        User.objects.filter(pk=user_id, token_version=version).update(
            token_version=F("token_version") + 1
        )
    raise TokenRevoked()


def token_logout(*, user_id: uuid.UUID, refresh: str) -> None:
    """Revoke one refresh token of the user (sign out one session). Revoking a
    revoked token again changes nothing. InvalidRefreshToken when it is not a
    valid refresh token of this user. The session's access token stays valid
    until it expires (at most ``JWT_ACCESS_MINUTES``); the client drops it."""
    token, owner_id, _ = _decoded(refresh)
    if owner_id != user_id:
        raise InvalidRefreshToken("The refresh token belongs to another account.")
    with transaction.atomic():
        _revoke(token, encoded=refresh, user_id=user_id)
