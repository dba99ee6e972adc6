"""A local webhook receiver for tests: a real HTTP server on 127.0.0.1.

It verifies every request with ``standardwebhooks`` (the consumer's library)
against each secret it knows, records what came (id, body, which secrets
verified it) and answers as its script says: ``ok`` (204), ``fail`` (500),
``slow`` (sleeps past the sender's timeout, then answers 204), ``close``
(reads the request, then closes the connection without a word) or ``hold``
(keeps the request open until :meth:`Receiver.release`). Without a script
it answers ``ok``. It also notes when one webhook-id is in flight twice at
once. Used by the tests and by scripts/chaos (no Django needed).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

ACTIONS = ("ok", "fail", "slow", "close", "hold")


@dataclass(frozen=True)
class Received:
    webhook_id: str
    body: bytes
    headers: dict[str, str]
    verified_with: frozenset[str]  # the secrets whose signature matched
    action: str
    at: float  # time.monotonic() when it arrived

    @property
    def document(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)
    slow_seconds: float = 2.0
    path: str = "/hook"
    received: list[Received] = field(default_factory=list)
    # A webhook-id that arrived while a request with the same id was in flight.
    overlaps: list[str] = field(default_factory=list)
    # Called with each request's webhook-id before it is answered (tests hook in).
    on_request: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self._script: deque[str] = deque()
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._stopping = threading.Event()
        self._released = threading.Event()
        self.holding = threading.Event()  # set while a ``hold`` request waits
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- control ---------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def script(self, actions: Iterable[str]) -> None:
        """Answer the next requests with ``actions`` in order, then ``ok``."""
        actions = list(actions)
        assert set(actions) <= set(ACTIONS), actions
        with self._lock:
            self._script.extend(actions)

    def release(self) -> None:
        self._released.set()

    def start(self, port: int = 0) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port (requests in their sleep or hold are let go)."""
        self._stopping.set()
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._released.clear()

    # --- what came -------------------------------------------------------------
    def ids(self) -> list[str]:
        with self._lock:
            return [r.webhook_id for r in self.received]

    def answered_ok(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.action == "ok"]

    def unverified(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if not r.verified_with]

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"{len(self.received)} of {count} requests came"
            time.sleep(0.01)

    # --- one request -----------------------------------------------------------
    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length)
        headers = {k.lower(): v for k, v in request.headers.items()}
        webhook_id = headers.get("webhook-id", "")
        verified = set()
        for secret in list(self.secrets):
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            verified.add(secret)
        with self._lock:
            action = self._script.popleft() if self._script else "ok"
            if self._in_flight.get(webhook_id):
                self.overlaps.append(webhook_id)
            self._in_flight[webhook_id] = self._in_flight.get(webhook_id, 0) + 1
            self.received.append(
                Received(webhook_id, body, headers, frozenset(verified), action, time.monotonic())
            )
        try:
            if self.on_request is not None:
                self.on_request(webhook_id)
            self._answer(request, action if verified else "unverified")
        finally:
            with self._lock:
                self._in_flight[webhook_id] -= 1

    def _answer(self, request: BaseHTTPRequestHandler, action: str) -> None:
        if action == "hold":
            self.holding.set()
            self._released.wait(60)
            self.holding.clear()
        if action == "slow":
            self._stopping.wait(self.slow_seconds)
        if action == "close":
            request.close_connection = True
            return
        status = {"ok": 204, "fail": 500, "unverified": 400}.get(action, 204)
        try:
            request.send_response(status)
            request.send_header("Content-Length", "0")
            request.end_headers()
        except OSError:
            pass  # the sender gave up (its timeout) before the answer
