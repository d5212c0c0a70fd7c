"""Checkpoint checksums verified ahead of use, on a second core, while the conversion does other work.

A conversion reads each weight once, in roughly the order the reader handed the tensors out, and
verifying a tensor's CRC-32C when it is first read puts ~0.2 s per 100 MB on the critical path.
``Verifier`` checks the same tensors in that order on a daemon thread (numpy's table lookups release
the GIL), a window at a time read into one reusable buffer: at most one window more is resident, and
the file's pages are not faulted into this process twice.  The bundle asks it before checking a tensor
itself: a result already computed is reused, one being computed is waited for, and a tensor the thread
has not reached yet is claimed and checked by the caller as before (the thread then skips it).  The
thread only computes: a mismatch is reported by the bundle with its usual error, and only for a
tensor the conversion actually reads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import BinaryIO, NamedTuple, Optional, Union

import numpy as np

from .crc32c import crc32c, mask

WINDOW = 1 << 20  # under one crc32c chunk: the thread stays on one core and the caller keeps the other
MIN_BYTES = 16 << 20  # below this a thread is not worth starting (small models start fast without one)

_CALLER = "caller"  # claimed by the bundle's own thread


class Job(NamedTuple):
    key: str
    path: str
    offset: int
    size: int
    masked_crc: int


_State = Union[threading.Event, bool, str, None]


class Verifier:
    def __init__(self, jobs: Sequence[Job]) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, _State] = {}
        self._jobs = list(jobs)
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="tfjsconv-verify-ahead", daemon=True)
        self._thread.start()

    def claim(self, key: str) -> Optional[bool]:
        """The thread's verdict on ``key`` (True: the checksum matches), waiting for it if the thread is
        on it; None when the caller has to check it itself (the thread will not start it then)."""
        with self._lock:
            state = self._state.get(key)
            if state is None:
                self._state[key] = _CALLER
                return None
        if isinstance(state, threading.Event):
            state.wait()
            with self._lock:
                state = self._state.get(key)
        return state if isinstance(state, bool) else None

    def stop(self) -> None:
        """Ends the thread after its current window (nothing it computed is needed any more)."""
        self._stopped = True

    def join(self, timeout: Optional[float] = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        files: dict[str, BinaryIO] = {}
        buffer = bytearray(WINDOW)
        try:
            for job in self._jobs:
                if self._stopped:
                    break
                with self._lock:
                    if job.key in self._state:
                        continue
                    done = threading.Event()
                    self._state[job.key] = done
                verdict: Optional[bool] = None
                try:
                    verdict = self._check(job, files, buffer)
                except Exception:  # noqa: BLE001 - the caller reads the tensor and reports what is wrong
                    verdict = None
                finally:
                    with self._lock:
                        # None hands the tensor back: the caller checks it and names any problem.
                        self._state[job.key] = verdict if verdict is not None else _CALLER
                    done.set()
        finally:
            for handle in files.values():
                handle.close()

    def _check(self, job: Job, files: dict[str, BinaryIO], buffer: bytearray) -> Optional[bool]:
        handle = files.get(job.path)
        if handle is None:
            handle = files[job.path] = open(job.path, "rb", buffering=0)
        if job.offset < 0 or job.size <= 0 or job.offset + job.size > os.fstat(handle.fileno()).st_size:
            return None  # truncated or corrupt entry: the caller's read says which
        view, values = memoryview(buffer), np.frombuffer(buffer, dtype=np.uint8)
        handle.seek(job.offset)
        crc = 0
        for start in range(0, job.size, len(buffer)):
            if self._stopped:
                return None
            count = min(len(buffer), job.size - start)
            filled = 0
            while filled < count:
                got = handle.readinto(view[filled:count])
                if not got:
                    return None  # the file shrank: the caller's read reports it
                filled += got
            crc = crc32c(values[:count], crc)
        return mask(crc) == job.masked_crc
