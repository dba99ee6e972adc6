"""A tiny progress bar for long management commands, written to stderr so that
stdout keeps only the command's report and summary.

On a terminal it redraws one line (``\\r``); in a log (not a TTY) it writes a
line only every ``log_every`` percent, so CI logs stay short. No dependency:
the richer bars installed with the dev tools are not there in production.
"""

from __future__ import annotations

import time
from typing import TextIO

from django.core.management.base import OutputWrapper


class ProgressBar:
    def __init__(
        self,
        total: int,
        *,
        stream: TextIO,
        label: str = "",
        width: int = 30,
        enabled: bool = True,
        log_every: int = 10,
    ):
        self.total = max(total, 0)
        self.stream = stream
        self.label = label
        self.width = width
        self.enabled = enabled
        self.done = 0
        self.started = time.monotonic()
        isatty = getattr(stream, "isatty", None)
        self.interactive = bool(isatty and isatty())
        self.log_every = log_every
        self._last_percent = -1

    def __enter__(self) -> ProgressBar:
        self._draw(force=True)
        return self

    def __exit__(self, *exc_info) -> None:
        self.finish()

    def advance(self, amount: int = 1) -> None:
        self.done = min(self.done + amount, self.total) if self.total else self.done + amount
        self._draw()

    def finish(self) -> None:
        if not self.enabled:
            return
        self.done = self.total if self.total else self.done
        if self.interactive or self._last_percent != 100:
            self._draw(force=True)
        if self.interactive:
            self._write("\n")
        self.stream.flush()
        self.enabled = False  # idempotent

    def line(self) -> str:
        fraction = self.done / self.total if self.total else 1.0
        filled = int(self.width * fraction)
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = time.monotonic() - self.started
        label = f"{self.label} " if self.label else ""
        return f"{label}[{bar}] {self.done}/{self.total} {fraction:4.0%} {elapsed:5.1f}s"

    def _draw(self, *, force: bool = False) -> None:
        if not self.enabled:
            return
        percent = int(100 * self.done / self.total) if self.total else 100
        if not force and percent == self._last_percent:
            return
        if self.interactive:
            self._write("\r" + self.line())
            self.stream.flush()
        elif force or percent // self.log_every != self._last_percent // self.log_every:
            self._write(self.line() + "\n")
        self._last_percent = percent

    def _write(self, text: str) -> None:
        if isinstance(self.stream, OutputWrapper):
            self.stream.write(text, ending="")  # it would add a newline to every write
        else:
            self.stream.write(text)
