"""A throwaway PgBouncer in transaction pooling, for the tests and the benchmark.

Debian's ``pgbouncer`` (``apt-get install pgbouncer``) on a free port, with its
own configuration and auth file in a temporary directory, in front of the
local PostgreSQL (trust authentication, user ``postgres``)::

    with PgBouncer(pool_size=4) as bouncer:
        url = bouncer.url("engagement")        # postgres://postgres@127.0.0.1:PORT/engagement
        ...
        assert bouncer.leftover_session_state("engagement") == []

    python scripts/pgbouncer.py --pool-size 4 -- make test   # a command through it

The command form exports ``PGBOUNCER_PORT`` and rewrites ``DATABASE_URL`` (if
set) to go through PgBouncer. Standard library only (psql answers the admin
console; psycopg only for the session state check), so any script can import
it. See docs/SCALING.md.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"

# PgBouncer itself keeps these per client and sets them on whichever server
# connection serves the client's next transaction: a session-level SET of one
# of them is safe (Django's pool sets TimeZone on each new connection).
TRACKED_PARAMETERS = (
    "application_name",
    "client_encoding",
    "datestyle",
    "standard_conforming_strings",
    "timezone",
)

# What a transaction may leave on its server connection that the next
# transaction, another client's, would inherit. Run inside a transaction on
# each server connection; each query answers one line per leftover.
SESSION_STATE_CHECKS = {
    "prepared statement": "SELECT name FROM pg_prepared_statements",
    "open cursor (WITH HOLD)": "SELECT name FROM pg_cursors",
    "LISTEN": "SELECT pg_listening_channels()",
    "temporary table": (
        "SELECT relname FROM pg_class WHERE relnamespace = pg_my_temp_schema() AND relkind = 'r'"
    ),
    "advisory lock": (
        "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
    ),
    "session setting": (
        "SELECT name || '=' || setting FROM pg_settings WHERE source = 'session' "
        "AND lower(name) NOT IN (" + ", ".join(f"'{name}'" for name in TRACKED_PARAMETERS) + ")"
    ),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgBouncer:
    """One PgBouncer process; ``start()``/``stop()`` or a ``with`` block.

    ``pool_size`` is the server connections per database (PgBouncer's
    ``default_pool_size``, no reserve): what PostgreSQL sees, however many
    clients connect. ``upstream`` is where PostgreSQL listens (a fault test's
    proxy). ``settings`` override or add ``[pgbouncer]`` settings.
    """

    def __init__(
        self,
        *,
        pool_size: int = 4,
        upstream: tuple[str, int] = ("127.0.0.1", 5432),
        user: str = "postgres",
        port: int = 0,
        max_client_conn: int = 400,
        settings: dict[str, str | int] | None = None,
    ) -> None:
        self.pool_size = pool_size
        self.upstream = upstream
        self.user = user
        self.port = port
        self.settings: dict[str, str | int] = {
            "pool_mode": "transaction",
            "default_pool_size": pool_size,
            "min_pool_size": 0,
            "reserve_pool_size": 0,
            "max_client_conn": max_client_conn,
            # Never reset server connections between clients: in transaction
            # pooling that is the default, and it is what lets the checks see
            # anything a transaction left behind.
            "server_reset_query_always": 0,
            # No startup parameter is ignored: a client that sends `options`
            # (e.g. -c statement_timeout=...) is refused rather than have its
            # settings silently dropped. See docs/SCALING.md.
            "ignore_startup_parameters": "",
            # A dead or unreachable PostgreSQL fails fast instead of queueing
            # clients for the default two minutes.
            "server_connect_timeout": 2,
            "server_login_retry": 1,
            "query_wait_timeout": 10,
            "server_lifetime": 3600,
            "server_idle_timeout": 600,
            "log_connections": 0,
            "log_disconnections": 0,
            **(settings or {}),
        }
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    # --- process ------------------------------------------------------------------
    def start(self) -> PgBouncer:
        if not os.path.exists(PGBOUNCER):
            raise RuntimeError("pgbouncer is not installed: apt-get install -y pgbouncer")
        self.port = self.port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        host, upstream_port = self.upstream
        (self.dir / "userlist.txt").write_text(f'"{self.user}" ""\n')
        lines = [
            "[databases]",
            # Any database name: the same name on the upstream server.
            f"* = host={host} port={upstream_port}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {self.dir / 'userlist.txt'}",
            f"admin_users = {self.user}",
            f"logfile = {self.dir / 'pgbouncer.log'}",
            f"pidfile = {self.dir / 'pgbouncer.pid'}",
            *(f"{key} = {value}" for key, value in self.settings.items()),
        ]
        (self.dir / "pgbouncer.ini").write_text("\n".join(lines) + "\n")
        command = [PGBOUNCER, "-q", str(self.dir / "pgbouncer.ini")]
        if os.geteuid() == 0:  # PgBouncer refuses to run as root
            run_as = os.environ.get("PGBOUNCER_RUN_AS", "postgres")
            account = pwd.getpwnam(run_as)
            os.chown(self.dir, account.pw_uid, account.pw_gid)
            for path in self.dir.iterdir():
                os.chown(path, account.pw_uid, account.pw_gid)
            command[1:1] = ["-u", run_as]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self.process.stderr.read()}{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pgbouncer did not listen on {self.port}:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # immediate shutdown
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        path = self.dir / "pgbouncer.log" if self.dir else None
        return path.read_text() if path and path.exists() else ""

    # --- addresses ------------------------------------------------------------------
    def url(self, database: str, query: str = "") -> str:
        """The URL of ``database`` through PgBouncer (DATABASE_URL's form)."""
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database}" + (
            f"?{query}" if query else ""
        )

    def rewrite(self, database_url: str) -> str:
        """``database_url`` (a PostgreSQL URL) through PgBouncer: same
        database, query and user."""
        parts = urlsplit(database_url)
        netloc = (parts.username or self.user) + f"@127.0.0.1:{self.port}"
        return urlunsplit(("postgres", netloc, parts.path, parts.query, ""))

    # --- admin console and checks ---------------------------------------------------
    def psql(self, database: str, *statements: str, timeout: float = 30) -> list[list[str]]:
        """Rows of ``statements``, sent one by one by one client (simple query
        protocol, which the admin console needs) through PgBouncer."""
        commands = [arg for sql in statements for arg in ("-c", sql)]
        out = subprocess.run(
            ["psql", "-X", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d",
             database, "-qAtF", "\t", "-v", "ON_ERROR_STOP=1", *commands],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if out.returncode:
            raise RuntimeError(f"psql {database}: {statements!r}: {out.stderr.strip()}")
        return [line.split("\t") for line in out.stdout.splitlines() if line]

    def show(self, what: str) -> list[dict[str, str]]:
        """``SHOW <what>`` on the admin console, as dicts."""
        out = subprocess.run(
            ["psql", "-X", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d",
             "pgbouncer", "-AF", "\t", "-P", "footer=off", "-c", f"SHOW {what}"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        header, *rows = out.stdout.splitlines()
        names = header.split("\t")
        return [dict(zip(names, row.split("\t"), strict=True)) for row in rows]

    def server_pids(self, database: str) -> set[int]:
        """The PostgreSQL backends PgBouncer holds for ``database``."""
        return {
            int(row["remote_pid"]) for row in self.show("SERVERS") if row["database"] == database
        }

    def leftover_session_state(self, database: str) -> list[str]:
        """What any server connection of ``database`` still carries from an
        earlier transaction (see SESSION_STATE_CHECKS); [] when clean.

        Opens ``pool_size`` clients, each inside a transaction until all of
        them are, so that each holds a server connection of its own and
        together they visit every one: a leftover cannot hide on a connection
        the check did not get. Run it when no other client is busy."""
        import threading

        import psycopg  # the project's driver; its prepared statements off

        barrier = threading.Barrier(self.pool_size, timeout=60)
        found: list[str] = []
        seen: set[int] = set()
        errors: list[str] = []
        union = " UNION ALL ".join(
            f"SELECT '{kind}', x::text FROM ({sql}) AS q(x)"
            for kind, sql in SESSION_STATE_CHECKS.items()
        )

        def visit() -> None:
            try:
                with psycopg.connect(
                    self.url(database), prepare_threshold=None, connect_timeout=10
                ) as conn:
                    barrier.wait()
                    (pid,) = conn.execute("SELECT pg_backend_pid()").fetchone()
                    rows = conn.execute(union).fetchall()
                    barrier.wait()  # every client holds its own server connection
                    conn.rollback()
            except Exception as exc:  # reported below
                errors.append(repr(exc))
                barrier.abort()
                return
            seen.add(pid)
            found.extend(f"{kind} {value!r} on backend {pid}" for kind, value in rows)

        threads = [threading.Thread(target=visit) for _ in range(self.pool_size)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        if errors:
            raise RuntimeError("session state check failed: " + "; ".join(errors))
        unvisited = self.server_pids(database) - seen
        if unvisited:
            found.append(f"server connections not visited by the check: {sorted(unvisited)}")
        return found


def main() -> int:
    parser = argparse.ArgumentParser(description="Run a command through a throwaway PgBouncer.")
    parser.add_argument("--pool-size", type=int, default=4, help="server connections per database")
    parser.add_argument("--port", type=int, default=0, help="listen port (default: a free one)")
    parser.add_argument(
        "--check-database",
        default="",
        help="after the command, fail if a server connection of this database kept "
        "session state (default: DATABASE_URL's database; 'none' to skip)",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- command and arguments")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    with PgBouncer(pool_size=args.pool_size, port=args.port) as bouncer:
        env = {**os.environ, "PGBOUNCER_PORT": str(bouncer.port), "DB_TRANSACTION_POOLING": "1"}
        database = args.check_database
        if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
            env["DATABASE_URL"] = bouncer.rewrite(os.environ["DATABASE_URL"])
            database = database or urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/")
        print(f"pgbouncer on 127.0.0.1:{bouncer.port} (transaction pooling, "
              f"{args.pool_size} server connections per database)", flush=True)  # fmt: skip
        code = subprocess.run(command, env=env, check=False).returncode
        if database and database != "none":
            leftovers = bouncer.leftover_session_state(database)
            if leftovers:
                print("session state left on PgBouncer's server connections:", file=sys.stderr)
                for leftover in leftovers:
                    print("  - " + leftover, file=sys.stderr)
                code = code or 1
        return code


if __name__ == "__main__":
    sys.exit(main())
