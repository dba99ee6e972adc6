"""Microseconds per in-process ``POST /api/v1/checkins`` and ``GET /api/v1/me`` of one
source tree, for side-by-side comparisons of two revisions with less noise than HTTP.

    git worktree add --detach /tmp/before <rev>
    .venv/bin/python scripts/bench/inprocess_ab.py --tree /tmp/before
    .venv/bin/python scripts/bench/inprocess_ab.py --tree .

Runs the tree's own code (its settings, middlewares, views and statements)
through Django's test client, which sends the request signals like a server,
against a scratch PostgreSQL database (``--admin-url``), with the test settings
and the per-user throttle off. Each round checks in ``-n`` fresh users once
and reads ``/me`` ``-n`` times; it prints, per request, the median over the
rounds of the elapsed time and of the CPU each request cost: this process's
(the application) and that of the PostgreSQL server process behind its one
connection (from /proc), which other jobs on the machine disturb much less
than elapsed time. Run the two
trees alternately, several times (A B A B ...): on a shared machine the figures
drift between runs, and only runs close in time compare. Figures:
docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", required=True, help="the source tree to measure")
    parser.add_argument("-n", type=int, default=600, help="requests of each kind per round")
    parser.add_argument(
        "--rounds", type=int, default=7, help="rounds of -n requests each (the median is reported)"
    )
    parser.add_argument(
        "--admin-url", default="postgres://postgres@127.0.0.1:5432/postgres", help="PostgreSQL"
    )
    parser.add_argument(
        "--webhook-endpoint",
        action="store_true",
        help="subscribe one webhook endpoint to every event type (trees with webhooks only): "
        "each check-in then also enqueues its fan-out task",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for this run (repeatable), e.g. DB_PREPARED_STATEMENTS=0, to compare "
        "one tree with a lever on and off",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="after the rounds, profile N more check-ins and N reads of /me (cProfile, "
        "CPU time) and print the functions that cost the most",
    )
    args = parser.parse_args()
    os.environ.update(dict(item.split("=", 1) for item in args.env))

    tree = Path(args.tree).resolve()
    db_name = f"inprocess_ab_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", args.admin_url, "-qc", f"CREATE DATABASE {db_name}"], check=True)
    try:
        db_url = args.admin_url.rsplit("/", 1)[0] + "/" + db_name
        run(
            tree,
            db_url,
            args.n,
            args.rounds,
            webhook_endpoint=args.webhook_endpoint,
            profile=args.profile,
            label=" ".join(args.env),
        )
    finally:
        subprocess.run(
            ["psql", args.admin_url, "-qc", f"DROP DATABASE {db_name} WITH (FORCE)"], check=True
        )


def run(
    tree: Path,
    db_url: str,
    n: int,
    rounds: int,
    *,
    webhook_endpoint: bool,
    profile: int,
    label: str,
) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.test_settings",
        DATABASE_URL=db_url,
        THROTTLE_USER="off",
        ACCESS_LOG="0",
        # One connection, so one server process to account the CPU of.
        DB_POOL_MIN="1",
        DB_POOL_MAX="1",
        ALLOWED_HOSTS="testserver",
    )
    os.environ.pop("REDIS_URL", None)
    os.chdir(tree)
    sys.path.insert(0, str(tree))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from engagement.models import UserState
    from users.models import User
    from users.tokens import token_pair

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    users = User.objects.bulk_create(
        [User(email=f"ab{i}@example.com", password="!") for i in range(n * rounds + profile)]
    )
    UserState.objects.bulk_create([UserState(user=user) for user in users])
    headers = [{"HTTP_AUTHORIZATION": f"Bearer {token_pair(u)['access']}"} for u in users]
    client = Client()
    if webhook_endpoint:
        from django.utils import timezone

        from webhooks.services import endpoint_create

        endpoint_create(url="https://hooks.example.invalid/ab", event_types=[], now=timezone.now())

    def backend_cpu_seconds() -> float:
        # utime + stime of the PostgreSQL process serving this connection
        # (same machine): CPU it spent, however busy the machine is.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def per_request(method: str, path: str, batch: list[dict], status: int) -> Sample:
        started, cpu, db_cpu = time.perf_counter(), time.process_time(), backend_cpu_seconds()
        for header in batch:
            response = getattr(client, method)(path, content_type="application/json", **header)
            if response.status_code != status:
                raise SystemExit(f"{method} {path}: {response.status_code} {response.content!r}")
        n = len(batch)
        return Sample(
            wall=(time.perf_counter() - started) / n * 1e6,
            cpu=(time.process_time() - cpu) / n * 1e6,
            db_cpu=(backend_cpu_seconds() - db_cpu) / n * 1e6,
        )

    client.get("/api/v1/me", **headers[0])  # warm-up: compiled statements, imports
    checkins: list[Sample] = []
    reads: list[Sample] = []
    for r in range(rounds):
        batch = headers[r * n : (r + 1) * n]
        checkins.append(per_request("post", "/api/v1/checkins", batch, 201))
        reads.append(per_request("get", "/api/v1/me", batch, 200))
    label = f"{tree}{' + webhook endpoint' if webhook_endpoint else ''} {label}".rstrip()
    print(f"{label} ({rounds} rounds of {n}), microseconds per request, median of the rounds:")
    for name, samples in (("POST /checkins", checkins), ("GET /me", reads)):
        print(
            f"  {name:15} wall {statistics.median(s.wall for s in samples):6.0f}"
            f"  app CPU {statistics.median(s.cpu for s in samples):6.0f}"
            f"  database CPU {statistics.median(s.db_cpu for s in samples):6.0f}"
            f"  (app + database CPU {statistics.median(s.cpu + s.db_cpu for s in samples):6.0f})"
        )
    if profile:
        print_profile(client, headers[rounds * n :])


def print_profile(client, headers: list[dict]) -> None:
    """Where a request's CPU goes: cProfile with a CPU clock (waits for
    PostgreSQL do not count), the functions by cumulative time, per request."""
    import cProfile
    import pstats

    for method, path in (("post", "/api/v1/checkins"), ("get", "/api/v1/me")):
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for header in headers:
            getattr(client, method)(path, content_type="application/json", **header)
        profiler.disable()
        print(f"\n--- {method.upper()} {path}: cumulative CPU of {len(headers)} requests")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)


@dataclass(frozen=True)
class Sample:
    wall: float  # elapsed, per request
    cpu: float  # this process's CPU (the application), per request
    db_cpu: float  # the PostgreSQL backend's CPU, per request


if __name__ == "__main__":
    main()
