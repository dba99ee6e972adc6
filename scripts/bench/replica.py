"""Reads with the read replica off and on, interleaved: ``GET /me`` (always on
the primary) and the list reads the replica takes (``/rewards``, ``/checkins``,
``/ledger``, ``/leaderboards/weekly``, ``/events``).

    .venv/bin/python scripts/bench/replica.py [--users 200 --days 10 -n 200 --rounds 5]

Makes a scratch database on the local cluster (``--admin-url``) with users and
their history (real check-ins through the service), then a throwaway standby
of the cluster (base.standby, ``pg_basebackup -R``). One process drives the
service in-process through Django's test client (its settings, middlewares,
views and selectors; no HTTP server), with one pooled connection to each
database, so the PostgreSQL server process behind each can be accounted. Each
round runs every endpoint ``-n`` times with the replica off (``REPLICA``'s
alias unset: today's behaviour), then on, alternately (A B A B ...), and
prints per request, the median over the rounds of: elapsed time, statements
run on the primary, and CPU of the primary's and of the replica's server
process (from /proc; other jobs on the machine disturb it much less than
elapsed time). The cache is the database (no REDIS_URL), so read-your-writes
costs one primary statement per routed read here; with Redis it costs none.

Not in CI: the figures depend on the machine; see docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from base.standby import Standby  # noqa: E402

PATHS = [
    "/api/v1/me",
    "/api/v1/rewards",
    "/api/v1/checkins",
    "/api/v1/ledger",
    "/api/v1/leaderboards/weekly",
    "/api/v1/events",
]


@dataclass(frozen=True)
class Sample:
    requests: int
    wall: float  # microseconds per request
    primary_statements: float  # per request, the cache's excluded
    cache_statements: float  # per request, on the primary (the database cache)
    primary_cpu: float  # seconds of the primary's server process, the whole batch
    replica_cpu: float


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--days", type=int, default=10, help="days of check-ins per user")
    parser.add_argument("-n", type=int, default=200, help="requests per endpoint per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--admin-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    db_name = f"replica_ab_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", args.admin_url, "-qc", f"CREATE DATABASE {db_name}"], check=True)
    try:
        host, port = "127.0.0.1", 5432
        db_url = args.admin_url.rsplit("/", 1)[0] + "/" + db_name
        with Standby.create(primary_host=host, primary_port=port) as standby:
            run(db_url, standby, args)
    finally:
        subprocess.run(
            ["psql", args.admin_url, "-qc", f"DROP DATABASE {db_name} WITH (FORCE)"], check=True
        )


def run(db_url: str, standby: Standby, args: argparse.Namespace) -> None:
    db_name = db_url.rsplit("/", 1)[1]
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.test_settings",
        DATABASE_URL=db_url,
        DATABASE_REPLICA_URL=standby.url(db_name),
        THROTTLE_USER="off",
        ACCESS_LOG="0",
        LOG_LEVEL="ERROR",
        # One connection to each, so one server process each to account the CPU of.
        DB_POOL_MIN="1",
        DB_POOL_MAX="1",
        DB_REPLICA_POOL_MIN="1",
        DB_REPLICA_POOL_MAX="1",
        ALLOWED_HOSTS="testserver",
    )
    os.environ.pop("REDIS_URL", None)
    os.chdir(ROOT)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections
    from django.test import Client, override_settings
    from django.utils import timezone

    from base import replica
    from checkins.services import checkin_create
    from engagement.models import UserState
    from users.models import User
    from users.tokens import token_pair

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    call_command("seed_catalog", verbosity=0)
    users = User.objects.bulk_create(
        [User(email=f"ra{i}@example.com", password="!") for i in range(args.users)]
    )
    UserState.objects.bulk_create([UserState(user=user) for user in users])
    today = timezone.now()
    for user in users:
        for back in range(args.days - 1, -1, -1):
            checkin_create(user_id=user.pk, now=today - dt.timedelta(days=back))
    headers = [{"HTTP_AUTHORIZATION": f"Bearer {token_pair(u)['access']}"} for u in users]
    # Fresh tokens read on the primary (read-your-writes): let them age past it.
    time.sleep(2 + settings.REPLICA["CLOCK_SKEW_SECONDS"])
    standby.wait_for(f"host=127.0.0.1 port=5432 user=postgres dbname={db_name}")
    client = Client()

    def backend_cpu(alias: str) -> float:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    statements = {"cache": 0, "other": 0}

    def count(execute, sql, params, many, context):
        statements["cache" if "django_cache" in sql else "other"] += 1
        return execute(sql, params, many, context)

    def batch(path: str, n: int, alias: str | None) -> Sample:
        picks = [random.choice(headers) for _ in range(n)]  # noqa: S311
        with override_settings(REPLICA={**settings.REPLICA, "ALIAS": alias}):
            cpu = {a: backend_cpu(a) for a in ("default", "replica")}
            statements.update(cache=0, other=0)
            started = time.perf_counter()
            with connections["default"].execute_wrapper(count):
                for header in picks:
                    response = client.get(path, **header)
                    if response.status_code != 200:
                        raise SystemExit(f"GET {path}: {response.status_code}")
            wall = (time.perf_counter() - started) / n * 1e6
            used = {a: backend_cpu(a) - cpu[a] for a in cpu}
        return Sample(
            n,
            wall,
            statements["other"] / n,
            statements["cache"] / n,
            used["default"],
            used["replica"],
        )

    for path in PATHS:  # warm-up: compiled statements, imports, both pools
        batch(path, 5, None)
        batch(path, 5, "replica")
    samples: dict[tuple[str, str], list[Sample]] = {}
    for _ in range(args.rounds):
        for path in PATHS:
            for mode, alias in (("off", None), ("on", "replica")):
                samples.setdefault((path, mode), []).append(batch(path, args.n, alias))
    print(
        f"{args.users} users x {args.days} days, {args.rounds} rounds of {args.n} per endpoint, "
        f"median of the rounds; replica measurements: {replica.health()}"
    )
    print(
        "wall: median of the rounds; statements: per request; CPU: the server process's, "
        "per request, over all rounds (10 ms ticks)"
    )
    print(
        f"{'endpoint':28} {'replica':7} {'wall us':>8} {'primary stmts':>13} "
        f"{'cache stmts':>11} {'primary CPU us':>14} {'replica CPU us':>14}"
    )
    for path in PATHS:
        for mode in ("off", "on"):
            rows = samples[(path, mode)]
            total = sum(s.requests for s in rows)
            print(
                f"{path:28} {mode:7} {statistics.median(s.wall for s in rows):8.0f} "
                f"{statistics.median(s.primary_statements for s in rows):13.2f} "
                f"{statistics.median(s.cache_statements for s in rows):11.2f} "
                f"{sum(s.primary_cpu for s in rows) / total * 1e6:14.0f} "
                f"{sum(s.replica_cpu for s in rows) / total * 1e6:14.0f}"
            )


if __name__ == "__main__":
    main()
