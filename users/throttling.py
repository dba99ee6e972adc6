"""The login rate limits: they know accounts (the e-mail as users normalize it,
a failed password check), so they sit with them, on the throttles' machinery.

- ``login``: login attempts per client IP and e-mail;
- ``login_ip``: failed logins per client IP, whatever the e-mail.
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


class LoginRateThrottle(WindowRateThrottle):
    """Login attempts per client IP and e-mail: guessing one account's password
    is slowed without locking its owner out from elsewhere."""

    scope = "login"

    def key(self, request) -> str:
        email = request.data.get("email") if isinstance(request.data, dict) else None
        email = normalize_email(email) if isinstance(email, str) else ""
        return scope_key(self.scope, client_ident(request), email)


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
