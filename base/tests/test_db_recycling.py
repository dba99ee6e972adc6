"""After a database failure, no request is handed a connection that died
while it sat idle."""

import pytest
from django.db import connection

from base.db import note_database_failure, recycle_connections_older_than_last_failure

pooled = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="connection pool: PostgreSQL only"
)
unpooled = pytest.mark.skipif(
    connection.vendor == "postgresql", reason="PostgreSQL connections are pooled"
)


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pooled
@pytest.mark.django_db(transaction=True)
def test_idle_pooled_connections_killed_by_a_failure_are_replaced():
    # Given the pool's idle connections were terminated
    victim = _backend_pid()
    connection.close()  # back to the pool, idle
    from psycopg import connect

    settings = connection.settings_dict
    with connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"],
        dbname=settings["NAME"],
        autocommit=True,
    ) as admin:
        # every idle connection of the pool, the victim among them
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() AND state = 'idle'",
            [settings["NAME"]],
        )

    # When a failure is noted and the next request starts
    note_database_failure()
    recycle_connections_older_than_last_failure()

    # Then the next query gets a live connection, not the dead one
    assert _backend_pid() != victim


@unpooled
@pytest.mark.django_db(transaction=True)
def test_connections_opened_before_a_database_failure_are_recycled():
    connection.ensure_connection()
    assert connection.connection is not None

    note_database_failure()  # seen by any thread of this process
    recycle_connections_older_than_last_failure()

    assert connection.connection is None
    connection.ensure_connection()
    fresh = connection.connection
    recycle_connections_older_than_last_failure()
    assert connection.connection is fresh  # opened after the failure: kept


@pytest.mark.django_db
def test_a_connection_inside_a_transaction_is_left_alone():
    connection.ensure_connection()
    note_database_failure()

    recycle_connections_older_than_last_failure()

    assert connection.connection is not None
