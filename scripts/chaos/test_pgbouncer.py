"""The service through PgBouncer in transaction pooling (scripts/pgbouncer.py),
proven from outside: `make test-pgbouncer` (not part of `make chaos`).

Each transaction may run on another of PgBouncer's few server connections, so
anything that outlives a transaction on PostgreSQL's side (a prepared
statement, a session SET, a WITH HOLD cursor, LISTEN, a temporary table, a
session advisory lock) would reach another client. The first test shows that
this PgBouncer really moves clients between server connections and that
``leftover_session_state`` sees each of those; the others run the service
through it and end with that check. See docs/SCALING.md, "PgBouncer".
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import subprocess
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import test_faults
from pgbouncer import PgBouncer

from conftest import (
    APP_NAME,
    BASE_ENV,
    DB_NAME,
    MANAGE,
    PG_HOST,
    PG_PORT,
    get,
    post,
    serve,
    verify_invariants,
    wait_until,
)

POOL_SIZE = 4  # PgBouncer's server connections for the test database
WORKERS = int(os.environ.get("CHAOS_WORKERS", "3"))
QUERY_WAIT = 5  # seconds a client may queue in PgBouncer for a server connection
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def bouncer(proxy):
    """PgBouncer in front of the proxy in front of PostgreSQL, so that the
    fault tests can break the path behind it."""
    with PgBouncer(
        pool_size=POOL_SIZE,
        upstream=("127.0.0.1", proxy.port),
        settings={"query_wait_timeout": QUERY_WAIT},
    ) as bouncer:
        yield bouncer


@pytest.fixture
def clean_servers(bouncer):
    """After the test, no server connection carries session state."""
    yield bouncer
    assert bouncer.leftover_session_state(DB_NAME) == []


@pytest.fixture
def server(bouncer, clean_servers, tmp_path):
    """The production server (3 workers x 4 threads, a pool of up to 10 per
    worker) through PgBouncer."""
    url = bouncer.url(DB_NAME, f"application_name={APP_NAME}")
    with serve(url, tmp_path, DB_TRANSACTION_POOLING="1") as server:
        yield server
    log = server.log.read_text()
    assert '"status_code": 500' not in log, log[-3000:]


def through(bouncer: PgBouncer, **kwargs) -> psycopg.Connection:
    return psycopg.connect(bouncer.url(DB_NAME), connect_timeout=5, **kwargs)


# --- the setup is real ---------------------------------------------------------------


def test_clients_move_between_server_connections_and_leftovers_are_seen():
    """A WITH HOLD cursor is gone for its client once another client's
    transaction took its server connection; each kind of session state is
    reported by the check; a startup ``options`` parameter is refused."""
    with PgBouncer(pool_size=2) as bouncer:
        with through(bouncer, autocommit=True) as a, through(bouncer) as b:
            a.execute("DECLARE held CURSOR WITH HOLD FOR SELECT generate_series(1, 3)")
            assert a.execute("FETCH 1 FROM held").fetchone() == (1,)
            b.execute("SELECT 1")  # opens a transaction on the connection `a` just left
            with pytest.raises(psycopg.errors.InvalidCursorName):
                a.execute("FETCH 1 FROM held")
            b.rollback()

            leftovers = [
                "SELECT %s::int",  # prepared by psycopg, prepare_threshold=0 below
                "SET work_mem = '8MB'",
                "LISTEN some_channel",
                "SELECT pg_advisory_lock(4242)",
                "CREATE TEMPORARY TABLE scratch (x int)",
            ]
            with through(bouncer, autocommit=True, prepare_threshold=0) as c:
                for sql in leftovers:
                    c.execute(sql, [1] if "%s" in sql else None)
        found = bouncer.leftover_session_state(DB_NAME)
        kinds = {line.split(" '")[0] for line in found}
        assert kinds == {
            "prepared statement",
            "open cursor (WITH HOLD)",
            "session setting",
            "LISTEN",
            "advisory lock",
            "temporary table",
        }, found

        with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter"):
            psycopg.connect(bouncer.url(DB_NAME, "options=-c%20statement_timeout%3D5s"))


def django_shell(bouncer: PgBouncer, code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*MANAGE, "shell", "-c", code],
        env={**BASE_ENV, "DATABASE_URL": bouncer.url(DB_NAME), **env},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


ITERATE = """
import psycopg
from rewards.models import Reward
rows = Reward.objects.order_by("id").values_list("id", flat=True).iterator(chunk_size=1)
first = next(rows)
# Another client's transaction takes the server connection just released.
other = psycopg.connect("{url}")
other.execute("SELECT 1")
other.rollback()
other.close()
iterated = 1 + len(list(rows))
print("iterated", iterated, "of", Reward.objects.count())
"""

# Which server connection a client's next transaction gets is PgBouncer's
# choice; with one server connection that is reset (DISCARD ALL) whenever a
# transaction gives it back, as many deployments configure it, a cursor that
# outlives its transaction is gone every time, not only when another client
# happened to take its connection.
RESET_EVERY_TIME = {"server_reset_query": "DISCARD ALL", "server_reset_query_always": 1}


@pytest.mark.parametrize("pooling", ["1", "0"])
def test_iterator_outside_a_transaction_needs_db_transaction_pooling(pooling):
    """QuerySet.iterator() in autocommit: with DB_TRANSACTION_POOLING Django
    reads without a server-side cursor; without it, its WITH HOLD cursor is
    lost once its transaction has given the server connection back."""
    with PgBouncer(pool_size=1, settings=RESET_EVERY_TIME) as bouncer:
        code = ITERATE.replace("{url}", bouncer.url(DB_NAME))
        out = django_shell(bouncer, code, DB_TRANSACTION_POOLING=pooling)
        if pooling == "0":
            assert out.returncode != 0
            assert "does not exist" in out.stderr, out.stderr[-2000:]
            return
        assert out.returncode == 0, out.stderr
        iterated, count = re.search(r"iterated (\d+) of (\d+)", out.stdout).groups()
        assert int(iterated) == int(count) > 1, out.stdout


# --- the release lock ----------------------------------------------------------------


def test_release_takes_turns_through_pgbouncer(clean_servers):
    """`manage.py release` holds a transaction-level advisory lock: through
    PgBouncer a second release waits for the first, gives up after its
    --lock-timeout, and no lock outlives its transaction."""
    from backoffice.management.commands.release import RELEASE_LOCK_KEY

    bouncer = clean_servers
    env = {**BASE_ENV, "DATABASE_URL": bouncer.url(DB_NAME), "DB_TRANSACTION_POOLING": "1"}

    def release(timeout: str) -> subprocess.Popen:
        return subprocess.Popen(
            [*MANAGE, "release", "--lock-timeout", timeout, "-v0"], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    holder = through(bouncer)  # a release in progress, as far as the lock goes
    holder.execute("SELECT pg_advisory_xact_lock(%s)", [RELEASE_LOCK_KEY])
    try:
        started = time.monotonic()
        out, err = release("0.5").communicate(timeout=60)
        assert "still held the lock after 0.5s" in err, err
        assert time.monotonic() - started >= 0.5

        waiting = release("60")
        said: list[str] = []
        reader = threading.Thread(target=lambda: said.append(waiting.stderr.readline()))
        reader.start()
        reader.join(60)
        assert said == ["Another release holds the lock; waiting up to 60s.\n"]
        time.sleep(0.5)
        assert waiting.poll() is None  # still waiting for the lock
    finally:
        holder.commit()  # frees the lock: a transaction-level lock needs no unlock
        holder.close()
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert "Release steps done" in out
    with psycopg.connect(f"postgres://postgres@{PG_HOST}:{PG_PORT}/{DB_NAME}") as direct:
        (locks,) = direct.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
        ).fetchone()
    assert locks == 0


# --- a mixed burst with idempotent replays -------------------------------------------


def send(server, method: str, path: str, token: str, key: str = "", body: dict | None = None):
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    payload = None
    if body is not None:
        payload = json.dumps(body)
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, raw, response.getheader("Idempotent-Replayed", "")
    except OSError as exc:
        return 0, repr(exc).encode(), ""
    finally:
        conn.close()


def test_a_mixed_burst_with_idempotent_replays_keeps_every_invariant(server, make_users):
    """Check-ins, claims, purchases and tool use of 60 users at once, each
    keyed write sent twice at the same moment and once more afterwards: no
    5xx, each keyed write done once and replayed byte for byte, the rows
    agree with the answers and every ledger replays."""
    from checkins.models import CheckIn
    from engagement.models import LedgerEntry
    from rewards.models import InventoryItem, Reward, UserReward

    Reward.objects.update_or_create(
        id="pgbouncer_first",
        defaults={"title": "First", "rule": "total_checkins", "threshold": 1,
                  "effects": {"loyalty": 1}},
    )  # fmt: skip
    users = make_users(60, loyalty=100)
    ops = []  # (user, token, method, path, idempotency key)
    for user, token in users:
        checkin_key, buy_key = uuid.uuid4().hex, uuid.uuid4().hex
        ops += [
            (user, token, "POST", "/api/v1/checkins", checkin_key),
            (user, token, "POST", "/api/v1/checkins", checkin_key),
            (user, token, "POST", "/api/v1/checkins", ""),
            (user, token, "POST", "/api/v1/rewards/pgbouncer_first/claim", ""),
            (user, token, "POST", "/api/v1/inventory/coffee/buy", buy_key),
            (user, token, "POST", "/api/v1/inventory/coffee/buy", buy_key),
            (user, token, "POST", "/api/v1/inventory/coffee/buy", ""),
            (user, token, "POST", "/api/v1/inventory/coffee/use", ""),
            (user, token, "GET", "/api/v1/me", ""),
        ]
    random.shuffle(ops)
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda op: send(server, op[2], op[3], op[1], op[4]), ops))

    statuses = Counter(status for status, _, _ in answers)
    assert statuses[0] == 0, statuses
    assert not any(s >= 500 for s in statuses), statuses
    by_key: dict[str, list] = {}
    for (user, token, _, path, key), answer in zip(ops, answers, strict=True):
        if key:
            by_key.setdefault(key, []).append((user, token, path, answer))
    for key, sent in by_key.items():
        (user, token, path, first), (_, _, _, second) = sent
        assert (first[0], first[1]) == (second[0], second[1]), (path, first, second)
        assert sorted([first[2], second[2]]) == ["", "true"]  # one ran, one replayed
        again = send(server, "POST", path, token, key)
        assert again == (first[0], first[1], "true")
    for user, _ in users:
        assert CheckIn.objects.filter(user=user).count() == 1
        assert LedgerEntry.objects.filter(user=user, kind="checkin").count() == 1
        bought = sum(
            1
            for (u, _, _, path, key), (status, _, replayed) in zip(ops, answers, strict=True)
            if u == user and path.endswith("/buy") and status == 201 and not replayed
        )
        used = sum(
            1
            for (u, _, _, path, _), (status, _, _) in zip(ops, answers, strict=True)
            if u == user and path.endswith("/use") and status == 200
        )
        item = InventoryItem.objects.filter(user=user, tool_id="coffee").first()
        assert (item.quantity if item else 0) == bought - used
        assert UserReward.objects.filter(user=user, reward_id="pgbouncer_first").exists()
    result = verify_invariants()
    assert result.returncode == 0, result.stdout + result.stderr


# --- faults behind PgBouncer ---------------------------------------------------------


def test_terminated_server_connections_give_503s_then_recover(server, make_users):
    """pg_terminate_backend on PgBouncer's server connections mid-burst (the
    same test as without PgBouncer): a 503 problem or a success, never a 500
    or a hang, and retries succeed."""
    test_faults.test_terminated_database_connections_give_503s_then_recover(server, make_users)


def test_an_unreachable_database_behind_pgbouncer_is_a_503_and_the_service_recovers(
    server, proxy, make_users
):
    """PostgreSQL unreachable behind a live PgBouncer: the service's
    connections to PgBouncer stay up, so the wait is PgBouncer's: a request
    queues until query_wait_timeout at most (the first one after the cut),
    later ones are refused at once while PgBouncer's logins keep failing;
    all are 503 problems. When PostgreSQL is back the service recovers by
    itself."""
    ((_, token),) = make_users(1)
    assert get(server, "/readyz").status == 200

    proxy.stop()
    replies = [
        get(server, "/readyz"),
        get(server, "/api/v1/me", token),
        post(server, "/api/v1/checkins", token),
    ]
    for reply in replies:
        assert reply.status == 503, reply
        assert reply.content_type == PROBLEM
        assert reply.body["code"] == "database_unavailable"
        assert reply.seconds < QUERY_WAIT + 3, reply.seconds
    assert all(reply.seconds < 3 for reply in replies[1:]), replies
    assert get(server, "/healthz").status == 200

    proxy.start()
    proxy.blackhole()  # PgBouncer's server logins hang until server_connect_timeout
    reply = get(server, "/api/v1/me", token)
    assert reply.status == 503
    assert reply.seconds < QUERY_WAIT + 3, reply.seconds

    proxy.stop()
    proxy.start()
    wait_until(lambda: get(server, "/readyz").status == 200, timeout=20)
    statuses = [get(server, "/api/v1/me", token).status for _ in range(40)]
    assert statuses.count(503) <= WORKERS, statuses
    assert set(statuses[-20:]) == {200}, statuses
    assert post(server, "/api/v1/checkins", token).status == 201
    result = verify_invariants()
    assert result.returncode == 0, result.stdout + result.stderr


def test_pgbouncer_bounds_what_postgresql_sees(server, bouncer, make_users):
    """The workers' pools open many connections to PgBouncer (up to workers x
    DB_POOL_MAX); PostgreSQL sees at most PgBouncer's pool size of them."""
    users = make_users(40)
    most = [0]
    stop = threading.Event()

    def watch():
        sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
        with psycopg.connect(f"postgres://postgres@{PG_HOST}:{PG_PORT}/postgres") as conn:
            conn.autocommit = True
            while not stop.is_set():
                most[0] = max(most[0], conn.execute(sql, [APP_NAME]).fetchone()[0])
                time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with ThreadPoolExecutor(48) as pool:
        answers = list(
            pool.map(lambda u: send(server, "POST", "/api/v1/checkins", u[1]), users * 3)
        )
    stop.set()
    watcher.join(5)
    clients = [
        row for row in bouncer.show("CLIENTS")
        if row["database"] == DB_NAME and row["application_name"] == APP_NAME
    ]  # fmt: skip
    assert Counter(status for status, _, _ in answers) == {201: 40, 409: 80}
    assert 0 < most[0] <= POOL_SIZE, most[0]
    assert 0 < len(clients) <= WORKERS * 10  # DB_POOL_MAX=10 per worker
