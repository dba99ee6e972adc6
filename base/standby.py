"""A throwaway streaming standby of a local PostgreSQL cluster, for the
replica tests (``make test-replica``) and the replica benchmark.

:meth:`Standby.create` copies the running cluster with ``pg_basebackup -R``
(streamed WAL, a fast checkpoint) into a temporary directory, writes the
standby its own small configuration, starts it on a free port and returns
once it accepts connections in recovery; :meth:`Standby.remove` stops it and
deletes the directory. The postmaster refuses to run as root, so when this
runs as root every server command runs as ``postgres`` (``runuser``).

The primary needs a replication entry in ``pg_hba.conf`` for 127.0.0.1
(``host replication all 127.0.0.1/32 trust``, as ``.ci/run`` adds) and
``wal_level = replica`` (PostgreSQL's default).

A process that did not create the standby controls it through
:meth:`Standby.from_env` (``STANDBY_DIR``, ``STANDBY_PORT``, set by
:meth:`Standby.env`): the tests stop it mid-test and pause its replay.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg

SERVER_USER = "postgres"
# Ports the shared benchmark machine keeps for other servers.
_RESERVED_PORTS = {8931, 8932}


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", SERVER_USER, "--", *command]
    return command


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    # A fixed program (PostgreSQL's own tools) with arguments built here.
    return subprocess.run(_as_server_user(command), capture_output=True, text=True)  # noqa: S603


def _free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in _RESERVED_PORTS:
            return port


def _bin_dir(major: int) -> Path | None:
    """PG_BIN, else Debian's directory of the primary's major version, else PATH."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    debian = Path(f"/usr/lib/postgresql/{major}/bin")
    return debian if debian.is_dir() else None


class Standby:
    def __init__(self, root: Path, port: int, bin_dir: Path | None) -> None:
        self.root = root
        self.port = port
        self.bin_dir = bin_dir

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def _tool(self, name: str) -> str:
        return str(self.bin_dir / name) if self.bin_dir else name

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={SERVER_USER} dbname={dbname}"

    def url(self, dbname: str) -> str:
        return f"postgres://{SERVER_USER}@127.0.0.1:{self.port}/{dbname}"

    # --- Life cycle ------------------------------------------------------------------
    @classmethod
    def create(
        cls, *, primary_host: str = "127.0.0.1", primary_port: int = 5432, timeout: float = 120.0
    ) -> Standby:
        primary = f"host={primary_host} port={primary_port} user={SERVER_USER} dbname=postgres"
        with psycopg.connect(primary, connect_timeout=5) as conn:
            major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000  # type: ignore[index]
            # A hot standby needs at least the primary's values of these.
            minimums = {
                name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                for name in (
                    "max_connections",
                    "max_worker_processes",
                    "max_wal_senders",
                    "max_prepared_transactions",
                    "max_locks_per_transaction",
                )
            }
        root = Path(tempfile.mkdtemp(prefix="engagement-standby-"))
        if os.geteuid() == 0:
            shutil.chown(root, SERVER_USER, SERVER_USER)
        standby = cls(root, _free_port(), _bin_dir(major))
        try:
            standby._base_backup(primary_host, primary_port)
            standby._configure(minimums)
            standby.start(timeout=timeout)
        except BaseException:
            standby.remove()
            raise
        return standby

    def _base_backup(self, host: str, port: int) -> None:
        command = [
            self._tool("pg_basebackup"),
            f"--host={host}",
            f"--port={port}",
            f"--username={SERVER_USER}",
            f"--pgdata={self.data_dir}",
            "--write-recovery-conf",  # -R: standby.signal and primary_conninfo
            "--wal-method=stream",
            "--checkpoint=fast",
            "--no-sync",  # a throwaway copy
        ]
        done = _run(command)
        if done.returncode != 0:
            raise RuntimeError(
                f"pg_basebackup failed ({done.returncode}): {done.stderr.strip()}\n"
                "The primary needs `host replication all 127.0.0.1/32 trust` in pg_hba.conf."
            )

    def _configure(self, minimums: dict[str, str]) -> None:
        """Debian keeps a cluster's configuration outside its data directory,
        so the copy has none (and any it has is the primary's): the standby
        gets its own."""
        settings = {
            **minimums,
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            "hot_standby": "on",
            "shared_buffers": "'32MB'",
            "fsync": "off",
            "logging_collector": "off",
            "hba_file": f"'{self.data_dir / 'pg_hba.conf'}'",
            "ident_file": f"'{self.data_dir / 'pg_ident.conf'}'",
        }
        files = {
            "postgresql.conf": "".join(f"{name} = {value}\n" for name, value in settings.items()),
            "pg_hba.conf": "local all all trust\nhost all all 127.0.0.1/32 trust\n",
            "pg_ident.conf": "",
        }
        for name, text in files.items():
            path = self.data_dir / name
            path.write_text(text)
            if os.geteuid() == 0:
                shutil.chown(path, SERVER_USER, SERVER_USER)

    def _pg_ctl(self, *args: str) -> None:
        command = [self._tool("pg_ctl"), "--pgdata", str(self.data_dir), *args]
        done = _run(command)
        if done.returncode != 0:
            log = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(f"pg_ctl {args[-1]} failed: {done.stderr.strip()}\n{log}")

    def start(self, *, timeout: float = 60.0) -> None:
        """Start the server and wait until it accepts connections in recovery."""
        self._pg_ctl("--log", str(self.log_file), "--wait", f"--timeout={int(timeout)}", "start")
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2) as conn:
                    if conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,):
                        return
            except psycopg.OperationalError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the standby did not come up in recovery: see {self.log_file}")
            time.sleep(0.2)

    def is_running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def stop(self, *, mode: str = "fast") -> None:
        if self.is_running():
            self._pg_ctl("--mode", mode, "--wait", "stop")

    def remove(self) -> None:
        try:
            self.stop(mode="immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Standby:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.remove()

    # --- Control from another process ------------------------------------------------
    def env(self) -> dict[str, str]:
        return {
            "STANDBY_DIR": str(self.root),
            "STANDBY_PORT": str(self.port),
            "STANDBY_BIN": str(self.bin_dir or ""),
        }

    @classmethod
    def from_env(cls) -> Standby | None:
        if not os.environ.get("STANDBY_DIR"):
            return None
        bin_dir = os.environ.get("STANDBY_BIN", "")
        return cls(
            Path(os.environ["STANDBY_DIR"]),
            int(os.environ["STANDBY_PORT"]),
            Path(bin_dir) if bin_dir else None,
        )

    # --- Replay ----------------------------------------------------------------------
    def _execute(self, sql: str) -> object:
        with psycopg.connect(self.dsn(), connect_timeout=5, autocommit=True) as conn:
            row = conn.execute(sql).fetchone()
            return row[0] if row else None

    def pause_replay(self) -> None:
        """WAL still arrives, but nothing more becomes visible: lag."""
        self._execute("SELECT pg_wal_replay_pause()")
        while self._execute("SELECT pg_get_wal_replay_pause_state()") != "paused":
            time.sleep(0.05)

    def resume_replay(self) -> None:
        self._execute("SELECT pg_wal_replay_resume()")

    def wait_for(self, primary_dsn: str, *, timeout: float = 30.0) -> None:
        """Return once the standby has replayed everything the primary wrote so far."""
        with psycopg.connect(primary_dsn, connect_timeout=5, autocommit=True) as conn:
            target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
        deadline = time.monotonic() + timeout
        while self._execute(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") is not True:
            if time.monotonic() > deadline:
                raise RuntimeError("the standby did not catch up with the primary")
            time.sleep(0.05)
