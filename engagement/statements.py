"""The statements of the hot write path, compiled once from the ORM.

Every state change runs the same few statements (lock, update, ledger insert,
plus the use case's own insert). Building and compiling them with the ORM on
every call cost several times the database's own work (docs/PERFORMANCE.md),
so each is compiled by Django's own query compiler the first time a database
vendor needs it, and only the parameter values change afterwards. The ORM
stays the source of truth for tables, columns and SQL; values are adapted by
each field's ``get_db_prep_save`` exactly as the ORM adapts them, and read
back through each field's ``to_python``. ``engagement/tests/
test_statements.py`` proves on both databases that they read and write what
the ORM would.

Nothing here hands out a model instance: readers get small frozen
dataclasses.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Field, Model, Q
from django.db.models.sql import InsertQuery, UpdateQuery
from django.db.models.sql.compiler import SQLInsertCompiler as GenericInsertCompiler

from base.compiled import prep_values, values_from_db
from engagement import rules
from engagement.models import LedgerEntry, UserState

STATE_COLUMNS = (*rules.STATE_FIELDS, "last_checkin_date", *rules.LOSS_FIELDS)
_SAMPLE_ID = uuid.UUID(int=1)  # stands in for a parameter while compiling
_SAMPLE_DATE = dt.date(2000, 1, 1)
_SAMPLE_MOMENT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class LockedUser:
    """What a state change holds once it has the lock: the state row and the
    user's own columns, as plain values."""

    user_id: uuid.UUID
    timezone: str
    is_active: bool
    token_version: int
    state: rules.State
    # The ``last_checkin_date`` of the streak whose ``streak.lost`` the
    # periodic job already reported (``events.streaks``): a check-in that
    # resets that streak does not report it again. Read here, under the lock.
    loss_reported_for: dt.date | None
    # The state row's copy of the user's ``leaderboard_opt_in``: whether the
    # change counts on the leaderboards. Read from the locked row itself, so a
    # change queued behind an opt-out sees it.
    leaderboard_opt_in: bool


def db_user_id(user_id: uuid.UUID | str) -> Any:
    """A user id as the database stores it (uuid on PostgreSQL, hex text on SQLite)."""
    return UserState._meta.pk.get_db_prep_value(user_id, connection)


def _field(model: type[Model], name: str) -> Field:
    field = model._meta.get_field(name)
    if not isinstance(field, Field):  # a reverse relation: no column of the model's own
        raise TypeError(f"{model.__name__}.{name} is not a column")
    return field


def _fields(model: type[Model], names: Sequence[str]) -> list[Field]:
    return list(_fields_of(model, tuple(names)))


@cache
def _fields_of(model: type[Model], names: tuple[str, ...]) -> tuple[Field, ...]:
    # Looked up once: these lists are needed on every state change.
    return tuple(_field(model, name) for name in names)


# --- The lock ----------------------------------------------------------------------
_LOCK_USER_COLUMNS = ("timezone", "is_active", "token_version")
_LOCK_MARKER_COLUMNS = ("loss_reported_for", "leaderboard_opt_in")
_LOCK_COLUMNS = (
    *STATE_COLUMNS,
    *_LOCK_MARKER_COLUMNS,
    *(f"user__{name}" for name in _LOCK_USER_COLUMNS),
)


@cache
def _lock_read_fields() -> list[Field]:
    return [
        *_fields(UserState, STATE_COLUMNS),
        *_fields(UserState, _LOCK_MARKER_COLUMNS),
        *_fields(get_user_model(), _LOCK_USER_COLUMNS),
    ]


