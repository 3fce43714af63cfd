"""A one-line progress counter on stderr, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO

_REDRAW_SECONDS = 0.1
# Written on its own, it passes the guard that escapes every other control (terminal.ERASE_LINE).
_ERASE_LINE = "\r\x1b[K"


class Progress:
    def __init__(
        self, label: str, total: int | None = None, stream: TextIO | None = None, in_bytes: bool = False
    ) -> None:
        self.label = label
        self.total = total
        self.in_bytes = in_bytes
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._lock = threading.Lock()
        self._drawn_at = 0.0

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.enabled and self._drawn_at:
            self.stream.write(_ERASE_LINE)
            self.stream.flush()

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
            now = time.monotonic()
            if self.enabled and (now - self._drawn_at >= _REDRAW_SECONDS or self.done == self.total):
                self._drawn_at = now
                self.stream.write(_ERASE_LINE)
                self.stream.write(f"{self.label}: {self._text()}")
                self.stream.flush()

    def _text(self) -> str:
        show = human_bytes if self.in_bytes else "{:,}".format
        if not self.total:
            return show(self.done)
        width = 30
        filled = width * self.done // self.total
        return f"[{'#' * filled}{'.' * (width - filled)}] {show(self.done)}/{show(self.total)}"


def human_bytes(count: int) -> str:
    """1,000-based, as stores bill and list sizes: 999 B, 1.5 kB, 12.3 MB, 4.0 TB."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
