"""A server subprocess for a test (bin/serve, or the container's entrypoint that
ends in it): started on a port the kernel picks, ready once it answers.

The port. Picking a free port in the test (bind to port 0, close, pass the
number on) leaves a window in which any other process can take it: the server
then fails to start, or worse, the test talks to someone else's server. So the
server gets ``PORT=0`` and binds whatever port the kernel gives it, atomically;
the test reads which one from /proc: the listening TCP socket held by the
server's process or one of its descendants (granian's workers hold it,
gunicorn's arbiter does), so it is this server's port and no one else's.
granian logs ":0", so its log cannot tell.

Readiness. The test polls a path (``/healthz`` by default) until it answers
200, with a deadline; the server exiting, or the deadline passing, fails the
test with the server's log. No fixed sleeps.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

POLL_INTERVAL = 0.05
LISTEN = "0A"  # the TCP state in /proc/net/tcp


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # pid (comm) state ppid ...; comm may hold spaces and parentheses
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def socket_inodes(pid: int) -> set[str]:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:  # gone, or not ours to read
        return set()
    inodes = set()
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def listening_port(pid: int) -> int | None:
    """The TCP port ``pid`` or a process below it listens on, if any (Linux /proc)."""
    inodes: set[str] = set()
    for process in descendants(pid):
        inodes |= socket_inodes(process)
    if not inodes:
        return None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as rows:
                next(rows)  # the header
                for row in rows:
                    fields = row.split()
                    local, state, inode = fields[1], fields[3], fields[9]
                    if state == LISTEN and inode in inodes:
                        return int(local.rsplit(":", 1)[1], 16)
        except OSError:
            continue
    return None


def answers(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@dataclass
class LiveServer:
    name: str
    process: subprocess.Popen
    log: Path
    port: int = 0  # known once the server listens

    def log_tail(self, size: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-size:]

    def wait_until_ready(self, *, path: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise AssertionError(f"{self.name} exited ({code}) at start:\n{self.log_tail()}")
            self.port = self.port or listening_port(self.process.pid) or 0
            if self.port and answers(self.port, path):
                return
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{self.name} not ready on {path} in {timeout:.0f}s:\n{self.log_tail()}"
                )
            time.sleep(POLL_INTERVAL)

    def stop(self, *, timeout: float = 30.0) -> int:
        """SIGTERM (a graceful stop), then SIGKILL after ``timeout``; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=10)


def start(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    log: Path,
    cwd: Path,
    name: str = "server",
    ready_path: str = "/healthz",
    timeout: float = 30.0,
) -> LiveServer:
    """Start ``command`` with ``PORT=0`` and return it once ``ready_path``
    answers 200; stopped again if it does not."""
    with log.open("w") as out:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env={**env, "PORT": "0"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(name=name, process=process, log=log)
    try:
        server.wait_until_ready(path=ready_path, timeout=timeout)
    except BaseException:
        server.stop(timeout=10)
        raise
    return server
