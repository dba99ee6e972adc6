"""The shape docs/ARCHITECTURE.md describes: a keyed POST locks its key row
first, then the user's state row, and stores the response in the same
transaction as the work."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from users.tests.factories import client_for

pytestmark = pytest.mark.django_db

KEYS = "engagement_idempotencykey"
STATES = "engagement_userstate"


def position(sql: list[str], *, table: str, verb: str, last: bool = False) -> int:
    # On PostgreSQL the state update is a CTE of the change's one write.
    def is_verb(s: str) -> bool:
        s = s.lstrip().upper()
        return s.startswith(verb) or (s.startswith("WITH") and f"({verb} " in s)

    found = [i for i, s in enumerate(sql) if table in s and is_verb(s)]
    assert found, f"no {verb} on {table} in:\n" + "\n".join(sql)
    return found[-1] if last else found[0]


def test_the_key_is_locked_before_the_state_and_stored_after_the_work(user):
    client = client_for(user)
    client.get("/api/v1/me")  # the state row exists, as for any regular user

    with CaptureQueriesContext(connection) as captured:
        response = client.post("/api/v1/checkins", HTTP_IDEMPOTENCY_KEY="shape-1")

    assert response.status_code == 201
    sql = [q["sql"] for q in captured.captured_queries]
    claimed = position(sql, table=KEYS, verb="INSERT")
    key_read = position(sql, table=KEYS, verb="SELECT")
    state_locked = position(sql, table=STATES, verb="SELECT")
    state_saved = position(sql, table=STATES, verb="UPDATE")
    stored = position(sql, table=KEYS, verb="UPDATE", last=True)
    assert claimed < key_read < state_locked < state_saved < stored, "\n".join(sql)
    if connection.vendor == "postgresql":
        assert sql[key_read].rstrip().endswith("FOR UPDATE")
        assert "FOR UPDATE" in sql[state_locked]
    # One transaction: the service's block is a savepoint inside the middleware's.
    assert any(s.startswith("SAVEPOINT") for s in sql[key_read:state_locked]), "\n".join(sql)
    assert not any(s.upper().startswith("COMMIT") for s in sql[claimed:stored]), "\n".join(sql)