@cache
def _lock_sql(vendor: str) -> str:
    """SELECT the state row and the user's own columns, locking the state row
    (``FOR UPDATE OF`` the state table only: the user row is read, not locked).
    SQLite has no row locks; its IMMEDIATE transaction holds the write lock.

    Only the row and the user's own columns: anything that depends on the
    locked state (rewards owned, inventory) is read after the lock in a
    statement of its own. Under READ COMMITTED a statement that waited for the
    lock sees the locked row as it is now, but every other table as it was
    before the wait."""
    query = UserState.objects.filter(user_id=_SAMPLE_ID).values_list(*_LOCK_COLUMNS)
    if connection.features.has_select_for_update_of:
        query = query.select_for_update(of=("self",))
    sql, params = query.query.get_compiler(connection=connection).as_sql()
    if len(params) != 1:
        raise RuntimeError(f"the lock should take one parameter, not {params!r}")
    return sql


def select_state_for_update(*, user_id: uuid.UUID) -> LockedUser | None:
    """Lock the user's state row; None when the user has no state row. Must run
    inside a transaction."""
    with connection.cursor() as cursor:
        cursor.execute(_lock_sql(connection.vendor), [db_user_id(user_id)])
        found = cursor.fetchone()
    if found is None:
        return None
    values = values_from_db(_lock_read_fields(), found)
    *state_values, loss_reported_for, opt_in, timezone_name, is_active, token_version = values
    return LockedUser(
        user_id=user_id,
        timezone=timezone_name,
        is_active=bool(is_active),
        token_version=token_version,
        state=rules.State(**dict(zip(STATE_COLUMNS, state_values, strict=True))),
        loss_reported_for=loss_reported_for,
        leaderboard_opt_in=bool(opt_in),
    )


# --- The state update --------------------------------------------------------------
_UPDATE_COLUMNS = (*STATE_COLUMNS, "updated_at")


@cache
def _update_sql(vendor: str) -> str:
    query = UpdateQuery(UserState)
    # In the order of _UPDATE_COLUMNS (the parameters' order), none of them None:
    # a None would compile to a literal NULL, not a parameter.
    dates = {"last_checkin_date": _SAMPLE_DATE, "streak_lost_on": _SAMPLE_DATE}
    query.add_update_values(
        {name: dates.get(name, 0) for name in STATE_COLUMNS} | {"updated_at": _SAMPLE_MOMENT}
    )
    query.add_q(Q(user_id=_SAMPLE_ID))
    sql, params = query.get_compiler(connection=connection).as_sql()
    if len(params) != len(_UPDATE_COLUMNS) + 1:
        raise RuntimeError(f"unexpected update parameters {params!r}")
    return sql


def _update_params(*, user_id: uuid.UUID, state: rules.State, now: dt.datetime) -> list[Any]:
    values = [getattr(state, name) for name in STATE_COLUMNS] + [now]
    return [*prep_values(_fields(UserState, _UPDATE_COLUMNS), values), db_user_id(user_id)]


def update_state(*, user_id: uuid.UUID, state: rules.State, now: dt.datetime) -> None:
    """Write ``state`` to the user's (locked) state row."""
    params = _update_params(user_id=user_id, state=state, now=now)
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(connection.vendor), params)
        if cursor.rowcount != 1:
            raise RuntimeError(f"state row of {user_id} vanished while locked")


# --- Inserts -----------------------------------------------------------------------
def _statements_prepared() -> bool:
    """Whether this connection prepares its statements (DB_PREPARED_STATEMENTS)."""
    return connection.settings_dict["OPTIONS"].get("prepare_threshold") is not None


@cache
def _insert_sql(
    vendor: str, model: type[Model], names: tuple[str, ...], rows: int, returning: bool
) -> str:
    """INSERT of ``rows`` rows of ``names`` into ``model``'s table; with
    ``returning``, it returns the primary key (one row)."""
    fields = _fields(model, names)
    sample = model(**{field.attname: None for field in fields})
    query = InsertQuery(model)
    query.insert_values(fields, [sample] * rows, raw=True)
    compiler = query.get_compiler(connection=connection)
    if rows > 1 and _statements_prepared():
        # One placeholder per value, VALUES (...), (...), rather than the
        # PostgreSQL compiler's UNNEST of one array per column: Django picks
        # UNNEST to save planning, but a prepared statement is planned once
        # per connection, and psycopg adapts an array parameter in Python
        # element by element (measured: no loss, up to 10% less check-in CPU;
        # docs/PERFORMANCE.md, "The floor, lever by lever").
        compiler = GenericInsertCompiler(query, connection, compiler.using)
    if returning:
        compiler.returning_fields = [model._meta.pk]
    statements = compiler.as_sql()
    if len(statements) != 1:
        raise RuntimeError(f"{model.__name__}: expected one INSERT, got {len(statements)}")
    return statements[0][0]


