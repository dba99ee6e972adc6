"""Rate limits (rates in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]).

Counters live in a cache every worker process shares (Redis, or the database
cache without it), never in per-process memory.
"""

import logging
import time
from functools import cache

import redis
from django.conf import settings
from django.core.cache import cache as django_cache
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from users.models import normalize_email

logger = logging.getLogger(__name__)

# A rate limit must not take the API down with it: when the counter store is
# unreachable the request is let through (and logged), after a short timeout.
CACHE_UNAVAILABLE = (redis.RedisError, OSError)
REDIS_TIMEOUT_SECONDS = 0.25


@cache
def _redis_client() -> redis.Redis | None:
    """One client (and connection pool) per process, when Redis is configured."""
    if not settings.REDIS_URL:
        return None
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )


class FailOpenMixin:
    """Let the request through when the throttle's cache is unreachable."""

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except CACHE_UNAVAILABLE as exc:
            logger.warning("Throttle cache unavailable, not limiting: %r", exc)
            return True


def counter_incr(key: str, ttl: int) -> int:
    """Increment a counter that expires ``ttl`` seconds after it was created."""
    client = _redis_client()
    if client is not None:
        # INCR and EXPIRE NX in one round trip.
        pipe = client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, ttl, nx=True)
        return int(pipe.execute()[0])
    django_cache.add(key, 0, ttl)
    try:
        return django_cache.incr(key)
    except ValueError:  # expired between add and incr
        django_cache.add(key, 1, ttl)
        return 1


class _UserRateThrottle(BaseThrottle):
    """Requests per authenticated user in fixed windows (``THROTTLE_USER``).

    One counter increment per request, one cache round trip with Redis (DRF's
    sliding-log throttle reads and rewrites a list: two round trips and a
    growing value). A fixed window lets a client burst up to twice the rate
    across a window boundary, which is fine for a coarse abuse limit.
    """

    scope = "user"

    def __init__(self):
        rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][self.scope]
        self.num_requests, self.duration = SimpleRateThrottle.parse_rate(None, rate)
        self._wait = None

    def allow_request(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return True
        now = time.time()
        window = int(now // self.duration)
        key = f"throttle:{self.scope}:{user.pk}:{window}"
        if counter_incr(key, self.duration) <= self.num_requests:
            return True
        self._wait = self.duration - (now % self.duration)
        return False

    def wait(self) -> float | None:
        return self._wait


class RegisterRateThrottle(FailOpenMixin, SimpleRateThrottle):
    """Registrations per client IP."""

    scope = "register"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginRateThrottle(FailOpenMixin, SimpleRateThrottle):
    """Login attempts per client IP and e-mail: guessing one account's password
    is slowed without locking its owner out from elsewhere."""

    scope = "login"

    def get_cache_key(self, request, view):
        email = request.data.get("email") if isinstance(request.data, dict) else None
        email = normalize_email(email) if isinstance(email, str) else ""
        ident = f"{self.get_ident(request)}:{email}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class UserRateThrottle(FailOpenMixin, _UserRateThrottle):
    """The per-user limit (``THROTTLE_USER``), failing open like the others."""
