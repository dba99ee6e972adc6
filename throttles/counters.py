"""Rate-limit counters: fixed windows that open with a key's first hit, each
hit one atomic increment that returns the new count.

Read-modify-write lets parallel requests overshoot a limit (DRF's
SimpleRateThrottle reads a list, appends and writes it back: 50 parallel
logins got 14 through a limit of 10). The store follows the ``default`` cache,
which every worker process shares:

- ``RedisCache``: INCR and PEXPIRE NX in one MULTI/EXEC, on the cache's own
  client, so its connection pool and short socket timeouts.
- ``DatabaseCache``: one upsert on ``throttles.Counter`` (``statements.py``);
  ``DatabaseCache.incr`` itself is a get then a set, not atomic.
- anything else (a test's ``LocMemCache``, per process anyway): ``local``,
  this process's memory, which also stands in while the shared store is down.

A window is known by the instant it ends (``Hit.window``): a hit given back
lands in the window that counted it, never in the one after.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.redis import RedisCache
from django.db import router
from django.db.models import F

from throttles.models import Counter
from throttles.statements import counter_hit


@dataclass(frozen=True)
class Hit:
    count: int  # hits in the window, this one included
    retry_after: float  # seconds until the window ends
    window: int  # when the window ends, epoch ms by the store's clock


class CounterStore(Protocol):
    def hit(self, key: str, seconds: int) -> Hit: ...

    def give_back(self, key: str, hit: Hit) -> None: ...


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# Decrement only while the window that counted the hit is still open: a key
# that expired and was created again ends at another instant.
_REDIS_GIVE_BACK = """
if redis.call('PEXPIRETIME', KEYS[1]) == tonumber(ARGV[1])
    and tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then
  return redis.call('DECR', KEYS[1])
end
return -1
"""


class RedisCounters:
    def __init__(self, cache: RedisCache) -> None:
        self.cache = cache

    def _client(self, key: str):
        # Django's cache API has no increment that also sets an expiry (its
        # incr is EXISTS then INCR, and the key could expire in between and
        # come back without one), so the commands go through the cache's own
        # client: one connection pool per process, the cache's timeouts.
        return self.cache._cache.get_client(key, write=True)

    def hit(self, key: str, seconds: int) -> Hit:
        key = self.cache.make_and_validate_key(key)
        pipe = self._client(key).pipeline(transaction=True)  # one round trip, atomic
        pipe.incr(key)
        pipe.pexpire(key, seconds * 1000, nx=True)  # the first hit opens the window
        pipe.pttl(key)
        pipe.pexpiretime(key)
        count, _, ttl_ms, ends_ms = pipe.execute()
        return Hit(count=int(count), retry_after=ttl_ms / 1000, window=int(ends_ms))

    def give_back(self, key: str, hit: Hit) -> None:
        key = self.cache.make_and_validate_key(key)
        self._client(key).eval(_REDIS_GIVE_BACK, 1, key, hit.window)


class DatabaseCounters:
    # Ended windows are deleted now and then, when a window opens, as
    # DatabaseCache culls its own table.
    CULL_PROBABILITY = 0.01

    def hit(self, key: str, seconds: int) -> Hit:
        now = _now_ms()
        using = router.db_for_write(Counter)
        count, ends_ms = counter_hit(key=key, now_ms=now, window_ms=seconds * 1000, using=using)
        if count == 1 and random.random() < self.CULL_PROBABILITY:  # noqa: S311 (not security)
            self.cull(using=using)
        return Hit(count=count, retry_after=(ends_ms - now) / 1000, window=ends_ms)

    def give_back(self, key: str, hit: Hit) -> None:
        Counter.objects.filter(key=key, expires_ms=hit.window, count__gt=0).update(
            count=F("count") - 1
        )

    def cull(self, *, using: str | None = None) -> int:
        deleted, _ = Counter.objects.using(using).filter(expires_ms__lte=_now_ms()).delete()
        return deleted


class LocalCounters:
    """Counters in this process's memory; the threads of a worker share them."""

    # Bounds what a flood of distinct addresses or e-mails can take
    # (a few MB): ended windows go first, then the oldest.
    MAX_KEYS = 50_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, list[int]] = {}  # key -> [count, ends_ms], oldest first

    def hit(self, key: str, seconds: int) -> Hit:
        now = _now_ms()
        with self._lock:
            window = self._windows.get(key)
            if window is None or window[1] <= now:
                self._windows.pop(key, None)
                self._make_room(now)
                window = self._windows[key] = [0, now + seconds * 1000]
            window[0] += 1
            count, ends_ms = window
        return Hit(count=count, retry_after=(ends_ms - now) / 1000, window=ends_ms)

    def give_back(self, key: str, hit: Hit) -> None:
        with self._lock:
            window = self._windows.get(key)
            if window is not None and window[1] == hit.window and window[0] > 0:
                window[0] -= 1

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()

    def _make_room(self, now: int) -> None:
        if len(self._windows) < self.MAX_KEYS:
            return
        for key in [key for key, (_, ends_ms) in self._windows.items() if ends_ms <= now]:
            del self._windows[key]
        excess = len(self._windows) - self.MAX_KEYS * 9 // 10
        for key in list(itertools.islice(self._windows, max(excess, 0))):
            del self._windows[key]


DATABASE = DatabaseCounters()
local = LocalCounters()


def shared_store() -> CounterStore:
    """The store of the ``default`` cache (see the module docstring)."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        return RedisCounters(cache)
    if isinstance(cache, DatabaseCache):
        return DATABASE
    return local
