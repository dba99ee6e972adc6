"""The SQL of the hot write path, written out once.

Every state change runs these three statements (lock, update, ledger insert).
The ORM would build and compile them on every call, which on the check-in path
cost several times the database's own work (see docs/PERFORMANCE.md); here the
SQL text is built once per database vendor and only the parameters change.
Values are adapted by Django's own field adapters, so what is written is what
the ORM would write, on PostgreSQL and on SQLite alike.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from functools import cache

from django.db import connection

from engagement import rules
from engagement.models import LedgerEntry, UserState
from users.models import User

_STATE = UserState._meta.db_table
_USER = User._meta.db_table
_LEDGER = LedgerEntry._meta.db_table
_FIELDS = rules.STATE_FIELDS


def db_user_id(user_id: uuid.UUID | str):
    """A user id as the database stores it (uuid on PostgreSQL, hex text on SQLite)."""
    return User._meta.pk.get_db_prep_value(user_id, connection)


def _as_date(value) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)  # SQLite hands dates back as text


@cache
def _lock_sql(vendor: str) -> str:
    columns = ", ".join(f"s.{field}" for field in _FIELDS)
    # SQLite has no row locks: the IMMEDIATE transaction holds the write lock.
    lock = " FOR UPDATE OF s" if vendor == "postgresql" else ""
    # Only the state row and the user's own columns: anything that depends on
    # the locked state (rewards owned, inventory) must be read after the lock
    # in a statement of its own. Under READ COMMITTED a statement that waited
    # for the lock sees the locked row as it is now, but every other table as
    # it was before the wait.
    return (
        f"SELECT {columns}, s.last_checkin_date, u.timezone, u.is_active "
        f"FROM {_STATE} s JOIN {_USER} u ON u.id = s.user_id "
        f"WHERE s.user_id = %s{lock}"
    )


def select_state_for_update(*, user_id: uuid.UUID) -> UserState | None:
    """The user's state row, locked, with ``user_timezone`` and
    ``user_is_active`` as attributes; None when the user has no state row."""
    with connection.cursor() as cursor:
        cursor.execute(_lock_sql(connection.vendor), [db_user_id(user_id)])
        found = cursor.fetchone()
    if found is None:
        return None
    numbers = found[: len(_FIELDS)]
    rest = found[len(_FIELDS) :]
    row = UserState(user_id=user_id, **dict(zip(_FIELDS, numbers, strict=True)))
    row.last_checkin_date = _as_date(rest[0])
    row.user_timezone = rest[1]
    row.user_is_active = bool(rest[2])
    row._state.adding = False
    return row


@cache
def _update_sql() -> str:
    assignments = ", ".join(f"{field} = %s" for field in _FIELDS)
    return (
        f"UPDATE {_STATE} SET {assignments}, last_checkin_date = %s, updated_at = %s "
        f"WHERE user_id = %s"
    )


def update_state(*, row: UserState, now: dt.datetime) -> None:
    ops = connection.ops
    params = [getattr(row, field) for field in _FIELDS]
    params += [
        ops.adapt_datefield_value(row.last_checkin_date),
        ops.adapt_datetimefield_value(now),
        db_user_id(row.user_id),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(), params)
        if cursor.rowcount != 1:
            raise RuntimeError(f"state row of {row.user_id} vanished while locked")
    row.updated_at = now


_LEDGER_COLUMNS = ("user_id", "kind", "ref", *_FIELDS, "state_after", "reason", "created_at")


def insert_ledger(
    *, user_id: uuid.UUID, entries: Iterable[tuple[str, str, str, dict, dict]], now: dt.datetime
) -> None:
    """One multi-row INSERT: (kind, ref, reason, applied deltas, state after) each."""
    ops = connection.ops
    created = ops.adapt_datetimefield_value(now)
    owner = db_user_id(user_id)
    rows, params = [], []
    placeholders = "(" + ", ".join(["%s"] * len(_LEDGER_COLUMNS)) + ")"
    for kind, ref, reason, deltas, state_after in entries:
        rows.append(placeholders)
        params += [owner, kind, ref, *(deltas[field] for field in _FIELDS)]
        params += [json.dumps(state_after), reason, created]
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_LEDGER} ({', '.join(_LEDGER_COLUMNS)}) VALUES {', '.join(rows)}",
            params,
        )
