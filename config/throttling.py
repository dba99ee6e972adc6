"""Rate limits (rates in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]).

- ``register``: registrations per client IP;
- ``login``: login attempts per client IP and e-mail;
- ``login_ip``: failed logins per client IP, whatever the e-mail;
- ``user``: requests per authenticated user.

Every hit is one atomic increment in a store all worker processes share
(Redis, or a database table without it: ``throttles.counters``), in fixed
windows that open with a key's first hit. While that store is unreachable,
register and login count in each worker's memory (a limit per process beats
none); the per-user limit lets requests through.
"""

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from throttles import counters
from throttles.counters import CounterStore, Hit
from users.errors import InvalidCredentials
from users.models import normalize_email

logger = logging.getLogger(__name__)

# The shared store is down or unreachable. The cache's socket timeouts
# (0.25 s, settings.CACHES) bound what finding that out costs a request.
CACHE_UNAVAILABLE = (redis.RedisError, OSError)


@dataclass(frozen=True)
class Counted:
    """A hit and the store that counted it, so it is given back there."""

    store: CounterStore
    key: str
    hit: Hit

    def give_back(self) -> None:
        try:
            self.store.give_back(self.key, self.hit)
        except CACHE_UNAVAILABLE as exc:
            logger.warning("Throttle cache unavailable, hit not given back: %r", exc)


def count_shared(key: str, seconds: int) -> Counted:
    """Count a hit in the shared store; raises CACHE_UNAVAILABLE when it is down."""
    store = counters.shared_store()
    return Counted(store, key, store.hit(key, seconds))


def count_or_local(key: str, seconds: int) -> Counted:
    """Count a hit in the shared store, or in this process's memory while it is down."""
    try:
        return count_shared(key, seconds)
    except CACHE_UNAVAILABLE as exc:
        logger.warning("Throttle cache unavailable, limiting per process: %r", exc)
        return Counted(counters.local, key, counters.local.hit(key, seconds))


def scope_rate(scope: str) -> tuple[int, int]:
    """(hits, seconds) of a scope, read per request so that settings overrides apply."""
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope]
    return SimpleRateThrottle.parse_rate(None, rate)  # type: ignore[arg-type]


def scope_key(scope: str, *parts: str) -> str:
    """A short key that keeps no address or e-mail in clear in the store."""
    digest = hashlib.blake2b("\0".join(parts).encode(), digest_size=16).hexdigest()
    return f"throttle:{scope}:{digest}"


def client_ident(request) -> str:
    """The client address DRF's throttles use (REMOTE_ADDR, or the one
    ``NUM_PROXIES`` trusted proxies report in X-Forwarded-For)."""
    return BaseThrottle().get_ident(request) or ""


class WindowRateThrottle(BaseThrottle):
    """At most the scope's rate of hits per ``key(request)`` and window."""

    scope: str

    def __init__(self) -> None:
        self._wait: float | None = None

    def key(self, request) -> str | None:
        """The counter this request counts in; None: not limited."""
        raise NotImplementedError

    def count(self, key: str, seconds: int) -> Counted | None:
        return count_or_local(key, seconds)

    def allow_request(self, request, view) -> bool:
        key = self.key(request)
        if key is None:
            return True
        limit, seconds = scope_rate(self.scope)
        counted = self.count(key, seconds)
        if counted is None or counted.hit.count <= limit:
            return True
        self._wait = counted.hit.retry_after
        return False

    def wait(self) -> float | None:
        return self._wait


class RegisterRateThrottle(WindowRateThrottle):
    """Registrations per client IP."""

    scope = "register"

    def key(self, request) -> str:
        return scope_key(self.scope, client_ident(request))


class LoginRateThrottle(WindowRateThrottle):
    """Login attempts per client IP and e-mail: guessing one account's password
    is slowed without locking its owner out from elsewhere."""

    scope = "login"

    def key(self, request) -> str:
        email = request.data.get("email") if isinstance(request.data, dict) else None
        email = normalize_email(email) if isinstance(email, str) else ""
        return scope_key(self.scope, client_ident(request), email)


class UserRateThrottle(WindowRateThrottle):
    """Requests per authenticated user (``THROTTLE_USER``): a coarse abuse
    limit, one round trip per request, that lets requests through while the
    shared store is down rather than hold per-process counts for every user."""

    scope = "user"

    def key(self, request) -> str | None:
        user = request.user
        if not (user and user.is_authenticated):
            return None
        return f"throttle:{self.scope}:{user.pk}"

    def count(self, key: str, seconds: int) -> Counted | None:
        try:
            return count_shared(key, seconds)
        except CACHE_UNAVAILABLE as exc:
            logger.warning("Throttle cache unavailable, not limiting: %r", exc)
            return None


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
