"""The counter increment, written out once: the ORM has no
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``, the one statement that
counts a hit and hands back the new count atomically on PostgreSQL and SQLite
alike (a read then a write, as ``DatabaseCache.incr`` does, lets parallel
requests both read 9 and both write 10)."""

from __future__ import annotations

from django.db import connections

from throttles.models import Counter

_TABLE = Counter._meta.db_table
# Every expression of DO UPDATE reads the row as it was before this statement,
# so a window that has ended restarts at 1 with a new end, in the same step.
_HIT = (
    f'INSERT INTO {_TABLE} ("key", "count", expires_ms) VALUES (%s, 1, %s) '
    'ON CONFLICT ("key") DO UPDATE SET '
    f'"count" = CASE WHEN {_TABLE}.expires_ms <= %s THEN 1 ELSE {_TABLE}."count" + 1 END, '
    f"expires_ms = CASE WHEN {_TABLE}.expires_ms <= %s "
    f"THEN excluded.expires_ms ELSE {_TABLE}.expires_ms END "
    'RETURNING "count", expires_ms'
)


def counter_hit(*, key: str, now_ms: int, window_ms: int, using: str) -> tuple[int, int]:
    """Count one hit of ``key``: (hits in its window, when the window ends).

    A window opens with the first hit after the previous one ended and lasts
    ``window_ms``. One statement: on PostgreSQL concurrent upserts of a key
    queue on its row and each sees the count the one before it left; SQLite
    has a single writer.
    """
    with connections[using].cursor() as cursor:
        cursor.execute(_HIT, [key, now_ms + window_ms, now_ms, now_ms])
        count, ends_ms = cursor.fetchone()
    return int(count), int(ends_ms)
