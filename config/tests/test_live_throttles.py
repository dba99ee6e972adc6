"""The rate limits under a burst, against the production server.

bin/serve (granian, 2 worker processes x 4 threads, production settings) runs
on the test database, with the counters in Redis, in the database (no
REDIS_URL), and with Redis down. Each test fires 50 requests at once from one
client address and checks that no more than the limit get through, across both
processes, and that every other answer is 429: never a 5xx, never no answer.

Each test speaks from an address of its own in 127.0.0.0/8 with e-mails of its
own, so its counters are its own even while other runs of this suite share the
Redis database (which is therefore never flushed here).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from config.tests import live_server
from users.models import User

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

ROOT = Path(settings.BASE_DIR)
BURST = 50
WORKERS = 2
LIMITS = {"THROTTLE_LOGIN": 10, "THROTTLE_REGISTER": 5, "THROTTLE_LOGIN_IP": 20}
PASSWORD = "correct horse battery staple"
REDIS_URLS = {
    "redis": "redis://127.0.0.1:6379/5",
    "database": "",  # no Redis: the counters live in the database
    "redis-down": "redis://127.0.0.1:1/0",  # nothing listens there
}


@dataclass
class Server:
    live: live_server.LiveServer
    mode: str

    @property
    def port(self) -> int:
        return self.live.port

    def bound(self, limit: int) -> int:
        """The most a limit may let through: with Redis down each worker
        process counts on its own."""
        return limit * WORKERS if self.mode == "redis-down" else limit

    def log_tail(self) -> str:
        return self.live.log_tail(3000)


def database_url() -> str:
    """The test database, as the server process reaches it."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture(scope="module", params=list(REDIS_URLS))
def server(request, django_db_setup, tmp_path_factory) -> Iterator[Server]:
    """One server per mode for the module's tests (pytest groups them); it
    holds no transaction between bursts, so each test's flush goes through."""
    mode = request.param
    tmp_path = tmp_path_factory.mktemp(f"server-{mode}")
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": REDIS_URLS[mode],
        "SECRET_KEY": "live-throttle-test-" + uuid.uuid4().hex * 2,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "BIND": "127.0.0.1",
        "WEB_CONCURRENCY": str(WORKERS),
        "WEB_THREADS": "4",
        "PY_BIN": str(Path(sys.executable).parent),
        "ACCESS_LOG": "0",
        "LOG_LEVEL": "ERROR",
        **{name: f"{limit}/min" for name, limit in LIMITS.items()},
    }
    live = live_server.start(
        [str(ROOT / "bin/serve")], env=env, log=tmp_path / "server.log", cwd=ROOT, name=mode
    )
    try:
        yield Server(live, mode)
    finally:
        live.stop()  # before the test database is dropped


@pytest.fixture
def client_ip() -> str:
    """An address of this test's own (Linux routes all of 127.0.0.0/8 to lo)."""
    return f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def burst(server: Server, client_ip: str, path: str, bodies: list[dict]) -> Counter[int]:
    """POST every body at once (connected first, sent together after a
    barrier); the count of each status, 0 for no HTTP answer."""
    ready = threading.Barrier(len(bodies))

    def post(body: dict) -> int:
        conn = http.client.HTTPConnection(
            "127.0.0.1", server.port, timeout=60, source_address=(client_ip, 0)
        )
        try:
            conn.connect()
            ready.wait(timeout=30)
            conn.request(
                "POST", path, json.dumps(body), headers={"Content-Type": "application/json"}
            )
            return conn.getresponse().status
        except OSError:
            return 0
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        statuses = Counter(pool.map(post, bodies))
    print(f"\n{server.mode} {path}: {dict(statuses)}")  # the measurement, with -s
    return statuses


def other_address(client_ip: str) -> str:
    last = int(client_ip.rsplit(".", 1)[1])
    return client_ip.rsplit(".", 1)[0] + f".{last % 254 + 1}"


def post_once(server: Server, client_ip: str, body: dict) -> int:
    conn = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=60, source_address=(client_ip, 0)
    )
    try:
        conn.request(
            "POST",
            "/api/v1/auth/login",
            json.dumps(body),
            headers={"Content-Type": "application/json"},
        )
        return conn.getresponse().status
    finally:
        conn.close()


def assert_limited(statuses: Counter[int], passed: int, bound: int, server: Server) -> None:
    """``passed`` answers at most ``bound`` times (and at least once), 429 otherwise."""
    detail = f"{dict(statuses)}\nserver log:\n{server.log_tail()}"
    assert set(statuses) <= {passed, 429}, detail
    assert 1 <= statuses[passed] <= bound, detail
    assert statuses[passed] + statuses[429] == BURST, detail


def user_with_password(email: str) -> User:
    """A user whose password the production hasher checks (the suite's own
    hasher is a fast one the server does not know)."""
    encoded = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    return User.objects.create(email=email, password=encoded)


def test_wrong_passwords_for_one_email(server, client_ip):
    email = f"victim-{uuid.uuid4().hex[:8]}@example.com"
    user_with_password(email)

    statuses = burst(
        server, client_ip, "/api/v1/auth/login", [{"email": email, "password": "wrong"}] * BURST
    )

    assert_limited(statuses, 401, server.bound(LIMITS["THROTTLE_LOGIN"]), server)
    # The owner, elsewhere, is not locked out.
    elsewhere = other_address(client_ip)
    assert post_once(server, elsewhere, {"email": email, "password": PASSWORD}) == 200


def test_registrations_from_one_ip(server, client_ip):
    run = uuid.uuid4().hex[:8]
    bodies = [{"email": f"new-{run}-{n}@example.com", "password": PASSWORD} for n in range(BURST)]

    statuses = burst(server, client_ip, "/api/v1/auth/register", bodies)

    assert_limited(statuses, 201, server.bound(LIMITS["THROTTLE_REGISTER"]), server)
    assert User.objects.filter(email__startswith=f"new-{run}-").count() == statuses[201]


def test_wrong_passwords_over_many_emails_from_one_ip(server, client_ip):
    run = uuid.uuid4().hex[:8]
    bodies = [{"email": f"guess-{run}-{n}@example.com", "password": "wrong"} for n in range(BURST)]

    statuses = burst(server, client_ip, "/api/v1/auth/login", bodies)

    assert_limited(statuses, 401, server.bound(LIMITS["THROTTLE_LOGIN_IP"]), server)
