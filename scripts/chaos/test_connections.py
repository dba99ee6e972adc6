"""Bounded database connections, proven from outside: the servers users run
(`make run` for development, bin/serve in production) take bursts of a few
hundred parallel requests while a separate thread samples pg_stat_activity
for the server's own application_name. The count never passes workers x
DB_POOL_MAX, no request gets a 5xx, and after the bursts no connection is
left busy or above the bound."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from conftest import ADMIN_URL, BASE_ENV, ROOT, _free_port, wait_until

BURSTS = 3
THREADS = 200  # client threads: the whole burst is in flight at once
WEB_THREADS = 4


@dataclass
class Watch:
    """Samples the server's connections until stopped."""

    app_name: str
    samples: list[tuple[float, str, int]] = field(default_factory=list)  # (t, phase, count)
    states: Counter = field(default_factory=Counter)
    phase: str = "idle"
    new_threads: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        sql = (
            "SELECT coalesce(state, ''), count(*) FROM pg_stat_activity "
            "WHERE application_name = %s GROUP BY 1"
        )
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            while not self._stop.is_set():
                rows = conn.execute(sql, [self.app_name]).fetchall()
                self.samples.append((time.monotonic(), self.phase, sum(n for _, n in rows)))
                self.states = Counter(dict(rows))
                time.sleep(0.01)

    def most(self, phase: str | None = None) -> int:
        return max((n for _, p, n in self.samples if phase in (None, p)), default=0)

    @contextmanager
    def watching(self):
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(5)


@dataclass
class Served:
    process: subprocess.Popen
    port: int
    log: Path


