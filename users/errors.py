import datetime as dt
from typing import Any, ClassVar

from base.errors import DomainError


class EmailTaken(DomainError):
    status = 409
    code = "email_taken"
    default_detail = "A user with this e-mail address already exists."


class InvalidCredentials(DomainError):
    status = 401
    code = "invalid_credentials"
    default_detail = "E-mail or password is wrong."


class WrongPassword(InvalidCredentials):
    """The signed-in caller's password confirmation is wrong (changing the
    password, erasing the account). 403, not 401: the bearer token is good, and
    a client that treats 401 as "sign in again" must not sign the user out for
    a mistyped password. Counted like a failed login all the same."""

    status = 403
    code = "wrong_password"
    default_detail = "The password is wrong."


class TimezoneChangeTooSoon(DomainError):
    """``allowed_at``: when the time zone can be changed again."""

    status = 409
    code = "timezone_change_too_soon"
    default_detail = "The time zone can be changed once every 24 hours."
    example_members: ClassVar[dict[str, Any]] = {"allowed_at": "2026-03-05T09:30:00Z"}

    @classmethod
    def until(cls, allowed_at: dt.datetime) -> "TimezoneChangeTooSoon":
        when = allowed_at.astimezone(dt.UTC)
        return cls(
            f"The time zone can be changed once every 24 hours; the next change is allowed "
            f"from {when:%Y-%m-%d %H:%M:%S} UTC.",
            allowed_at=when,
        )


class InvalidRefreshToken(DomainError):
    status = 401
    code = "token_invalid"
    default_detail = "The refresh token is invalid or expired."


class TokenRevoked(DomainError):
    """The token was valid when issued but has been revoked since: rotated or
    signed out (refresh tokens), or every token of the account was (password
    change or reset, sign-out everywhere, deactivation)."""

    status = 401
    code = "token_revoked"
    default_detail = "This token has been revoked; sign in again."


class InvalidResetToken(DomainError):
    status = 400
    code = "invalid_reset_token"
    default_detail = "The password reset link is invalid, used or expired; request a new one."
