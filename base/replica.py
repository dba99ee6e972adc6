"""Reads on a streaming replica, when one is configured and close enough behind.

Only the views that opt in read there (catalog, history, leaderboards, the
event feed: docs/SCALING.md, "Read replica"), each naming the database for its
selectors explicitly (``using``): some of those reads run compiled SQL on a
connection, which a ``DATABASE_ROUTERS`` router never sees, and a board's
reads share one snapshot transaction, which must be on the same database as
they are. Everything else, every write and every read inside a transaction,
stays on the primary.

**Freshness.** Each process measures, at most every ``CHECK_SECONDS``, how far
the replica is behind: it samples the primary's WAL position, then asks the
replica how far it has replayed. Once it has replayed past a sample, every
transaction that committed on the primary before that sample was taken is
visible on the replica: that moment is the replica's *horizon*. Reads go to
the replica only while the horizon is less than ``MAX_LAG_SECONDS`` old; a
replica whose replay stalls or falls behind ages out, and the reads return to
the primary by themselves.

**Read-your-writes.** A user reads from the primary until the replica's
horizon has passed their last write. The write's time is kept in the shared
cache (``ReplicaWritesMiddleware``: every successful unsafe request of an
authenticated user), and a freshly issued token counts as a write (its
``iat``), which covers registration and login, whose requests carry no user
yet. ``CLOCK_SKEW_SECONDS`` allows for app servers' clocks disagreeing.

**Failure.** A replica that cannot be reached (connection refused, pool
timeout, a connection broken mid-read) is left alone for ``RETRY_SECONDS``;
the read that saw the failure runs again on the primary, so the client sees
no error. A read cancelled by a replay conflict runs again on the primary too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

PRIMARY = DEFAULT_DB_ALIAS
T = TypeVar("T")

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# iat is in whole seconds: the token may have been issued up to a second later.
_IAT_RESOLUTION = 1.0


@dataclass
class Health:
    """One process's view of the replica."""

    horizon: float = float("-inf")  # every commit before it (time.time()) is on the replica
    checked_at: float = float("-inf")
    down_until: float = float("-inf")
    behind_bytes: int | None = None  # WAL the replica had still to replay at the last check
    # (time, the primary's WAL position then), oldest first, not yet replayed.
    samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=256))


_health = Health()
_measuring = threading.Lock()
_pool_lock = threading.Lock()


def _conf() -> dict[str, Any]:
    conf: dict[str, Any] = settings.REPLICA
    return conf


def configured_alias() -> str | None:
    alias: str | None = _conf()["ALIAS"]
    return alias


def health() -> Health:
    return _health


def forget_health() -> None:
    """Start over (tests, and a settings change)."""
    global _health
    _health = Health()


# --- Measuring the lag ------------------------------------------------------------------
def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def measure(alias: str) -> None:
    """One measurement, by one thread of the process at a time (the others go
    on with the previous one, never fresher than it was).

    The primary's WAL position is sampled at every measurement; the horizon
    is the time of the newest sample the replica has replayed past. Under a
    steady stream of writes the replica is never quite at the position just
    sampled, but it passes the one sampled a measurement earlier: the horizon
    trails the truth by at most the lag plus ``CHECK_SECONDS``."""
    if not _measuring.acquire(blocking=False):
        return
    try:
        started = time.time()
        with connections[PRIMARY].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()::text")
            _health.samples.append((started, _lsn(cursor.fetchone()[0])))
        coming_back = _health.down_until > float("-inf")
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text")
                in_recovery, replayed = cursor.fetchone()
        except (OperationalError, InterfaceError) as exc:
            _note_down(alias, exc)
            return
        _health.checked_at = started
        if not in_recovery or replayed is None:
            # Promoted, or not a standby at all: it no longer follows this primary.
            logger.error("the read replica is not in recovery: reads stay on the primary")
            _health.behind_bytes = None
            return
        replayed_lsn = _lsn(replayed)
        _health.behind_bytes = max(_health.samples[-1][1] - replayed_lsn, 0)
        while _health.samples and _health.samples[0][1] <= replayed_lsn:
            at, _ = _health.samples.popleft()
            _health.horizon = max(_health.horizon, at)
        if coming_back:
            logger.info("the read replica is back")
            _health.down_until = float("-inf")
    finally:
        _measuring.release()


def _note_down(alias: str, exc: BaseException) -> None:
    wrapper = connections[alias]
    raw = wrapper.connection
    broken = raw is None or getattr(raw, "broken", False) or getattr(raw, "closed", False)
    if not wrapper.in_atomic_block:
        # Back to the pool, which discards a broken connection.
        wrapper.close()
    if not broken:
        # The replica answered (e.g. a query cancelled by a replay conflict):
        # this read goes to the primary, the next ones may try again.
        logger.warning("a read on the replica failed, read again on the primary: %s", exc)
        return
    retry = float(_conf()["RETRY_SECONDS"])
    _health.down_until = time.time() + retry
    _close_pool(alias)
    logger.warning(
        "the read replica is unreachable: reads go to the primary for %.0f s: %s", retry, exc
    )


