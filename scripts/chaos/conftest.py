"""Fault tests against the real production server (bin/serve, several workers)
on a PostgreSQL database of their own, reached through a TCP proxy the tests
can break. Run with `make chaos`."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT / "scripts"))  # pgbouncer.py

from proxy import TcpProxy  # noqa: E402

PG_HOST, PG_PORT = "127.0.0.1", 5432
ADMIN_URL = os.environ.get("CHAOS_ADMIN_URL", f"postgres://postgres@{PG_HOST}:{PG_PORT}/postgres")
DB_NAME = os.environ.get("CHAOS_DB", "engagement_chaos")
DIRECT_URL = ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME
APP_NAME = "engagement-chaos-server"
SECRET = "chaos-only-" + uuid.uuid4().hex * 2

BASE_ENV = {
    **os.environ,
    "DATABASE_URL": DIRECT_URL,
    "DEBUG": "0",
    "SECRET_KEY": SECRET,
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "0",
    "THROTTLE_USER": "100000000/min",
    "THROTTLE_LOGIN": "100000000/min",
    "THROTTLE_REGISTER": "100000000/min",
    "THROTTLE_ANON": "100000000/min",
    "LOG_LEVEL": "WARNING",
    "DJANGO_SETTINGS_MODULE": "config.settings",
}
os.environ.update(BASE_ENV)
MANAGE = [sys.executable, str(ROOT / "manage.py")]


def _psql(sql: str) -> None:
    subprocess.run(["psql", ADMIN_URL, "-qc", sql], check=True)


@pytest.fixture(scope="session", autouse=True)
def chaos_database():
    _psql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    _psql(f"CREATE DATABASE {DB_NAME}")
    for command in (["migrate", "--noinput", "-v0"], ["createcachetable"], ["seed_catalog"]):
        subprocess.run([*MANAGE, *command], check=True, env=BASE_ENV, stdout=subprocess.DEVNULL)
    import django

    django.setup()
    yield
    from django.db import connections

    connections.close_all()
    _psql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


@pytest.fixture(scope="session")
def proxy():
    proxy = TcpProxy((PG_HOST, PG_PORT))
    proxy.start()
    yield proxy
    proxy.stop()


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in out.stdout.split()]


@pytest.fixture
def server(proxy, tmp_path):
    # through the proxy, named so the tests can find its connections
    url = f"postgres://postgres@127.0.0.1:{proxy.port}/{DB_NAME}?application_name={APP_NAME}"
    with serve(url, tmp_path) as server:
        yield server


@contextlib.contextmanager
def serve(database_url: str, tmp_path: Path, **extra_env: str):
    """The production server (bin/serve) on a free port, on ``database_url``."""
    port = _free_port()
    env = {
        **BASE_ENV,
        "DATABASE_URL": database_url,
        "DATABASE_CONNECT_TIMEOUT": "2",
        "WEB_CONCURRENCY": os.environ.get("CHAOS_WORKERS", "3"),
        "WEB_THREADS": "4",
        "PORT": str(port),
        "BIND": "127.0.0.1",
        "PY_BIN": str(Path(sys.executable).parent),
        **extra_env,
    }
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(ROOT / "bin/serve")], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(process=process, port=port, log=log)
    try:
        wait_until(lambda: get(server, "/healthz").status == 200, timeout=30)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Reply:
    status: int  # 0 when no HTTP answer came (connection reset, timeout)
    body: dict | None
    content_type: str
    seconds: float
    error: str = ""


def request(server: Server, method: str, path: str, token: str | None = None, timeout=15):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(server.base + path, method=method, headers=headers)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, raw, ctype = response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        status, raw, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "")
    except (OSError, http.client.HTTPException) as exc:
        # No whole answer: a connection refused or reset, or a worker killed
        # after its headers and before its body (IncompleteRead). The client
        # saw no acknowledgement, so nothing it "knows" was written.
        return Reply(0, None, "", time.monotonic() - started, error=repr(exc))
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = {"raw": raw.decode(errors="replace")}
    return Reply(status, body, ctype or "", time.monotonic() - started)


def get(server, path, token=None, timeout=15) -> Reply:
    return request(server, "GET", path, token, timeout)


def post(server, path, token=None, timeout=15) -> Reply:
    return request(server, "POST", path, token, timeout)


def wait_until(condition, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def burst(jobs, threads: int = 16):
    """Run callables concurrently; returns their results in order."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda job: job(), jobs))


@pytest.fixture
def make_users():
    """``make_users(n, loyalty=0)``: users with state rows and access tokens."""
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import AccessToken

    from engagement.services import state_get_or_create
    from rewards.services import loyalty_grant
    from users.models import User

    def make(count: int, loyalty: int = 0):
        users = []
        for _ in range(count):
            # No password: these users only ever present tokens.
            user = User.objects.create(email=f"chaos-{uuid.uuid4().hex}@example.com", password="!")
            state_get_or_create(user_id=user.pk)
            if loyalty:
                loyalty_grant(
                    user_id=user.pk, amount=loyalty, reason="fault test setup", now=timezone.now()
                )
            users.append((user, str(AccessToken.for_user(user))))
        return users

    return make


def verify_invariants() -> subprocess.CompletedProcess:
    return subprocess.run(
        [*MANAGE, "verify_invariants"], env=BASE_ENV, capture_output=True, text=True, check=False
    )


def terminate_server_connections() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND application_name = %s",
            [DB_NAME, APP_NAME],
        )
        return cursor.fetchone()[0]
