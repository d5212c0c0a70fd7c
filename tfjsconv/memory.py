"""Process-wide allocator settings for the command line (the Python API leaves the process alone).

Weights pass through numpy buffers of a few MiB, one after the other.  glibc's malloc raises its
mmap threshold each time such a buffer is freed, so the following buffers come from the heap, and
freed heap memory is only returned once 2x that threshold sits unused at its top: a conversion then
keeps tens of MiB it no longer uses.  Fixing both thresholds makes every buffer of 1 MiB or more a
mapping of its own, returned to the system as soon as numpy frees it.
"""

from __future__ import annotations

import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def return_freed_memory() -> None:
    """Best effort: only glibc has ``mallopt``; elsewhere this does nothing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 1 << 20)
    mallopt(_M_TRIM_THRESHOLD, 4 << 20)