def insert_row(model: type[Model], values: Mapping[str, Any]) -> Any:
    """Insert one row of ``model`` (``values`` by field name) and return its
    primary key. Constraint violations raise IntegrityError as usual."""
    names = tuple(values)
    returning = connection.features.can_return_columns_from_insert
    sql = _insert_sql(connection.vendor, model, names, 1, returning)
    params = prep_values(_fields(model, names), values.values())
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0] if returning else cursor.lastrowid


_LEDGER_COLUMNS = (
    "user",
    "kind",
    "ref",
    *rules.STATE_FIELDS,
    "state_after",
    "reason",
    "created_at",
)


@dataclass(frozen=True)
class LedgerRow:
    kind: str
    ref: str
    reason: str
    deltas: rules.Deltas
    state_after: Mapping[str, Any]


@dataclass(frozen=True)
class Rows:
    """Rows to insert into ``model``'s table: values in the order of ``names``."""

    model: type[Model]
    names: tuple[str, ...]
    rows: Sequence[Sequence[Any]]


def _insert_statement(rows: Rows) -> tuple[str, list[Any]]:
    fields = _fields(rows.model, rows.names)
    prepared = [prep_values(fields, row) for row in rows.rows]
    sql = _insert_sql(connection.vendor, rows.model, rows.names, len(prepared), False)
    if len(prepared) > 1 and sql.count("%s") == len(fields):
        # PostgreSQL: Django inserts several rows as one array per column
        # (INSERT ... SELECT * FROM UNNEST(%s::type[], ...)).
        return sql, [list(column) for column in zip(*prepared, strict=True)]
    return sql, [value for row in prepared for value in row]


def insert_rows(rows: Rows) -> None:
    """Insert ``rows`` in one statement, compiled once per vendor, table,
    columns and row count; a statement of its own (``write_change`` makes it
    a CTE of the change's write where it can)."""
    if not rows.rows:
        return
    sql, params = _insert_statement(rows)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def ledger_rows(*, user_id: uuid.UUID, entries: Sequence[LedgerRow], now: dt.datetime) -> Rows:
    rows = []
    for entry in entries:
        deltas = entry.deltas.as_dict()
        values = [user_id, entry.kind, entry.ref, *(deltas[name] for name in rules.STATE_FIELDS)]
        rows.append([*values, dict(entry.state_after), entry.reason, now])
    return Rows(LedgerEntry, _LEDGER_COLUMNS, rows)


# --- A counter, and the histogram rows of its moves -------------------------------
# Django compiles no additive upsert (``ON CONFLICT ... DO UPDATE SET n = n +
# 1``: its ``update_conflicts`` only copies EXCLUDED), so this statement is
# written here, from the models' own table and column names; values are
# parameters, adapted by each field as the ORM adapts them. PostgreSQL and
# SQLite (3.35+) share the syntax.
@dataclass(frozen=True)
class Histogram:
    """Where a counter's moves are appended: rows of ``model`` with the fixed
    ``values`` (by field name), the counter's value in ``score`` and +1 or -1
    in ``amount``. Rows are only ever inserted (no two writers share a row);
    a reader sums them, and a periodic job folds them."""

    model: type[Model]
    values: Mapping[str, Any]
    score: str
    amount: str


