"""Webhook delivery throughput: events per second through real `manage.py
db_worker` processes to a fast local receiver, on PostgreSQL.

For each worker count: a fresh endpoint, N events written in one change's
transaction (so one fan-out task), then the workers start and the clock runs
until every delivery is delivered. The receiver checks each signature and
answers 204 at once, so the figure is the sender's: the fan-out, then per
event a task claimed, a lease, a signed POST on a new connection, and the
outcome recorded.

    .venv/bin/python scripts/bench/webhooks.py --events 1000 --workers 1,2

Creates and drops a database of its own (``engagement_bench_hooks_<random>``).
Not part of CI: figures depend on the machine; see docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
MANAGE = [sys.executable, str(ROOT / "manage.py")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events",
        type=int,
        default=1000,
        help="events written per run, in one change (one fan-out task)",
    )
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="runs per worker count")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BENCH_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL to create the run's database on (env BENCH_ADMIN_URL)",
    )
    args = parser.parse_args()

    name = f"engagement_bench_hooks_{uuid.uuid4().hex[:8]}"
    url = args.admin_url.rsplit("/", 1)[0] + "/" + name
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-" + uuid.uuid4().hex * 2,
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    }
    subprocess.run(["psql", args.admin_url, "-qc", f"CREATE DATABASE {name}"], check=True)
    try:
        subprocess.run([*MANAGE, "migrate", "--noinput", "-v0"], env=env, check=True)
        os.environ.update(env)
        import django

        django.setup()
        results = [
            (count, run(events=args.events, workers=count, env=env))
            for count in [int(c) for c in args.workers.split(",")]
            for _ in range(args.rounds)
        ]
        from django.db import connections

        connections.close_all()
    finally:
        subprocess.run(
            ["psql", args.admin_url, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
            check=True,
        )
    print(f"\n{'workers':>7}  {'events':>6}  {'seconds':>7}  {'events/s':>8}  {'per worker':>10}")
    for count, (events, seconds) in results:
        rate = events / seconds
        print(f"{count:>7}  {events:>6}  {seconds:>7.2f}  {rate:>8.1f}  {rate / count:>10.1f}")


def run(*, events: int, workers: int, env: dict[str, str]) -> tuple[int, float]:
    from django.db import transaction
    from django.utils import timezone

    from events.services import record_events
    from users.models import User
    from webhooks import services, subscriptions
    from webhooks.models import Delivery, WebhookEndpoint
    from webhooks.tests.receiver import Receiver

    receiver = Receiver().start()
    WebhookEndpoint.objects.update(is_active=False)
    created = services.endpoint_create(url=receiver.url, event_types=[], now=timezone.now())
    receiver.secrets.append(created.secret)
    subscriptions.forget_snapshot()
    user = User.objects.create(email=f"bench-{uuid.uuid4().hex}@example.com", password="!")
    with transaction.atomic():
        record_events(
            now=timezone.now(),
            events=[(user.pk, "tool.used", {"tool_id": f"t{i}"}) for i in range(events)],
        )
    processes = [
        subprocess.Popen(
            [*MANAGE, "db_worker", "--no-startup-delay", "--interval", "0.05"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(workers)
    ]
    started = time.monotonic()
    try:
        delivered = Delivery.objects.filter(endpoint_id=created.endpoint_id, status="delivered")
        while delivered.count() < events:
            if any(p.poll() is not None for p in processes):
                raise SystemExit("a worker exited")
            time.sleep(0.05)
        seconds = time.monotonic() - started
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(30)
        receiver.stop()
    assert not receiver.unverified(), "a delivery failed its signature check"
    assert receiver.overlaps == [], "a webhook-id was in flight twice at once"
    print(f"{workers} worker(s): {events} events delivered in {seconds:.2f} s")
    return events, seconds


if __name__ == "__main__":
    main()