@contextmanager
def serving(command: list[str], env: dict, log: Path, port: int):
    """Start a server in its own process group; stop the whole group after,
    whatever happened (make, the server, its reloader and workers)."""
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_until(lambda: _status(port, "/readyz") == 200 or process.poll() is not None, 60)
        assert process.poll() is None, log.read_text()[-3000:]
        yield Served(process, port, log)
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen, grace: float = 20) -> None:
    """SIGTERM to the process group; SIGKILL to whatever is left of it after
    ``grace`` seconds."""

    def alive() -> bool:
        process.poll()  # reap the leader, so that it does not linger as a zombie
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _call(port: int, kind: str, method: str, path: str, token=None, body=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return kind, response.status
    except urllib.error.HTTPError as exc:
        return kind, exc.code
    except OSError as exc:
        return kind, f"no answer: {exc!r}"


def burst_jobs(checking_in: list, users: list) -> list:
    """~230 requests: 50 first check-ins (distinct users), 60 /me, 40 each of
    /healthz, /readyz and /api/v1/tools, and 2 registrations (slow: the
    password hash holds the request's connection)."""
    jobs = [("checkin", "POST", "/api/v1/checkins", token, None) for _, token in checking_in]
    jobs += [("me", "GET", "/api/v1/me", users[i % len(users)][1], None) for i in range(60)]
    for path in ("/healthz", "/readyz", "/api/v1/tools"):
        jobs += [(path, "GET", path, None, None)] * 40
    for _ in range(2):
        email = f"conn-{uuid.uuid4().hex}@example.com"
        # Letters that appear nowhere in the address: never "too similar to the email".
        password = "".join(secrets.choice("qrstuvwyz") for _ in range(16))
        body = {"email": email, "password": password}
        jobs.append(("register", "POST", "/api/v1/auth/register", None, body))
    return jobs


EXPECTED = {"checkin": 201, "register": 201}  # everything else 200
PER_BURST = 50  # users checking in per burst
RELOADED = "Changes detected"  # granian's reloader restarted the worker


def server_threads(server: subprocess.Popen) -> set[int]:
    """Thread ids of every process in the server's process group."""
    ids = set()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.getpgid(int(proc.name)) == server.pid:
                ids |= {int(task.name) for task in (proc / "task").iterdir()}
        except OSError:
            continue
    return ids


def fire_bursts(served: Served, watch: Watch, users: list, quiet: float):
    """Fire the bursts, ``quiet`` seconds apart. Returns the (kind, status)
    counts and the users whose check-ins they include; records the server's
    threads each burst found new.

    `make run` restarts its worker when a file in the tree changes (someone
    editing it meanwhile), which drops the requests in flight: a burst that
    failed while the log shows a reload is noted and fired again, with fresh
    users, at most twice."""
    answers: Counter = Counter()
    counted, pending, burst = [], list(users), 0
    seen = server_threads(served.process)
    with ThreadPoolExecutor(THREADS) as pool:
        while burst < BURSTS:
            mine, pending = pending[:PER_BURST], pending[PER_BURST:]
            assert len(mine) == PER_BURST, f"out of users; {watch.notes}"
            offset = served.log.stat().st_size
            watch.phase = f"burst {burst}"
            got = Counter(pool.map(lambda job: _call(served.port, *job), burst_jobs(mine, users)))
            watch.phase = f"after {burst}"
            now = server_threads(served.process)
            time.sleep(quiet)
            with served.log.open() as log:
                log.seek(offset)
                reloaded = RELOADED in log.read()
            if reloaded and any(status != EXPECTED.get(kind, 200) for kind, status in got):
                watch.notes.append(f"burst {burst} fired again after a reload: {dict(got)}")
                continue
            answers.update(got)
            counted += mine
            watch.new_threads.append(len(now - seen))
            seen |= now
            burst += 1
    watch.phase = "end"
    time.sleep(1.0)
    return answers, counted


def assert_bounded(name: str, watch: Watch, answers: Counter, bound: int, counted) -> None:
    from checkins.models import CheckIn

    phases = sorted({p for _, p, _ in watch.samples})
    print(
        f"\n{name}: {len(watch.samples)} samples; most connections at once "
        + ", ".join(f"{p}: {watch.most(p)}" for p in phases)
        + f" (bound {bound}); at the end {dict(watch.states)}; new server threads per "
        f"burst {watch.new_threads}; answers {dict(answers)}; {watch.notes or ''}"
    )
    wrong = {k: n for k, n in answers.items() if k[1] != EXPECTED.get(k[0], 200)}
    assert not wrong, f"unexpected answers: {wrong}"
    assert watch.most() >= 1, "the monitor never saw the server's connections"
    assert watch.most() <= bound, f"{watch.most()} connections at once, bound {bound}"
    # Nothing stranded: after the bursts every connection is back in a pool.
    assert watch.most("end") <= bound
    assert set(watch.states) <= {"idle"}, watch.states
    checkins = sum(n for (kind, _), n in answers.items() if kind == "checkin")
    assert CheckIn.objects.filter(user__in=[u for u, _ in counted]).count() == checkins


def _url(app_name: str) -> str:
    return BASE_ENV["DATABASE_URL"] + f"?application_name={app_name}"


def test_make_run_on_postgresql_stays_within_its_pool(make_users, tmp_path):
    """`make run` (migrate, seed, then bin/dev: bin/serve with one granian
    worker with auto-reload, DEBUG=1, beside a task worker and the scheduler,
    one connection each) with DB_POOL_MAX=2 under four threads: the pool, not
    the thread count, bounds the server's connections."""
    pool_max, app_name, port = 2, f"conn-dev-{uuid.uuid4().hex[:8]}", _free_port()
    users = make_users((BURSTS + 2) * PER_BURST)  # room for two bursts fired again
    env = {
        **BASE_ENV,
        "DEBUG": "1",
        "DATABASE_URL": _url(app_name),
        "DB_POOL_MAX": str(pool_max),
        "WEB_THREADS": str(WEB_THREADS),
    }
    command = ["make", "--no-print-directory", "run", f"PORT={port}"]
    watch = Watch(app_name)
    with serving(command, env, tmp_path / "make-run.log", port) as served, watch.watching():
        answers, counted = fire_bursts(served, watch, users, quiet=0.5)
    assert_bounded("make run", watch, answers, pool_max + 2, counted)


def test_production_server_stays_within_workers_times_pool(make_users, tmp_path):
    """bin/serve with 3 workers x 4 threads, DB_POOL_MAX=3, DEBUG=0. Granian
    retires blocking threads idle for 5 s here (default 30 s), and the bursts
    are 6 s apart: every burst runs on new threads, whose predecessors'
    connections must have gone back to the pool rather than be stranded."""
    workers, pool_max = 3, 3
    app_name, port = f"conn-prod-{uuid.uuid4().hex[:8]}", _free_port()
    users = make_users(BURSTS * PER_BURST)
    env = {
        **BASE_ENV,
        "DATABASE_URL": _url(app_name),
        "DB_POOL_MAX": str(pool_max),
        "WEB_CONCURRENCY": str(workers),
        "WEB_THREADS": str(WEB_THREADS),
        "GRANIAN_BLOCKING_THREADS_IDLE_TIMEOUT": "5",
        "PORT": str(port),
        "BIND": "127.0.0.1",
        "PY_BIN": str(Path(sys.executable).parent),
    }
    watch = Watch(app_name)
    log = tmp_path / "serve.log"
    with serving([str(ROOT / "bin/serve")], env, log, port) as served, watch.watching():
        answers, counted = fire_bursts(served, watch, users, quiet=6)
    assert_bounded("bin/serve", watch, answers, workers * pool_max, counted)
    # The premise: later bursts really ran on threads the server started anew.
    assert all(n > 0 for n in watch.new_threads[1:]), watch.new_threads
