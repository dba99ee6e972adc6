import pytest
from django.db import connection

from config.db import note_database_failure, recycle_connections_older_than_last_failure


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