def _close_pool(alias: str) -> None:
    """Close the process's pool of replica connections: its idle connections
    are dead, and it would keep trying to reconnect in the background. The
    first use after ``RETRY_SECONDS`` opens a new one."""
    # Django's own close_pool() waits up to 5 s for the pool's workers; a
    # request should not. (The pools live in the backend class, per alias.)
    pools = getattr(type(connections[alias]), "_connection_pools", {})
    with _pool_lock:
        pool = pools.pop(alias, None)
    if pool is not None:
        pool.close(timeout=0.1)


def replica_alias() -> str:
    """The replica's alias when it is up and less than ``MAX_LAG_SECONDS``
    behind, else the primary's."""
    alias = configured_alias()
    if alias is None:
        return PRIMARY
    conf = _conf()
    now = time.time()
    if now < _health.down_until:
        return PRIMARY
    if now - _health.checked_at >= conf["CHECK_SECONDS"]:
        measure(alias)
    if now < _health.down_until or now - _health.horizon > conf["MAX_LAG_SECONDS"]:
        return PRIMARY
    return alias


# --- Read-your-writes ---------------------------------------------------------------------
def _wrote_key(user_id: object) -> str:
    return f"replica:wrote:{user_id}"


def note_write(*, user_id: object) -> None:
    """The user has just written: their reads stay on the primary until the
    replica has it. Kept only as long as it can matter (after that, either the
    horizon has passed it or the replica is too far behind to be used)."""
    conf = _conf()
    timeout = conf["MAX_LAG_SECONDS"] + conf["CHECK_SECONDS"] + conf["CLOCK_SKEW_SECONDS"] + 1
    try:
        cache.set(_wrote_key(user_id), time.time(), timeout=int(timeout) + 1)
    except Exception:
        # Redis down: this user may read up to MAX_LAG_SECONDS old data.
        logger.warning("could not record a write for read-your-writes", exc_info=True)


def read_alias(*, user_id: object | None, token_issued_at: float | None = None) -> str:
    """Where this user's staleness-tolerant read goes now."""
    if configured_alias() is None or connections[PRIMARY].in_atomic_block:
        return PRIMARY
    alias = replica_alias()
    if alias == PRIMARY:
        return PRIMARY
    horizon = _health.horizon - _conf()["CLOCK_SKEW_SECONDS"]
    if token_issued_at is not None and token_issued_at + _IAT_RESOLUTION >= horizon:
        return PRIMARY
    if user_id is not None:
        try:
            wrote = cache.get(_wrote_key(user_id))
        except Exception:
            logger.warning("could not read the last write's time: read on the primary")
            return PRIMARY
        if wrote is not None and wrote >= horizon:
            return PRIMARY
    return alias


def request_read_alias(request: Any) -> str:
    """:func:`read_alias` for a DRF request: its user and its token's ``iat``."""
    user = getattr(request, "user", None)
    token = getattr(request, "auth", None)
    issued_at = token.get("iat") if token is not None and hasattr(token, "get") else None
    return read_alias(
        user_id=getattr(user, "pk", None),
        token_issued_at=float(issued_at) if isinstance(issued_at, int | float) else None,
    )


def read_with_fallback(read: Callable[[str], T], alias: str) -> T:
    """``read(alias)``; on the replica, a failure reads again on the primary."""
    if alias == PRIMARY:
        return read(PRIMARY)
    try:
        return read(alias)
    except (OperationalError, InterfaceError) as exc:
        _note_down(alias, exc)
        return read(PRIMARY)


class ReplicaReadsMixin:
    """For a view whose reads may come from the replica: run the action with
    :meth:`reading`, and hand ``self.read_alias`` to the selectors."""

    read_alias: str = PRIMARY

    def reading(self, request: Any, action: Callable[[], T]) -> T:
        def run(alias: str) -> T:
            self.read_alias = alias
            return action()

        return read_with_fallback(run, request_read_alias(request))


class ReplicaWritesMiddleware:
    """Records the time of every successful unsafe request of an authenticated
    user, for read-your-writes. Listed before the middleware that opens a
    request's transaction, so the write has committed when it runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.method not in _SAFE_METHODS
            and response.status_code < 400
            and configured_alias() is not None
        ):
            user_id = getattr(getattr(request, "user", None), "pk", None)
            if user_id is not None:
                note_write(user_id=user_id)
        return response
