"""ONNX files parsed with their large initializers left in the file (``readers.wire``).

Each initializer's ``raw_data`` of at least ``MIN_MAPPED`` bytes is replaced in the parsed model by
an external-data entry of our own (key ``tfjsconv:mapped``, value ``offset:length`` in the model file)
with ``data_location = EXTERNAL``; ONNX shape inference then treats it like external data it does not
read.  ``mapped_array`` maps such a tensor's bytes from the model file each time it is used, and
``external_array`` does the same for real external-data files.
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ...errors import InputError
from ...ir.graph import LazyArray
from ..mapped import map_file_array
from ..wire import STRIP, Schema, WireError, field_bytes, field_varint, skeleton

MIN_MAPPED = 64 * 1024  # bytes of raw_data: smaller initializers are parsed as usual
SMALL_FILE = 1 << 20  # files below this are parsed whole (the scan would only cost time)
_KEY = "tfjsconv:mapped"
_MODEL: Schema = {7: {5: {9: STRIP}}}  # ModelProto.graph.initializer[].raw_data
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


def model_skeleton(path: Path) -> bytes:
    """The model file's bytes with large initializer data replaced as described above."""

    def replace(field: int, offset: int, length: int) -> bytes:
        entry = field_bytes(1, _KEY.encode()) + field_bytes(2, f"{offset}:{length}".encode())
        return field_bytes(13, entry) + field_varint(14, _EXTERNAL)

    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        try:
            return skeleton(data, _MODEL, MIN_MAPPED, replace)
        except WireError as exc:
            raise InputError(f"not a readable ONNX model ({exc}); the file is truncated or not ONNX",
                             path) from None


def mapped_span(tensor: Any) -> Optional[tuple[int, int]]:
    """``(offset, length)`` in the model file of an initializer left there by ``model_skeleton``."""
    for entry in tensor.external_data:
        if entry.key == _KEY:
            offset, _, length = entry.value.partition(":")
            return int(offset), int(length)
    return None


def file_array(tensor: Any, dtype: np.dtype, target: Path, offset: int, length: int, what: str,
               path: Path) -> LazyArray:
    """``tensor`` stored raw (little-endian) at ``offset`` of ``target``, mapped on each load."""
    shape = tuple(int(d) for d in tensor.dims)
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if length != count * dtype.itemsize or offset < 0 or offset + length > target.stat().st_size:
        raise InputError(f"{what} of initializer {tensor.name!r} does not fit its shape {list(shape)}", path)
    stored = dtype.newbyteorder("<")

    def load() -> np.ndarray:
        array = map_file_array(target, offset, stored, shape)
        return array if stored == dtype else array.astype(dtype)

    return LazyArray(dtype, shape, load)


def restore(tensor: Any, path: Path) -> None:
    """Puts a mapped tensor's bytes back into ``raw_data`` (for element types read by numpy_helper)."""
    span = mapped_span(tensor)
    assert span is not None
    offset, length = span
    with open(path, "rb") as handle:
        handle.seek(offset)
        raw = handle.read(length)
    if len(raw) != length:
        raise InputError(f"initializer {tensor.name!r} runs past the end of the file", path)
    del tensor.external_data[:]
    tensor.data_location = 0
    tensor.raw_data = raw
