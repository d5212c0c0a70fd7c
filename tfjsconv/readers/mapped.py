"""Reading large files through memory maps without letting them fill the resident set.

Pages of a file mapping that were touched count in the process's RSS for as long as they stay
mapped, so one mapping of a whole 1 GiB weights file that is read from end to end peaks at 1 GiB RSS
even though no byte was copied.  Two patterns avoid that:

- ``scan_windows``: a sequential pass (checksums, signature search) over one mapping, dropping each
  window's pages from the process once it has been looked at;
- ``map_array``: one tensor's bytes as a numpy view over a mapping of just its pages; the mapping
  (and its pages) go away when the last view of the array does.  Small tensors are read instead:
  a mapping costs a few system calls and a whole page.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from typing import Union

import numpy as np

WINDOW = 16 << 20
_READ_BELOW = 256 << 10  # bytes: smaller tensors are read into memory rather than mapped



def release(data: mmap.mmap, start: int, stop: int) -> None:
    """Drops the pages of ``data[start:stop]`` from this process (they stay in the page cache)."""
    start -= start % mmap.PAGESIZE
    if hasattr(mmap, "MADV_DONTNEED") and stop > start:  # not on Windows, where nothing is released
        data.madvise(mmap.MADV_DONTNEED, start, stop - start)


def scan_windows(data: mmap.mmap, start: int, stop: int, overlap: int = 0) -> Iterator[tuple[int, int]]:
    """``(begin, end)`` windows covering ``data[start:stop]``, each extended by ``overlap`` bytes (so a
    pattern that straddles two windows is still seen whole); each window's pages are released once
    the caller moves on to the next one."""
    for window in range(start, stop, WINDOW):
        end = min(stop, window + WINDOW + overlap)
        yield window, end
        release(data, window, end)


_SOURCES: list[str] = []


def register_source(path: Union[str, os.PathLike]) -> int:
    """A small number standing for ``path`` in markers (``wire.marker``) of tensors left in the file."""
    _SOURCES.append(os.fspath(path))
    return len(_SOURCES) - 1


def source_path(source: int) -> str:
    return _SOURCES[source]


def map_file_array(path: Union[str, os.PathLike], offset: int, dtype: np.dtype,
                   shape: tuple[int, ...]) -> np.ndarray:
    """``map_array`` of a file by path (the mapping outlives the file handle)."""
    with open(path, "rb") as handle:
        return map_array(handle.fileno(), offset, dtype, shape)


def map_array(fd: int, offset: int, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """A read-only array of ``shape``/``dtype`` stored at ``offset`` of the open file ``fd``.

    Large arrays view a private mapping of their own pages (no copy; the pages count as resident
    only while the array lives); small ones are read.  The caller checks that the bytes exist.
    """
    dtype = np.dtype(dtype)
    count = 1
    for dim in shape:
        count *= int(dim)
    nbytes = count * dtype.itemsize
    if nbytes < _READ_BELOW or not hasattr(mmap, "MADV_DONTNEED"):
        buffer = bytearray(nbytes)
        view = memoryview(buffer)
        done = 0
        while done < nbytes:
            got = os.preadv(fd, [view[done:]], offset + done) if hasattr(os, "preadv") else \
                _pread_into(fd, view[done:], offset + done)
            if got <= 0:
                raise EOFError(f"file ends before byte {offset + nbytes}")
            done += got
        array = np.frombuffer(buffer, dtype=dtype, count=count)
        array.flags.writeable = False
        return array.reshape(shape)
    start = offset - offset % mmap.ALLOCATIONGRANULARITY
    mapping = mmap.mmap(fd, offset - start + nbytes, access=mmap.ACCESS_READ, offset=start)
    return np.frombuffer(mapping, dtype=dtype, count=count, offset=offset - start).reshape(shape)


def _pread_into(fd: int, view: memoryview, offset: int) -> int:
    data = os.pread(fd, view.nbytes, offset)
    view[:len(data)] = data
    return len(data)
