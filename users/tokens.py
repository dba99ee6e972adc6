"""JWT pairs for a user (simplejwt; claim ``user_id``), and refreshing them."""

import uuid

from django.conf import settings
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from engagement.errors import AccountUnavailable
from users.errors import InvalidRefreshToken
from users.models import User


def token_pair(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def _token_user_id(token: RefreshToken) -> uuid.UUID:
    try:
        return uuid.UUID(str(token.payload.get(settings.SIMPLE_JWT["USER_ID_CLAIM"])))
    except ValueError:
        raise InvalidRefreshToken() from None


def token_refresh(*, refresh: str) -> str:
    """A new access token for a valid refresh token of an active user.

    Done here rather than by simplejwt's ``TokenRefreshSerializer``, which
    raises ``User.DoesNotExist`` (a 500) once the user is deleted, and reports
    a deactivated one as a 403 on an unauthenticated view. Both are a 401
    ``account_unavailable``, as for access tokens."""
    try:
        # simplejwt annotates the encoded token it decodes here as a Token.
        token = RefreshToken(refresh)  # type: ignore[arg-type]
    except TokenError as exc:
        raise InvalidRefreshToken() from exc
    if not User.objects.filter(pk=_token_user_id(token), is_active=True).exists():
        raise AccountUnavailable()
    return str(token.access_token)
