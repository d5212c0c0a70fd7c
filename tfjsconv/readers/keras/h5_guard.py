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
from pathlib import Path

from ...errors import InputError

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# A collection starts with "GCOL", version 1 and three reserved zero bytes.
_COLLECTION = b"GCOL\x01\x00\x00\x00"
_OBJECT_HEADER = 8  # index (2) + reference count (2) + reserved (4), then the size (length bytes)


def _length_size(data: mmap.mmap) -> int:
    """Size of "lengths" from the superblock (8 in every file h5py writes by default)."""
    offset = 0
    while offset + 16 <= len(data) and data[offset:offset + 8] != _SIGNATURE:
        offset = 512 if offset == 0 else offset * 2  # the superblock may sit at 0, 512, 1024, ...
    if offset + 16 > len(data):
        return 8
    version = data[offset + 8]
    size = data[offset + 14] if version in (0, 1) else data[offset + 10]
    return size if size in (2, 4, 8) else 8


def _collection_problem(data: mmap.mmap, start: int, length_size: int) -> str:
    """Why HDF5 would loop on (or overrun) the collection at ``start``; "" when it is sound."""
    fmt = {2: "<H", 4: "<I", 8: "<Q"}[length_size]
    header = 8 + length_size
    if start + header > len(data):
        return ""  # HDF5 reports a short read itself
    (size,) = struct.unpack_from(fmt, data, start + 8)
    end = start + size
    if size < header or end > len(data):
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


def check_global_heaps(path: Path, report_as: Path | None = None) -> None:
    """Raises InputError when a global heap collection in ``path`` is damaged as described above."""
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        if handle.tell() == 0:
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            length_size = _length_size(data)
            found = data.find(_COLLECTION)
            while found != -1:
                problem = _collection_problem(data, found, length_size)
                if problem:
                    raise InputError(f"corrupt HDF5 file: the string storage (global heap) at byte {found} "
                                     f"has {problem}", report_as or path)
                found = data.find(_COLLECTION, found + 1)
