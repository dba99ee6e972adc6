"""Microseconds per in-process ``POST /api/v1/checkins`` and ``GET /api/v1/me`` of one
source tree, for side-by-side comparisons of two revisions with less noise than HTTP.

    git worktree add --detach /tmp/before <rev>
    .venv/bin/python scripts/bench/inprocess_ab.py --tree /tmp/before
    .venv/bin/python scripts/bench/inprocess_ab.py --tree .

Runs the tree's own code (its settings, middlewares, views and statements)
through Django's test client, which sends the request signals like a server,
against a scratch PostgreSQL database (``--admin-url``), with the test settings
and the per-user throttle off. Each round checks in ``-n`` fresh users once
and reads ``/me`` ``-n`` times; it prints the median and the fastest of the
rounds (the fastest is the least disturbed by other jobs). Run the two
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
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", required=True, help="the source tree to measure")
    parser.add_argument("-n", type=int, default=600, help="requests of each kind per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--admin-url", default="postgres://postgres@127.0.0.1:5432/postgres", help="PostgreSQL"
    )
    parser.add_argument(
        "--webhook-endpoint",
        action="store_true",
        help="subscribe one webhook endpoint to every event type (trees with webhooks only): "
        "each check-in then also enqueues its fan-out task",
    )
    args = parser.parse_args()

    tree = Path(args.tree).resolve()
    db_name = f"inprocess_ab_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", args.admin_url, "-qc", f"CREATE DATABASE {db_name}"], check=True)
    try:
        db_url = args.admin_url.rsplit("/", 1)[0] + "/" + db_name
        run(tree, db_url, args.n, args.rounds, webhook_endpoint=args.webhook_endpoint)
    finally:
        subprocess.run(
            ["psql", args.admin_url, "-qc", f"DROP DATABASE {db_name} WITH (FORCE)"], check=True
        )


def run(tree: Path, db_url: str, n: int, rounds: int, *, webhook_endpoint: bool) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.test_settings",
        DATABASE_URL=db_url,
        THROTTLE_USER="off",
        ACCESS_LOG="0",
        DB_POOL_MAX="2",
        ALLOWED_HOSTS="testserver",
    )
    os.environ.pop("REDIS_URL", None)
    os.chdir(tree)
    sys.path.insert(0, str(tree))
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from engagement.models import UserState
    from users.models import User
    from users.tokens import token_pair

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    users = User.objects.bulk_create(
        [User(email=f"ab{i}@example.com", password="!") for i in range(n * rounds)]
    )
    UserState.objects.bulk_create([UserState(user=user) for user in users])
    headers = [{"HTTP_AUTHORIZATION": f"Bearer {token_pair(u)['access']}"} for u in users]
    client = Client()
    if webhook_endpoint:
        from django.utils import timezone

        from webhooks.services import endpoint_create

        endpoint_create(url="https://hooks.example.invalid/ab", event_types=[], now=timezone.now())

    def per_request(method: str, path: str, batch: list[dict], status: int) -> float:
        started = time.perf_counter()
        for header in batch:
            response = getattr(client, method)(path, content_type="application/json", **header)
            if response.status_code != status:
                raise SystemExit(f"{method} {path}: {response.status_code} {response.content!r}")
        return (time.perf_counter() - started) / len(batch) * 1e6

    client.get("/api/v1/me", **headers[0])  # warm-up: compiled statements, imports
    checkins, reads = [], []
    for r in range(rounds):
        batch = headers[r * n : (r + 1) * n]
        checkins.append(per_request("post", "/api/v1/checkins", batch, 201))
        reads.append(per_request("get", "/api/v1/me", batch, 200))
    label = f"{tree}{' + webhook endpoint' if webhook_endpoint else ''}"
    print(
        f"{label}: POST /checkins median {statistics.median(checkins):.0f} us, "
        f"min {min(checkins):.0f}; GET /me median {statistics.median(reads):.0f} us, "
        f"min {min(reads):.0f} ({rounds} rounds of {n}: "
        f"{' '.join(f'{c:.0f}' for c in checkins)} / {' '.join(f'{m:.0f}' for m in reads)})"
    )


if __name__ == "__main__":
    main()
