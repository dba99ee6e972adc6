"""The spawned-server helper the live tests share (live_server.py): the port
comes from the kernel, readiness from polling with a deadline."""

import os
import subprocess
import sys

import pytest

from config.tests import live_server

CHILD = """
import socket, sys
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
sys.stdin.readline()
listener.listen()
print("listening", flush=True)
sys.stdin.readline()
"""


def test_the_listening_port_is_read_from_the_process():
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    stdin, stdout = child.stdin, child.stdout
    assert stdin is not None
    assert stdout is not None
    try:
        port = int(stdout.readline())
        assert live_server.listening_port(child.pid) is None  # bound, not listening yet

        stdin.write("\n")
        stdin.flush()
        assert stdout.readline() == "listening\n"

        assert live_server.listening_port(child.pid) == port
    finally:
        child.kill()
        child.wait()


def test_a_server_on_port_zero_is_found_and_ready(tmp_path):
    # The stand-in binds port 0 itself, as granian and gunicorn do with PORT=0.
    server = live_server.start(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "0"],
        env=os.environ,
        log=tmp_path / "server.log",
        cwd=tmp_path,
        ready_path="/",
        timeout=30,
    )
    try:
        assert server.port > 0
        assert live_server.answers(server.port, "/")
    finally:
        server.stop(timeout=10)
    assert server.process.poll() is not None


def test_a_server_that_exits_fails_with_its_log(tmp_path):
    with pytest.raises(AssertionError, match=r"(?s)exited \(3\) at start.*address in use"):
        live_server.start(
            ["sh", "-c", "echo address in use; exit 3"],
            env=os.environ,
            log=tmp_path / "server.log",
            cwd=tmp_path,
            timeout=30,
        )


def test_a_server_that_never_answers_fails_at_the_deadline_and_is_stopped(tmp_path):
    log = tmp_path / "server.log"
    with pytest.raises(AssertionError, match="not ready on /healthz in 1s"):
        live_server.start(["sleep", "60"], env=os.environ, log=log, cwd=tmp_path, timeout=1)
