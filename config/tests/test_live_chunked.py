"""Chunked request bodies through the production servers (bin/serve).

The test client never sends ``Transfer-Encoding: chunked``; what granian and
gunicorn hand Django for one (no CONTENT_LENGTH, a de-chunked ``wsgi.input``)
is only seen by starting them. Each server runs once per class, in a
subprocess on a port the kernel picks (config/tests/live_server.py), against
this test run's own database (SQLite file or PostgreSQL), so rows committed
here (``transactional_db``) are what the server sees.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from checkins.models import CheckIn
from config.tests import live_server
from users.tests.factories import UserFactory
from users.tokens import token_pair

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0

pytestmark = pytest.mark.django_db(transaction=True)


def database_url() -> str:
    """The URL of the test database this process uses (the NAME is the test
    database's once pytest-django has set it up)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    if connection.vendor == "postgresql":
        credentials = quote(db["USER"] or "postgres", safe="")
        if db["PASSWORD"]:
            credentials += ":" + quote(db["PASSWORD"], safe="")
        host = db["HOST"] or "127.0.0.1"
        port = db["PORT"] or 5432
        return f"postgres://{credentials}@{host}:{port}/{db['NAME']}"
    raise AssertionError(f"no live-server support for {connection.vendor}")


Server = live_server.LiveServer


def server_env(name: str) -> dict[str, str]:
    return {
        **os.environ,
        "WEB_SERVER": name,
        "DATABASE_URL": database_url(),
        # The same key as this process, so the tokens issued here are valid there.
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "THROTTLE_USER": "off",
        "BIND": "127.0.0.1",
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": "2",
        # The database server is shared: two connections are plenty here.
        "DB_POOL_MAX": "2",
        "WEB_GRACEFUL_TIMEOUT": "5",
        "PY_BIN": str(Path(sys.executable).parent),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }


@pytest.fixture(scope="class", params=["granian", "gunicorn"])
def server(request, django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Server]:
    with django_db_blocker.unblock():  # reads the test database's settings only
        env = server_env(request.param)
    server = live_server.start(
        [str(ROOT / "bin/serve")],
        env=env,
        log=tmp_path_factory.mktemp(request.param) / "server.log",
        cwd=ROOT,
        name=request.param,
        timeout=START_TIMEOUT,
    )
    try:
        yield server
    finally:
        server.stop(timeout=STOP_TIMEOUT)


@dataclass
class Reply:
    status: int
    content_type: str
    body: dict


def send_chunked(server: Server, method: str, path: str, chunks: Iterator[bytes], token: str):
    """``method path`` with ``Transfer-Encoding: chunked`` and no Content-Length."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        # A server that refuses a body early answers and stops reading it: the
        # send fails, but the answer is already on its way (curl reads it too).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.request(
                method,
                path,
                body=chunks,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                encode_chunked=True,
            )
        response = connection.getresponse()
        raw = response.read()
        return Reply(response.status, response.getheader("Content-Type", ""), json.loads(raw))
    finally:
        connection.close()


def pieces(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


class TestChunkedBodies:
    def test_a_chunked_patch_is_applied(self, server):
        user = UserFactory(display_name="Before")

        reply = send_chunked(
            server,
            "PATCH",
            "/api/v1/me",
            iter([b'{"display_name":', b' "Chunky"}']),
            token_pair(user)["access"],
        )

        assert reply.status == 200, (reply, server.log_tail())
        assert reply.body["user"]["display_name"] == "Chunky"
        user.refresh_from_db()
        assert user.display_name == "Chunky"

    def test_a_5mb_chunked_body_is_413(self, server):
        user = UserFactory(display_name="Before")
        body = b'{"display_name": "' + b"x" * 5_000_000 + b'"}'

        reply = send_chunked(
            server, "PATCH", "/api/v1/me", pieces(body), token_pair(user)["access"]
        )

        assert reply.status == 413, (reply, server.log_tail())
        assert reply.content_type == "application/problem+json"
        assert reply.body["code"] == "payload_too_large"
        user.refresh_from_db()
        assert user.display_name == "Before"

    def test_a_chunked_body_with_unknown_fields_is_400(self, server):
        user = UserFactory()

        reply = send_chunked(
            server,
            "POST",
            "/api/v1/checkins",
            iter([b'{"date": "2030-01-01",', b' "streak": 999}']),
            token_pair(user)["access"],
        )

        assert reply.status == 400, (reply, server.log_tail())
        assert reply.content_type == "application/problem+json"
        assert reply.body["code"] == "validation_error"
        assert CheckIn.objects.count() == 0
