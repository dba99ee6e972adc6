"""Rate limits (rates in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]).

The machinery, and the limits that need nothing but the request:

- ``register``: registrations per client IP;
- ``anon``: requests per client IP to the operations that take no account
  (the public catalog, a token refresh, a password reset's confirmation);
- ``user``: requests per authenticated user.

The login limits (per IP and e-mail, failed logins per IP) know accounts and
live with them, in ``users.throttling``.

Every hit is one atomic increment in a store all worker processes share
(Redis, or a database table without it: ``throttles.counters``), in fixed
windows that open with a key's first hit. While that store is unreachable,
register and login count in each worker's memory (a limit per process beats
none); the per-user limit lets requests through.
"""

import hashlib
import logging
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from throttles import counters
from throttles.counters import CounterStore, Hit

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
    # parse_rate reads nothing of its instance.
    hits, seconds = SimpleRateThrottle.parse_rate(None, rate)  # type: ignore[arg-type]
    if hits is None or seconds is None:  # the scope's rate is None: no limit was configured
        raise ImproperlyConfigured(f"DEFAULT_THROTTLE_RATES[{scope!r}] is not a rate.")
    return hits, seconds


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


class AnonymousRateThrottle(WindowRateThrottle):
    """Requests per client IP to an operation without an account (``THROTTLE_ANON``)."""

    scope = "anon"

    def key(self, request) -> str:
        return scope_key(self.scope, client_ident(request))


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
