"""JWT pairs for a user (simplejwt; claim ``user_id``)."""

from rest_framework_simplejwt.tokens import RefreshToken

from users.models import User


def token_pair(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}
