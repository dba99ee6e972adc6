"""Statements compiled once by Django's own compiler, run many times.

On the hottest paths, building a queryset and compiling it costs the server
more than the database spends running it (docs/PERFORMANCE.md). A
:class:`CompiledSelect` keeps the ORM the source of truth for tables, columns
and SQL: it compiles its queryset the first time each database vendor needs
it, then runs that SQL with new parameter values, adapted and read back by the
fields themselves exactly as the ORM does (the tests of each use prove it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, QuerySet


def prep_values(fields: Sequence[Field], values: Iterable[Any]) -> list[Any]:
    """Parameter values as the ORM sends them for a write."""
    return [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, values, strict=True)
    ]


def values_from_db(fields: Sequence[Field], row: Sequence[Any]) -> list[Any]:
    """A fetched row as the ORM hands it out: each field's ``from_db_value``
    where it has one (JSON), else ``to_python`` (SQLite returns dates as text
    and booleans as 0/1); datetimes aware in UTC (SQLite keeps them naive, in
    UTC, as Django writes them)."""
    values = []
    for field, value in zip(fields, row, strict=True):
        from_db = getattr(field, "from_db_value", None)
        value = from_db(value, None, connection) if from_db else field.to_python(value)
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        values.append(value)
    return values


class CompiledSelect:
    """``build(sample)`` returns a ``values_list`` queryset that uses the
    ``sample`` value as its one varying parameter; ``fields()`` the model
    fields of its columns, in order; ``prep(value)`` the parameter as the
    database takes it. Run with the real value in the sample's place(s); any
    other parameter the compiler added (e.g. PostgreSQL's ``LIMIT 1`` of an
    ``EXISTS``) is kept as compiled."""

    def __init__(
        self,
        build: Callable[[Any], QuerySet[Any, Any]],
        fields: Callable[[], list[Field]],
        *,
        sample: Any,
        prep: Callable[[Any], Any],
    ) -> None:
        self._build = build
        self._fields = fields
        self._sample = sample
        self._prep = prep
        self._compiled: dict[str, tuple[str, list[Any], list[int]]] = {}

    def _compile(self) -> tuple[str, list[Any], list[int]]:
        vendor = connection.vendor
        if vendor not in self._compiled:
            query = self._build(self._sample).query
            sql, params = query.get_compiler(connection=connection).as_sql()
            sample = self._prep(self._sample)
            positions = [i for i, param in enumerate(params) if param == sample]
            if not positions:
                raise RuntimeError(f"the sample is not among the parameters {params!r}")
            self._compiled[vendor] = (sql, list(params), positions)
        return self._compiled[vendor]

    def sql(self) -> str:
        return self._compile()[0]

    def fetchall(self, value: Any) -> list[list[Any]]:
        sql, params, positions = self._compile()
        params = list(params)
        for position in positions:
            params[position] = self._prep(value)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        fields = self._fields()
        return [values_from_db(fields, row) for row in rows]

    def fetchone(self, value: Any) -> list[Any] | None:
        rows = self.fetchall(value)
        return rows[0] if rows else None
