"""The accounts' rate limits: they know accounts (the e-mail as users normalize it,
a failed password check), so they sit with them, on the throttles' machinery.

- ``login``: login attempts per client IP and e-mail;
- ``login_ip``: failed logins per client IP, whatever the e-mail (also
  wrong current passwords on a password change);
- ``password_reset``: password-reset requests per client IP;
- ``password_reset_email``: password-reset requests per e-mail address,
  counted whether or not an account has it (the limit tells nothing).
"""

from collections.abc import Iterator
from contextlib import contextmanager

from rest_framework.exceptions import Throttled

from throttles.throttling import (
    WindowRateThrottle,
    client_ident,
    count_or_local,
    scope_key,
    scope_rate,
)
from users.errors import InvalidCredentials
from users.models import normalize_email


def _email_of(request) -> str:
    email = request.data.get("email") if isinstance(request.data, dict) else None
    return normalize_email(email) if isinstance(email, str) else ""


class LoginRateThrottle(WindowRateThrottle):
    """Login attempts per client IP and e-mail: guessing one account's password
    is slowed without locking its owner out from elsewhere."""

    scope = "login"

    def key(self, request) -> str:
        return scope_key(self.scope, client_ident(request), _email_of(request))


class PasswordResetRateThrottle(WindowRateThrottle):
    """Password-reset requests per client IP: no one mails many addresses."""

    scope = "password_reset"

    def key(self, request) -> str:
        return scope_key(self.scope, client_ident(request))


class PasswordResetEmailRateThrottle(WindowRateThrottle):
    """Password-reset requests per e-mail address, from anywhere: no one
    floods an inbox with reset mails."""

    scope = "password_reset_email"

    def key(self, request) -> str | None:
        email = _email_of(request)
        return scope_key(self.scope, email) if email else None


@contextmanager
def failed_logins_per_ip(request) -> Iterator[None]:
    """Limit failed logins per client IP across e-mails (``login_ip``), around
    the password check.

    A slot is reserved before the check, so parallel guesses cannot overshoot
    the limit: each one holds its slot while it runs. The slot is kept only
    when the block raises InvalidCredentials, so only failures use the budget;
    a success (or any other error) gives it back. An attempt refused with 429
    gives its slot back at once: it was not a failure.
    """
    limit, seconds = scope_rate("login_ip")
    counted = count_or_local(scope_key("login_ip", client_ident(request)), seconds)
    if counted.hit.count > limit:
        counted.give_back()
        raise Throttled(wait=counted.hit.retry_after)
    failed = False
    try:
        yield
    except InvalidCredentials:
        failed = True
        raise
    finally:
        if not failed:
            counted.give_back()
