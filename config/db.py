"""Database plumbing: recycling connections after a database failure."""

import threading

from django.db import connections
from django.db.backends.signals import connection_created
from django.dispatch import receiver

# --- Recycling connections after a database failure ------------------------------
# Connections are persistent and not pinged before use (a round trip per
# request). When the database restarts or drops connections, each idle
# connection would fail once on its next use. So when any thread of a process
# sees the database fail, every connection of that process opened before the
# failure is closed at the start of its next request instead of failing it.
_failure_epoch = 0
_epoch_lock = threading.Lock()


def note_database_failure() -> None:
    global _failure_epoch
    with _epoch_lock:
        _failure_epoch += 1


@receiver(connection_created)
def _stamp_new_connection(sender, connection, **kwargs) -> None:
    connection.opened_in_epoch = _failure_epoch


def recycle_connections_older_than_last_failure() -> None:
    """Call at the start of a request, outside any transaction."""
    for wrapper in connections.all(initialized_only=True):
        if wrapper.connection is None or wrapper.in_atomic_block:
            continue
        if getattr(wrapper, "opened_in_epoch", _failure_epoch) < _failure_epoch:
            wrapper.close()
