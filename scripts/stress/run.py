"""`make stress`: every kind of write at once on the same users, against the
production server on a database of its own; zero 5xx, only documented
answers, and afterwards every success has its rows and every ledger replays.

    python scripts/stress/run.py --database postgres            # 3 workers
    python scripts/stress/run.py --database sqlite --rounds 2   # WAL, 2 workers
    python scripts/stress/run.py --server-root /tmp/old         # another tree's server
    python scripts/stress/run.py --pgbouncer 4                  # through PgBouncer

Each round takes a fresh cohort of users prepared on the edge of unlocking
(see django_side.py) and fires their check-ins, claims, buys, uses, time-zone
changes and reads together, while a separate process makes staff grants to
the same users (`grant`, called in-process) and `manage.py grant` processes run
beside it. With --pgbouncer N, every process (server, staff, migrations,
checks) reaches PostgreSQL through a PgBouncer in transaction pooling with N
server connections, and afterwards none of them may carry session state
(scripts/pgbouncer.py). See docs/TESTING.md and docs/SCALING.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from checks import CLI, accounting  # noqa: E402
from ops import KINDS, STAFF_ALLOWED, round_ops, send  # noqa: E402
from pgbouncer import PgBouncer  # noqa: E402

APP_NAME = "engagement-stress-server"
ADMIN_URL = os.environ.get("STRESS_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def psql(sql: str) -> str:
    return subprocess.run(
        ["psql", ADMIN_URL, "-Atqc", sql], check=True, capture_output=True, text=True
    ).stdout


class Harness:
    def __init__(self, args):
        self.args = args
        self.root = Path(args.server_root).resolve()
        self.python = sys.executable
        self.tmp = Path(tempfile.mkdtemp(prefix="stress-"))
        self.prefix = "stress-" + uuid.uuid4().hex[:8]
        self.port = free_port()
        self.failures: list[str] = []
        self.processes: list[subprocess.Popen] = []
        self.max_connections = 0
        self.bouncer: PgBouncer | None = None
        if args.pgbouncer and args.database != "postgres":
            raise SystemExit("--pgbouncer needs --database postgres")
        if args.database == "postgres":
            self.db_name = "engagement_stress_" + uuid.uuid4().hex[:8]
            url = ADMIN_URL.rsplit("/", 1)[0] + "/" + self.db_name
        else:
            self.db_name = ""
            url = f"sqlite:///{self.tmp / 'stress.sqlite3'}"
        self.env = {
            **os.environ,
            "DATABASE_URL": url,
            "DEBUG": "0",
            "SECRET_KEY": "stress-only-" + uuid.uuid4().hex * 2,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "THROTTLE_USER": "100000000/min",  # counted, never limiting
            "THROTTLE_LOGIN": "100000000/min",
            "THROTTLE_REGISTER": "100000000/min",
            "LOG_LEVEL": "WARNING",
            "ACCESS_LOG": "0",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "STRESS_SERVER_ROOT": str(self.root),
            "DB_POOL_MAX": str(args.pool),
        }
        self.env.pop("REDIS_URL", None)
        if args.pgbouncer:
            self.bouncer = PgBouncer(pool_size=args.pgbouncer).start()
            self.env["DATABASE_URL"] = self.bouncer.rewrite(url)
            self.env["DB_TRANSACTION_POOLING"] = "1"
        if args.redis_url:  # else the database cache holds the throttle counters
            self.env["REDIS_URL"] = args.redis_url

    # --- processes ------------------------------------------------------------
    def manage(self, *command: str, check=True) -> subprocess.CompletedProcess:
        return self._run([self.python, str(self.root / "manage.py"), *command], check)

    def django_side(self, *command: str) -> dict:
        return json.loads(self._run([self.python, str(HERE / "django_side.py"), *command]).stdout)

    def _run(self, command: list[str], check: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run(command, env=self.env, cwd=self.root, capture_output=True, text=True)
        if check and out.returncode:
            raise SystemExit(f"{' '.join(command[1:3])} failed:\n{out.stdout}{out.stderr}"[-4000:])
        return out

    def spawn(self, command: list[str], env: dict, log: Path, **kwargs) -> subprocess.Popen:
        """In a process group of its own, so that stopping it stops its children."""
        with log.open("w") as out:
            process = subprocess.Popen(
                command, env=env, cwd=self.root, stdout=kwargs.pop("stdout", out),
                stderr=out, start_new_session=True, **kwargs,
            )  # fmt: skip
        self.processes.append(process)
        return process

    def stop_all(self, grace: float = 15) -> None:
        """SIGTERM to every process group started; SIGKILL to what is left
        of them after ``grace`` seconds."""

        def alive(process: subprocess.Popen) -> bool:
            process.poll()  # reap the leader
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return False
            return True

        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(alive(p) for p in self.processes) and time.monotonic() < deadline:
            time.sleep(0.1)
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        self.processes.clear()

    def start_server(self) -> None:
        env = {
            **self.env,
            "DATABASE_URL": self.env["DATABASE_URL"]
            + (f"?application_name={APP_NAME}" if self.db_name else ""),
            "WEB_CONCURRENCY": str(self.args.workers),
            "WEB_THREADS": str(self.args.threads),
            "PORT": str(self.port),
            "BIND": "127.0.0.1",
            "PY_BIN": str(Path(self.python).parent),
        }
        self.server_log = self.tmp / "server.log"
        self.server = self.spawn([str(self.root / "bin/serve")], env, self.server_log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2):
                    return
            except OSError:
                if self.server.poll() is not None:
                    break
                time.sleep(0.2)
        raise SystemExit("server did not start:\n" + self.server_log.read_text()[-3000:])

    def monitor(self, stop: threading.Event) -> None:
        """PostgreSQL: the most connections the server ever held at once
        (through PgBouncer: the most of its server connections, whoever used them)."""
        import psycopg

        if self.bouncer:
            sql, param = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", self.db_name
        else:
            sql, param = (
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                APP_NAME,
            )
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            while not stop.is_set():
                (count,) = conn.execute(sql, [param]).fetchone()
                self.max_connections = max(self.max_connections, count)
                stop.wait(0.02)

    # --- the run --------------------------------------------------------------
    def prepare(self) -> dict:
        if self.db_name:
            psql(f"CREATE DATABASE {self.db_name}")
        for command in (["migrate", "--noinput", "-v0"], ["createcachetable"], ["seed_catalog"]):
            self.manage(*command)
        return self.django_side("setup", self.prefix, str(self.args.rounds), str(self.args.users))

    def cli_grant(self, email: str) -> dict:
        out = self.manage("grant", email, "--reason", CLI, "--loyalty", "5", check=False)
        found = re.search(r"Refused \((\w+)\)", out.stderr)
        if out.returncode == 0:
            outcome = "ok"
        elif found:
            outcome = found.group(1)
        else:
            outcome = f"error: exit {out.returncode}: {out.stderr[-500:]}"
        return {"email": email, "op": "cli_grant_loyalty", "outcome": outcome}

    def run(self) -> int:
        started = time.monotonic()
        setup = self.prepare()
        prepared = time.monotonic()
        self.start_server()
        staff_env = dict(self.env)
        if self.db_name:
            staff_env["DATABASE_URL"] += "?application_name=engagement-stress-staff"
        staff = self.spawn(
            [self.python, str(HERE / "django_side.py"), "staff"], staff_env,
            self.tmp / "staff.log", stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        stop = threading.Event()
        watcher = None
        if self.db_name:
            watcher = threading.Thread(target=self.monitor, args=(stop,), daemon=True)
            watcher.start()
        answers, staff_outcomes = [], []
        rounds_run = 0
        with ThreadPoolExecutor(self.args.clients) as pool, ThreadPoolExecutor(4) as side:
            for r in range(self.args.rounds):
                if self.args.seconds and time.monotonic() - prepared > self.args.seconds:
                    break
                cohort = setup["cohorts"][str(r)]
                emails = [user["email"] for user in cohort]
                staff.stdin.write(json.dumps(emails) + "\n")
                staff.stdin.flush()
                cli = [side.submit(self.cli_grant, email) for email in random.sample(emails, 2)]
                ops = round_ops(cohort)
                answers += pool.map(lambda op: send("127.0.0.1", self.port, op), ops)
                line = staff.stdout.readline()
                if not line:
                    log = (self.tmp / "staff.log").read_text()[-3000:]
                    raise SystemExit(f"the staff process died:\n{log}")
                staff_outcomes += json.loads(line)
                staff_outcomes += [future.result() for future in cli]
                rounds_run += 1
        elapsed = time.monotonic() - prepared
        stop.set()
        if watcher:
            watcher.join(5)
        self.stop_all()
        self.check(answers, staff_outcomes, setup, rounds_run)
        self.summary(answers, staff_outcomes, rounds_run, elapsed, time.monotonic() - started)
        return 1 if self.failures else 0

    def check(self, answers, staff_outcomes, setup, rounds_run) -> None:
        for answer in answers:
            if answer.failure:
                self.failures.append(
                    f"{answer.op.kind} {answer.op.target} {answer.op.email}: {answer.failure}"
                )
        for outcome in staff_outcomes:
            if outcome["outcome"] != "ok" and (
                outcome["outcome"] not in STAFF_ALLOWED[outcome["op"]]
            ):
                self.failures.append(f"staff {outcome['op']} {outcome['email']}: {outcome}")
        errors = Path(self.server_log).read_text()
        if "Traceback" in errors:
            self.failures.append("server log has tracebacks:\n" + errors[-3000:])
        verify = self.manage("verify_invariants", "--no-progress", check=False)
        if verify.returncode:
            self.failures.append("verify_invariants: " + (verify.stdout + verify.stderr)[-3000:])
        report = self.django_side("report", self.prefix)
        cohorts = {u["email"] for r in range(rounds_run) for u in setup["cohorts"][str(r)]}
        report["users"] = {e: v for e, v in report["users"].items() if e in cohorts}
        self.failures += accounting(answers, staff_outcomes, report, setup["start_tools"])
        if self.bouncer and self.max_connections > self.args.pgbouncer:
            self.failures.append(
                f"{self.max_connections} server connections at once, more than PgBouncer's "
                f"{self.args.pgbouncer}: something went around it"
            )
        if self.bouncer:
            self.failures += [
                f"PgBouncer server connection kept session state: {leftover}"
                for leftover in self.bouncer.leftover_session_state(self.db_name)
            ]

    def summary(self, answers, staff_outcomes, rounds_run, elapsed, total) -> None:
        args = self.args
        through = (
            f" through PgBouncer ({args.pgbouncer} server connections)" if self.bouncer else ""
        )
        print(
            f"\nstress on {args.database}{through} ({self.root}): {args.workers} workers x "
            f"{args.threads} threads, {rounds_run} rounds x {args.users} users, "
            f"{args.clients} client threads"
        )
        by_kind: dict[str, Counter] = {}
        for answer in answers:
            label = str(answer.status) + (f" {answer.code}" if answer.code else "")
            by_kind.setdefault(answer.op.kind, Counter())[label] += 1
        for outcome in staff_outcomes:
            by_kind.setdefault("staff:" + outcome["op"], Counter())[outcome["outcome"][:40]] += 1
        width = max(len(kind) for kind in by_kind)
        print(f"  {'operation':<{width}}  {'count':>6}  answers")
        for kind in [*KINDS, *sorted(k for k in by_kind if k.startswith("staff:"))]:
            if kind not in by_kind:
                continue
            counts = by_kind[kind]
            detail = ", ".join(f"{label}: {n}" for label, n in sorted(counts.items()))
            print(f"  {kind:<{width}}  {sum(counts.values()):>6}  {detail}")
        fivexx = sum(1 for a in answers if a.status >= 500)
        no_answer = sum(1 for a in answers if a.status == 0)
        print(
            f"  {len(answers)} requests in {elapsed:.1f} s ({len(answers) / elapsed:.0f}/s), "
            f"{len(staff_outcomes)} staff changes; 5xx: {fivexx}, no answer: {no_answer}; "
            f"total {total:.1f} s with setup and checks"
        )
        if self.db_name:
            bound = args.pgbouncer or args.workers * args.pool
            print(f"  most server connections at once: {self.max_connections} (bound {bound})")
        if self.failures:
            print(f"FAILED: {len(self.failures)} problems; the first ones:")
            for failure in self.failures[:15]:
                print("  - " + failure)
        else:
            print("OK: no 5xx, only documented answers, every success has its rows, ledgers replay")

    def cleanup(self) -> None:
        self.stop_all()
        if self.bouncer:
            self.bouncer.stop()
        if self.db_name:
            psql(f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)")
        if self.failures and self.args.keep_logs:
            print(f"logs kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--users", type=int, default=40, help="users per round (default 40)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds, a fresh cohort each")
    parser.add_argument(
        "--seconds", type=float, default=0, help="start no round after this long (0: no limit)"
    )
    parser.add_argument("--workers", type=int, default=3, help="server worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--pool", type=int, default=6, help="DB_POOL_MAX per worker")
    parser.add_argument("--clients", type=int, default=48, help="client threads")
    parser.add_argument(
        "--server-root", default=str(ROOT), help="the tree whose bin/serve and manage.py run"
    )
    parser.add_argument("--redis-url", default="", help="cache on Redis (default: database)")
    parser.add_argument("--keep-logs", action="store_true", help="keep logs of a failed run")
    parser.add_argument(
        "--pgbouncer",
        type=int,
        default=0,
        metavar="N",
        help="through a PgBouncer in transaction pooling with N server connections",
    )
    args = parser.parse_args()
    harness = Harness(args)
    try:
        return harness.run()
    finally:
        harness.cleanup()


if __name__ == "__main__":
    sys.exit(main())
