"""What running behind PgBouncer in transaction pooling asks of the settings
(docs/SCALING.md). The behaviour itself is proven through a real PgBouncer by
`make test-pgbouncer` (scripts/chaos/test_pgbouncer.py)."""

import configparser
import json

import pytest
import yaml

from config.tests.test_security import BASE_DIR, PRODUCTION_ENV, manage

SHOW_CONNECTION = (
    "import json; from django.db import connection;"
    "params = connection.get_connection_params();"
    "off = connection.settings_dict.get('DISABLE_SERVER_SIDE_CURSORS', False);"
    "binding = connection.features.uses_server_side_binding;"
    "print(json.dumps({'cursors_off': off, 'server_side_binding': binding,"
    " 'params': sorted(k for k in params if k not in ('context', 'cursor_factory')),"
    " 'prepare_threshold': params['prepare_threshold']}))"
)
PGBOUNCER_URL = "postgres://engagement@127.0.0.1:6432/engagement"


def show_connection(**env: str):
    return manage(
        "shell", "-c", SHOW_CONNECTION, env={**PRODUCTION_ENV, "DATABASE_URL": PGBOUNCER_URL, **env}
    )


def connection_settings(**env: str) -> dict:
    """The settings of a PostgreSQL connection (no connection is opened)."""
    result = show_connection(**env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_db_transaction_pooling_turns_server_side_cursors_off():
    assert connection_settings(DB_TRANSACTION_POOLING="1")["cursors_off"] is True
    assert connection_settings()["cursors_off"] is False


def test_nothing_in_the_connection_needs_a_session_or_an_unknown_startup_parameter():
    """No prepared statements and client-side binding (PgBouncer 1.18 carries
    no prepared statement between transactions), and only parameters
    PgBouncer accepts: no `options`."""
    shown = connection_settings(DB_TRANSACTION_POOLING="1")

    assert shown["prepare_threshold"] is None
    assert shown["server_side_binding"] is False
    assert shown["params"] == [
        "client_encoding",
        "connect_timeout",
        "dbname",
        "host",
        "port",
        "prepare_threshold",
        "user",
    ]


def test_straight_to_postgresql_statements_are_bound_by_the_server_and_prepared():
    shown = connection_settings()
    assert shown["server_side_binding"] is True
    assert shown["prepare_threshold"] == 2
    assert connection_settings(DB_PREPARE_THRESHOLD="5")["prepare_threshold"] == 5

    off = connection_settings(DB_PREPARED_STATEMENTS="0")
    assert off["server_side_binding"] is False
    assert off["prepare_threshold"] is None


def test_prepared_statements_and_transaction_pooling_are_refused_together():
    result = show_connection(DB_TRANSACTION_POOLING="1", DB_PREPARED_STATEMENTS="1")

    assert result.returncode != 0
    assert "DB_PREPARED_STATEMENTS cannot be on with DB_TRANSACTION_POOLING" in result.stderr


@pytest.fixture(scope="module")
def pgbouncer_ini() -> configparser.ConfigParser:
    ini = configparser.ConfigParser(inline_comment_prefixes=(";",))
    ini.read(BASE_DIR / "docker" / "pgbouncer" / "pgbouncer.ini")
    return ini


def test_compose_pgbouncer_is_optional_and_pools_transactions(pgbouncer_ini):
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    service = compose["services"]["pgbouncer"]

    assert service["profiles"] == ["pgbouncer"]
    assert service["build"] == "docker/pgbouncer"
    bouncer = pgbouncer_ini["pgbouncer"]
    assert bouncer["pool_mode"] == "transaction"
    assert bouncer["ignore_startup_parameters"] == ""
    assert bouncer["server_reset_query_always"] == "0"
    assert int(bouncer["query_wait_timeout"]) <= 10  # fails fast, not after 120 s
    user = compose["services"]["db"]["environment"]["POSTGRES_USER"]
    password = compose["services"]["db"]["environment"]["POSTGRES_PASSWORD"]
    userlist = (BASE_DIR / "docker" / "pgbouncer" / "userlist.txt").read_text()
    assert userlist == f'"{user}" "{password}"\n'
