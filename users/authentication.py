"""Bearer-token authentication for the API.

The access token is signed and short-lived, so it is trusted on its own: no
query per request. What a token cannot know (the account was deactivated or
deleted since it was issued) is checked where it matters: every write locks
the user's state row joined with the user (``engagement.services.state_lock``),
and /me reads the user row anyway. Reads of one's own history stay possible
for at most the access-token lifetime after a deactivation.
"""

import uuid
from dataclasses import dataclass

from django.conf import settings
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken


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


class BearerTokenAuthentication(JWTAuthentication):
    """simplejwt's token validation without its per-request user query."""

    def get_user(self, validated_token) -> AuthenticatedUser:
        claim = settings.SIMPLE_JWT["USER_ID_CLAIM"]
        try:
            return AuthenticatedUser(pk=uuid.UUID(str(validated_token[claim])))
        except (KeyError, ValueError):
            raise InvalidToken("Token contained no recognizable user identification") from None
