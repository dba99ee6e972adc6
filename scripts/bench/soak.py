"""`make soak`: mixed traffic at about 70% of measured capacity for ten minutes
against the production server on PostgreSQL; reports throughput, p50/p99,
errors and worker memory at the start and the end. Not part of CI.

    make soak                      # 600 s at 70% of a 10 s capacity probe
    make soak SOAK_ARGS="--seconds 120 --rate 300"
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import run  # the benchmark's building blocks


def rss_kib(pids: list[int]) -> dict[int, int]:
    sizes = {}
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
        sizes[pid] = int(line.split()[1])
    return sizes


def workers(server) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def soak_wrk(port: int, tokens: Path, seconds: int, connections: int, delay_ms: int):
    env = {**os.environ, "BENCH_TOKENS": str(tokens), "SOAK_DELAY_MS": str(delay_ms)}
    cmd = [
        "wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
        "-s", str(run.ROOT / "scripts/bench/soak.lua"), f"http://127.0.0.1:{port}/api/v1/me",
    ]  # fmt: skip
    out = subprocess.run(cmd, env=env, check=True, text=True, capture_output=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH_RESULT"))
    fields = dict(item.split("=") for item in line.split()[1:])
    statuses = {int(k[7:]): int(v) for k, v in fields.items() if k.startswith("status_")}
    return (
        int(fields["requests"]) / (int(fields["duration_us"]) / 1e6),
        int(fields["p50_us"]) / 1000,
        int(fields["p99_us"]) / 1000,
        statuses,
        int(fields["socket_errors"]),
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=" ".join(__doc__.split("\n\n")[0].split()),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--seconds", type=int, default=600, help="length of the paced run, after the probe"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="requests per second to pace at; 0: 70%% of a 10 s capacity probe",
    )
    parser.add_argument(
        "--users", type=int, default=60000, help="users with access tokens (5 days of history)"
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument(
        "--port", type=int, default=8767, help="port the server listens on (127.0.0.1)"
    )
    args = parser.parse_args()

    admin_url = os.environ.get("BENCH_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    db_name = os.environ.get("SOAK_DB", "engagement_soak")
    env = {
        **os.environ,
        "DATABASE_URL": admin_url.rsplit("/", 1)[0] + "/" + db_name,
        "DEBUG": "0",
        "SECRET_KEY": "soak-only-" + uuid.uuid4().hex * 2,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
        "THROTTLE_USER": "100000000/min",  # counted, never limiting
        "JWT_ACCESS_MINUTES": "240",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    print(f"== preparing {db_name} with {args.users} users", flush=True)
    run.prepare_database(env, admin_url, db_name)
    import django

    django.setup()
    run.create_users(args.users, history_days=5)
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    tokens = work / "tokens"
    tokens.write_text("\n".join(run.access_tokens(args.users)) + "\n")
    server = run.start_server("granian", 2, 4, args.port, env, work / "server.log")
    try:
        rate = args.rate
        if not rate:
            capacity, *_ = soak_wrk(args.port, tokens, 10, args.connections, 0)
            rate = 0.7 * capacity
            print(f"capacity probe: {capacity:.0f} req/s -> soak at {rate:.0f} req/s")
        # Each connection waits delay_ms between requests: rate ~ connections / delay.
        delay_ms = max(1, int(args.connections * 1000 / rate))
        pids = workers(server)
        memory_start = rss_kib(pids)
        started = time.monotonic()
        result = soak_wrk(args.port, tokens, args.seconds, args.connections, delay_ms)
        memory_end = rss_kib(pids)
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)

    throughput, p50, p99, statuses, socket_errors = result
    errors = sum(n for status, n in statuses.items() if status >= 500) + socket_errors
    unexpected = {s: n for s, n in statuses.items() if s not in (200, 201, 409)}
    print(f"\nsoak: {elapsed:.0f} s at {throughput:.0f} req/s (target {rate:.0f}); "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms")  # fmt: skip
    print(f"statuses: {dict(sorted(statuses.items()))}; socket errors: {socket_errors}")
    for pid in pids:
        start, end = memory_start.get(pid, 0), memory_end.get(pid, 0)
        print(f"worker {pid}: RSS {start / 1024:.1f} MiB at start, {end / 1024:.1f} MiB at end "
              f"({(end - start) / 1024:+.1f} MiB)")  # fmt: skip
    failed = bool(errors or unexpected)
    print("RESULT:", "FAILED" if failed else "ok (zero errors)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
