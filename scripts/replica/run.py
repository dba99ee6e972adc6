"""`make test-replica`: a throwaway streaming standby of the PostgreSQL cluster
that DATABASE_URL names, and the replica tests against it.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/engagement \
        python scripts/replica/run.py [pytest args]

The standby is a `pg_basebackup -R` copy of the whole cluster (base.standby),
started on a free port; the suite's test database, created on the primary,
reaches it by streaming replication. The standby is stopped and removed
afterwards, whatever the outcome. The primary needs a replication entry in
pg_hba.conf (`host replication all 127.0.0.1/32 trust`; .ci/run adds it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from base.standby import Standby  # noqa: E402


def main() -> int:
    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        print("DATABASE_URL must name the PostgreSQL primary", file=sys.stderr)
        return 2
    started = time.monotonic()
    with Standby.create(
        primary_host=parts.hostname or "127.0.0.1", primary_port=parts.port or 5432
    ) as standby:
        print(f"standby on port {standby.port} in {time.monotonic() - started:.1f} s", flush=True)
        env = {
            **os.environ,
            **standby.env(),
            "DATABASE_REPLICA_URL": standby.url(parts.path.lstrip("/") or "postgres"),
            # A few connections each: the cluster's max_connections is shared.
            "DB_POOL_MAX": "3",
            "DB_REPLICA_POOL_MAX": "3",
        }
        command = [
            sys.executable,
            "-m",
            "pytest",
            "config/tests/test_read_replica.py",
            "-m",
            "replica",
            "--create-db",
            "-p",
            "no:cacheprovider",
            *sys.argv[1:],
        ]
        return subprocess.call(command, env=env, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
