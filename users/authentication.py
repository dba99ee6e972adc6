"""Bearer-token authentication for the API."""

import uuid

from django.conf import settings
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken


class BearerTokenAuthentication(JWTAuthentication):
    """simplejwt's authentication, refusing a signed token whose user id is not
    a UUID with a 401 (simplejwt would let the ORM raise, a 500)."""

    def get_user(self, validated_token):
        claim = settings.SIMPLE_JWT["USER_ID_CLAIM"]
        try:
            uuid.UUID(str(validated_token[claim]))
        except (KeyError, ValueError):
            raise InvalidToken("Token contained no recognizable user identification") from None
        return super().get_user(validated_token)
