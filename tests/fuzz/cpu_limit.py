"""A limit on the CPU time a block may spend, for the fuzz engine and its mutators.

ITIMER_PROF counts CPU time, not wall time, so a process that is paused (SIGSTOP) or starved by other
jobs on a shared machine is not stopped early; a loop spinning in Python burns CPU either way.  A spin
inside one C call is only interrupted when it returns to Python."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable


@contextmanager
def cpu_time_limit(seconds: float, error: Callable[[], BaseException]) -> Iterator[None]:
    """Raises ``error()`` inside the block once it has used ``seconds`` of CPU time."""
    def expire(signum: int, frame: Any) -> None:
        raise error()

    previous = signal.signal(signal.SIGPROF, expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
