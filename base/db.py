"""Database plumbing: refreshing pooled connections after a database failure."""

import threading

from django.db import connections
from django.db.backends.signals import connection_created
from django.dispatch import receiver

# --- Refreshing connections after a database failure ------------------------------
# Connections are reused (PostgreSQL: from the process's pool) and not pinged
# before use, which would cost a round trip per request. When the database
# restarts or drops connections, each idle connection would fail once on its
# next use. So when any thread of a process sees the database fail, the next
# request of that process first tests the pool's idle connections and replaces
# the dead ones (``ConnectionPool.check``); a connection held without a pool
# (SQLite) and opened before the failure is closed instead.
_failure_epoch = 0
_checked_epoch = 0
_epoch_lock = threading.Lock()


def note_database_failure() -> None:
    global _failure_epoch
    with _epoch_lock:
        _failure_epoch += 1


@receiver(connection_created)
def _stamp_new_connection(sender, connection, **kwargs) -> None:
    connection.opened_in_epoch = _failure_epoch


def recycle_connections_older_than_last_failure() -> None:
    """Call at the start of a request, outside any transaction. Costs nothing
    until a failure was noted."""
    global _checked_epoch
    if _checked_epoch != _failure_epoch:
        with _epoch_lock:
            target, pools_stale = _failure_epoch, _checked_epoch != _failure_epoch
            _checked_epoch = target
        if pools_stale:
            for wrapper in connections.all(initialized_only=True):
                pool = getattr(wrapper, "pool", None)
                if pool is not None and not pool.closed:
                    pool.check()
    for wrapper in connections.all(initialized_only=True):
        if wrapper.connection is None or wrapper.in_atomic_block:
            continue
        if getattr(wrapper, "pool", None) is None and (
            getattr(wrapper, "opened_in_epoch", _failure_epoch) < _failure_epoch
        ):
            wrapper.close()
