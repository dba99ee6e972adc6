"""The floor: the least a Python server can do for a check-in and a `GET /me`
on this stack, measured beside the service by `make bench --floor`.

A bare WSGI callable under the same granian shape as the service: it checks
the bearer token with PyJWT (the service's key, algorithm and claims), takes
a connection from a psycopg pool (statements prepared, as the service
prepares them) and runs the very statements the service sends for that user,
captured from a real check-in and a real `/me` (scripts/bench/run.py); every
bench user is a copy of one template, so they are that user's statements too.
No Django, no DRF, no middleware, no rules in Python, no idempotency, no
events computed: what remains is HTTP, the token, the pool and the SQL. The
service's cost above it is what its framework and its guarantees cost.

Not a service: it knows two routes and answers nothing else well. Configured
by FLOOR_SPEC, a JSON file run.py writes: {"dsn", "key", "algorithm",
"user_id_claim", "checkin": [statements], "duplicate_at": index of the
check-in's INSERT, "me": statement}, with ``:uid::int`` and ``:day::int``
where the user and the day go.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid

import jwt
from psycopg_pool import ConnectionPool

SPEC = json.loads(open(os.environ["FLOOR_SPEC"]).read())  # noqa: SIM115 (read once, at import)


def _parameterised(sql: str) -> str:
    return (
        sql.replace("%", "%%")
        .replace(":uid::int", "%(uid)s::int")
        .replace(":day::int", "%(day)s::int")
    )


CHECKIN = [_parameterised(sql) for sql in SPEC["checkin"]]
ME = _parameterised(SPEC["me"])
POOL = ConnectionPool(
    SPEC["dsn"],
    min_size=1,
    max_size=int(os.environ.get("DB_POOL_MAX", 10)),
    kwargs={"prepare_threshold": 2, "autocommit": True},
    open=True,
)
FIRST_DAY = dt.date(2000, 1, 3)  # the day :day counts from


def _user_number(environ: dict) -> int | None:
    header = environ.get("HTTP_AUTHORIZATION", "")
    if not header.startswith("Bearer "):
        return None
    try:
        claims = jwt.decode(header[7:], SPEC["key"], algorithms=[SPEC["algorithm"]])
        return uuid.UUID(claims[SPEC["user_id_claim"]]).int
    except (jwt.InvalidTokenError, KeyError, ValueError):
        return None


def _answer(start_response, status: str, body: object) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def application(environ: dict, start_response) -> list[bytes]:
    user = _user_number(environ)
    if user is None:
        return _answer(start_response, "401 Unauthorized", {"code": "not_authenticated"})
    params = {"uid": user, "day": (dt.datetime.now(dt.UTC).date() - FIRST_DAY).days}
    path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
    with POOL.connection() as conn:
        if path == "/checkins" and method == "POST":
            with conn.transaction() as transaction:
                for index, sql in enumerate(CHECKIN):
                    cursor = conn.execute(sql, params, prepare=True)
                    if index == SPEC["duplicate_at"] and cursor.fetchone() is None:
                        transaction.force_rollback = True  # already checked in today
                        break
                else:
                    return _answer(start_response, "201 Created", {"checked_in": True})
            return _answer(start_response, "409 Conflict", {"code": "already_checked_in"})
        if path == "/me" and method == "GET":
            row = conn.execute(ME, params, prepare=True).fetchone()
            return _answer(start_response, "200 OK", {"me": [str(value) for value in row]})
    return _answer(start_response, "404 Not Found", {"code": "not_found"})
