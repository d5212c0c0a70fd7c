"""Checks an HDF5 file for damage that makes the HDF5 library itself hang.

Keras stores every string attribute (``model_config``, ``layer_names``, ``weight_names``) as a
variable-length string, whose bytes live in "global heap collections" (``GCOL`` blocks).  HDF5 2.0
walks a collection's object headers without checking progress: an object header with index 0 and
size 0 - what a zero-filled or bit-flipped region produces - sends it into an endless loop the
first time a string is read (observed with h5py 3.16 / HDF5 2.0), and a size that overruns the
collection makes it read outside its buffer.  Walking the collections here first, with the same
rules, turns that into a clear error before HDF5 ever sees them.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ...errors import InputError
from ..mapped import scan_windows

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# A collection starts with "GCOL", version 1 and three reserved zero bytes.
_COLLECTION = b"GCOL\x01\x00\x00\x00"
_OBJECT_HEADER = 8  # index (2) + reference count (2) + reserved (4), then the size (length bytes)


def _length_size(data: mmap.mmap, base: int, limit: int) -> int:
    """Size of "lengths" from the superblock (8 in every file h5py writes by default)."""
    offset = 0
    while base + offset + 16 <= limit and data[base + offset:base + offset + 8] != _SIGNATURE:
        offset = 512 if offset == 0 else offset * 2  # the superblock may sit at 0, 512, 1024, ...
    if base + offset + 16 > limit:
        return 8
    version = data[base + offset + 8]
    size = data[base + offset + 14] if version in (0, 1) else data[base + offset + 10]
    return size if size in (2, 4, 8) else 8


def _collection_problem(data: mmap.mmap, start: int, length_size: int, limit: int) -> str:
    """Why HDF5 would loop on (or overrun) the collection at ``start``; "" when it is sound.

    ``limit`` is where the HDF5 file ends inside ``data`` (a ``.keras`` member ends before the zip).
    """
    fmt = {2: "<H", 4: "<I", 8: "<Q"}[length_size]
    header = 8 + length_size
    if start + header > limit:
        return ""  # HDF5 reports a short read itself
    (size,) = struct.unpack_from(fmt, data, start + 8)
    end = start + size
    if size < header or end > limit:
        return ""  # HDF5 rejects a collection that does not fit in the file
    pos = start + header
    object_header = _OBJECT_HEADER + length_size
    while pos < end:
        if pos + object_header > end:
            return ""  # a tail too small for a header is free space
        index = struct.unpack_from("<H", data, pos)[0]
        (object_size,) = struct.unpack_from(fmt, data, pos + _OBJECT_HEADER)
        # Objects are padded to 8 bytes; object 0 is the free space and its size covers its header.
        step = object_size if index == 0 else object_header + (object_size + 7) // 8 * 8
        if step == 0:
            return f"a zero-sized object at byte {pos}"
        if pos + step > end:
            return f"an object at byte {pos} overruns the collection"
        pos += step
    return ""


# The file is scanned through a read-only mapping one window at a time, and each window's pages are
# dropped from the process afterwards (``scan_windows``): a mapping whose pages were all touched counts
# the whole file in the resident set (a 400 MiB model then peaked at 469 MiB RSS just for this check).


def _gaps(size: int, skip: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The byte ranges of a ``size``-byte file outside the ``(offset, length)`` ranges in ``skip``."""
    gaps, at = [], 0
    for offset, length in sorted(skip):
        if offset > at:
            gaps.append((at, min(offset, size)))
        at = max(at, offset + length)
    if at < size:
        gaps.append((at, size))
    return [(start, end) for start, end in gaps if end > start]


def check_global_heaps(path: Path, report_as: Path | None = None,
                       skip: Iterable[tuple[int, int]] = (), region: tuple[int, int] | None = None) -> None:
    """Raises InputError when a global heap collection in ``path`` is damaged as described above.

    ``region`` is ``(offset, length)`` of the HDF5 file inside ``path`` (an uncompressed ``.keras``
    member), by default all of it.  ``skip`` lists ``(offset, length)`` ranges, relative to the
    region, known to hold raw dataset bytes (contiguous weights): they cannot hold a collection that
    HDF5 reads as one, so only the metadata around them is scanned.
    """
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        base, size = region if region is not None else (0, handle.tell())
        if size == 0:
            return
        limit = base + size
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            length_size = _length_size(data, base, limit)
            overlap = len(_COLLECTION) - 1
            for start, end in _gaps(size, skip):
                for window, stop in scan_windows(data, base + start, base + end, overlap):
                    found = data.find(_COLLECTION, window, stop)
                    while found != -1:
                        problem = _collection_problem(data, found, length_size, limit)
                        if problem:
                            raise InputError(f"corrupt HDF5 file: the string storage (global heap) at byte "
                                             f"{found - base} has {problem}", report_as or path)
                        found = data.find(_COLLECTION, found + 1, stop)


def dataset_extents(handle: Any) -> list[tuple[int, int]]:
    """``(offset, length)`` of every contiguously stored dataset in an open ``h5py.File``.

    Walking links reads object headers and local/fractal heaps, never a global heap, so this is safe
    before the check.  Anything unusual (chunked or external storage, errors) is simply not skipped.
    """
    extents: list[tuple[int, int]] = []

    def visit(_name: str, obj: Any) -> None:
        dsid = getattr(obj, "id", None)
        if getattr(obj, "chunks", True) is not None or not hasattr(dsid, "get_offset"):
            return
        offset = dsid.get_offset()
        if offset is not None:
            extents.append((int(offset), int(dsid.get_storage_size())))

    try:
        handle.visititems(visit)
    except Exception:  # a damaged file: scan all of it, and let h5py report the damage later
        return []
    return extents