@dataclass(frozen=True)
class Counter:
    """One more in ``model``'s counter row at ``key`` (values by field name):
    its ``count`` column + 1, or a new row at 1. With ``histogram``, the move
    from n - 1 to n is appended there in the same statement: -1 at n - 1 (when
    above 0), +1 at n."""

    model: type[Model]
    key: Mapping[str, Any]
    count: str
    histogram: Histogram | None = None

    def moves(self, new_value: int) -> list[list[Any]]:
        """The histogram rows of a move to ``new_value`` (values in the order
        of :meth:`histogram_names`)."""
        if self.histogram is None:
            return []
        fixed = list(self.histogram.values.values())
        moved = [(new_value - 1, -1), (new_value, 1)]
        return [[*fixed, value, amount] for value, amount in moved if value > 0]

    def histogram_names(self) -> tuple[str, ...]:
        if self.histogram is None:
            return ()
        histogram = self.histogram
        return (*histogram.values, histogram.score, histogram.amount)


def _quoted(model: type[Model], names: Sequence[str]) -> list[str]:
    columns = [_field(model, name).column for name in names]
    if None in columns:
        raise TypeError(f"{model.__name__}: {names} are not all columns")
    return [connection.ops.quote_name(str(column)) for column in columns]


@cache
def _counter_sql(vendor: str, model: type[Model], keys: tuple[str, ...], count: str) -> str:
    table = connection.ops.quote_name(model._meta.db_table)
    columns = _quoted(model, (*keys, count))
    counted = columns[-1]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
        f" ON CONFLICT ({', '.join(columns[:-1])})"
        f" DO UPDATE SET {counted} = {table}.{counted} + 1 RETURNING {table}.{counted} AS n"
    )


def _counter_statement(counter: Counter) -> tuple[str, list[Any]]:
    keys = tuple(counter.key)
    sql = _counter_sql(connection.vendor, counter.model, keys, counter.count)
    params = prep_values(_fields(counter.model, (*keys, counter.count)), [*counter.key.values(), 1])
    return sql, params


@cache
def _moves_sql(vendor: str, model: type[Model], names: tuple[str, ...]) -> str:
    """PostgreSQL: the histogram rows of the counter's move, from the
    ``counter`` CTE's RETURNING; the fixed values are parameters."""
    table = connection.ops.quote_name(model._meta.db_table)
    fixed = ", ".join(["%s"] * (len(names) - 2))
    return (
        f"INSERT INTO {table} ({', '.join(_quoted(model, names))})"
        f" SELECT {fixed}, moved.score, moved.amount FROM ("
        "SELECT counter.n + shift.step AS score, shift.amount FROM counter"
        " CROSS JOIN (VALUES (-1, -1), (0, 1)) AS shift (step, amount)"
        ") AS moved WHERE moved.score > 0"
    )


def counter_add(counter: Counter) -> int:
    """Run ``counter`` and append its move to its histogram: two statements
    at most, in the caller's transaction. Returns the counter's new value."""
    with connection.cursor() as cursor:
        cursor.execute(*_counter_statement(counter))
        value = int(cursor.fetchone()[0])
    if counter.histogram is not None:
        histogram = counter.histogram
        insert_rows(Rows(histogram.model, counter.histogram_names(), counter.moves(value)))
    return value


def _counter_ctes(counter: Counter) -> tuple[list[str], list[Any]]:
    sql, params = _counter_statement(counter)
    parts = [f"counter AS ({sql})"]
    if counter.histogram is not None:
        histogram = counter.histogram
        names = counter.histogram_names()
        parts.append(f"counter_moves AS ({_moves_sql(connection.vendor, histogram.model, names)})")
        fixed = _fields(histogram.model, tuple(histogram.values))
        params += prep_values(fixed, histogram.values.values())
    return parts, params


