"""A progress bar for long conversions: reading, optimizing, then writing with bytes and ETA.

The library only announces what it is doing (``stage``, ``advance``); nothing is shown unless the
command line installed a ``Reporter`` with ``reporting`` - which it does only for large inputs, when
stderr is a terminal and ``--quiet`` is not given.  Without a reporter the calls cost one lookup.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Optional, TextIO

_WIDTH = 24  # characters of the bar itself
_INTERVAL = 0.1  # seconds between redraws


class Reporter:
    """Draws one status line on ``stream`` (a terminal), redrawn in place."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.stage_name = ""
        self.total = 0
        self.done = 0
        self._stage_start = self._last_draw = time.monotonic()
        self._drawn = 0

    def stage(self, name: str, total: int = 0) -> None:
        self.stage_name, self.total, self.done = name, total, 0
        self._stage_start = time.monotonic()
        self._draw(force=True)

    def advance(self, amount: int) -> None:
        self.done += amount
        self._draw()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0

    def line(self) -> str:
        elapsed = time.monotonic() - self._stage_start
        if not self.total:
            return f"tfjsconv: {self.stage_name} ({elapsed:.0f} s)"
        part = min(1.0, self.done / self.total)
        filled = int(part * _WIDTH)
        bar = "#" * filled + "." * (_WIDTH - filled)
        eta = "" if part <= 0 or part >= 1 else f", ETA {elapsed * (1 - part) / part:.0f} s"
        return (f"tfjsconv: {self.stage_name} [{bar}] {_mib(self.done)}/{_mib(self.total)} MiB "
                f"{part:4.0%}{eta}")

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < _INTERVAL:
            return
        self._last_draw = now
        text = self.line()
        pad = max(0, self._drawn - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._drawn = len(text)


def _mib(count: int) -> str:
    return f"{count / 2**20:.1f}"


_ACTIVE: ContextVar[Optional[Reporter]] = ContextVar("tfjsconv_progress", default=None)


def stage(name: str, total: int = 0) -> None:
    """Announces a new phase (``total``: bytes it will process, 0 when unknown)."""
    reporter = _ACTIVE.get()
    if reporter is not None:
        reporter.stage(name, total)


def advance(amount: int) -> None:
    """``amount`` more bytes of the current phase are done."""
    reporter = _ACTIVE.get()
    if reporter is not None:
        reporter.advance(amount)


@contextmanager
def reporting(reporter: Optional[Reporter]) -> Iterator[None]:
    """Shows ``reporter``'s line while the block runs (None: nothing is shown); clears it after."""
    if reporter is None:
        yield
        return
    token = _ACTIVE.set(reporter)
    try:
        yield
    finally:
        _ACTIVE.reset(token)
        reporter.close()


def wanted(input_bytes: Optional[int], quiet: bool, stream: TextIO = sys.stderr,
           threshold: int = 50 * 2**20) -> bool:
    """A bar is shown for inputs above ``threshold`` bytes, on a terminal, unless ``--quiet``."""
    if quiet or input_bytes is None or input_bytes < threshold:
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