# --- The whole write of a change ---------------------------------------------------
@cache
def _write_sql(update_sql: str, insert_sqls: tuple[str, ...], extra: tuple[str, ...] = ()) -> str:
    """One statement: the state update and each insert as data-modifying CTEs
    (PostgreSQL runs every one of them whether or not it is referenced), and
    the number of state rows updated as its result."""
    parts = [f"state_update AS ({update_sql} RETURNING 1)"]
    parts += [f"insert_{i} AS ({sql})" for i, sql in enumerate(insert_sqls)]
    parts += extra
    return "WITH " + ", ".join(parts) + " SELECT count(*) FROM state_update"


def write_change(
    *,
    user_id: uuid.UUID,
    state: rules.State,
    now: dt.datetime,
    inserts: Sequence[Rows],
    counter: Counter | None = None,
) -> None:
    """Write ``state`` to the user's locked state row, insert ``inserts``
    (the ledger entries, the events, the leaderboards' rows) and add one to
    ``counter`` (the week's check-ins): one round trip on PostgreSQL, where
    each statement is a data-modifying CTE of one statement; one statement
    each elsewhere. The statements are the same either way."""
    inserts = [rows for rows in inserts if rows.rows]
    if connection.vendor != "postgresql":
        update_state(user_id=user_id, state=state, now=now)
        for rows in inserts:
            insert_rows(rows)
        if counter is not None:
            counter_add(counter)
        return
    params = _update_params(user_id=user_id, state=state, now=now)
    insert_sqls = []
    for rows in inserts:
        sql, insert_params = _insert_statement(rows)
        insert_sqls.append(sql)
        params += insert_params
    extra: list[str] = []
    if counter is not None:
        extra, counter_params = _counter_ctes(counter)
        params += counter_params
    sql = _write_sql(_update_sql(connection.vendor), tuple(insert_sqls), tuple(extra))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.fetchone()[0] != 1:
            raise RuntimeError(f"state row of {user_id} vanished while locked")


# --- GET /me: the profile and the state ---------------------------------------------
@dataclass(frozen=True)
class Profile:
    """The user's own columns a response shows."""

    id: uuid.UUID
    email: str
    display_name: str
    timezone: str
    date_joined: dt.datetime
    leaderboard_opt_in: bool

    @property
    def pk(self) -> uuid.UUID:
        return self.id


@dataclass(frozen=True)
class ProfileWithState:
    profile: Profile
    state: rules.State
    token_version: int  # checked against the caller's token, never shown


_PROFILE_COLUMNS = (
    "email",
    "display_name",
    "timezone",
    "date_joined",
    "leaderboard_opt_in",
    "token_version",
)


@cache
def _profile_read_fields() -> list[Field]:
    return [
        *_fields(get_user_model(), _PROFILE_COLUMNS),
        *_fields(UserState, STATE_COLUMNS),
    ]


@cache
def _profile_sql(vendor: str) -> str:
    query = UserState.objects.filter(user_id=_SAMPLE_ID, user__is_active=True).values_list(
        *(f"user__{name}" for name in _PROFILE_COLUMNS), *STATE_COLUMNS
    )
    sql, params = query.query.get_compiler(connection=connection).as_sql()
    if len(params) != 1:  # the user id (the active flag compiles to a condition)
        raise RuntimeError(f"unexpected parameters {params!r}")
    return sql


def select_profile_and_state(*, user_id: uuid.UUID) -> ProfileWithState | None:
    """The active user's profile and state in one query (GET /me, the most
    frequent read); None when the account is inactive, gone, or has no state
    row yet."""
    with connection.cursor() as cursor:
        cursor.execute(_profile_sql(connection.vendor), [db_user_id(user_id)])
        found = cursor.fetchone()
    if found is None:
        return None
    values = values_from_db(_profile_read_fields(), found)
    email, display_name, timezone_name, joined, opt_in, token_version, *state_values = values
    return ProfileWithState(
        profile=Profile(
            id=user_id,
            email=email,
            display_name=display_name,
            timezone=timezone_name,
            date_joined=joined,
            leaderboard_opt_in=bool(opt_in),
        ),
        state=rules.State(**dict(zip(STATE_COLUMNS, state_values, strict=True))),
        token_version=token_version,
    )
