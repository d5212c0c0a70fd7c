"""Tensor-bundle checkpoint writer: ``<prefix>.index`` + ``<prefix>.data-SSSSS-of-NNNNN`` (the layout
``readers/tf/bundle`` reads, FORMATS.md §2).

Tensors are streamed: each is materialized, appended to the current data shard with its CRC-32C and
dropped before the next one is read.  A new shard starts when the current one would pass
``shard_size_bytes`` (None: one shard, as TensorFlow writes a single-process checkpoint).  The shard
count is only known at the end, so shards are written under temporary names and renamed by
``finish()``, which then writes the index: the header entry (key ``""``) and one ``BundleEntryProto``
per tensor in key order.  Given the same tensors in the same order, the files are byte for byte what
TensorFlow's ``BundleWriter`` writes.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO, Optional, Union

import numpy as np

from ..._proto.tensor_bundle_pb2 import BundleEntryProto, BundleHeaderProto
from ...errors import OutputError
from ...ir.graph import LazyArray, read_array
from ...ir.types import DType
from ...readers.tf.crc32c import crc32c, mask
from .sstable import build_table, encode_varint

ArrayLike = Union[np.ndarray, LazyArray]
_BUNDLE_VERSION = 1  # kTensorBundleVersion


def _storage(array: np.ndarray, dtype: DType) -> np.ndarray:
    """The little-endian bytes TensorFlow stores for a numeric tensor."""
    if dtype == DType.BFLOAT16:  # the top half of each float32 (values read back from bfloat16 are exact)
        bits = np.ascontiguousarray(array, dtype="<f4").view("<u4")
        return (bits >> 16).astype("<u2")
    if dtype == DType.BOOL:
        return np.ascontiguousarray(array, dtype=np.bool_).view(np.uint8)
    target = np.dtype(dtype.numpy).newbyteorder("<")
    return np.ascontiguousarray(array, dtype=target)


def _string_record(array: np.ndarray) -> tuple[bytes, int]:
    """``varint len * n | masked crc of the lengths | bytes`` and the checksum of the whole record."""
    items = []
    for element in array.reshape(-1).tolist():
        items.append(element.encode("utf-8") if isinstance(element, str) else bytes(element))
    lengths = b"".join(encode_varint(len(item)) for item in items)
    # TensorFlow checksums each length as a native uint32 (uint64 when it does not fit).
    length_words = b"".join(struct.pack("<I" if len(i) <= 0xFFFFFFFF else "<Q", len(i)) for i in items)
    length_crc = crc32c(length_words)
    stored_crc = struct.pack("<I", mask(length_crc))
    payload = b"".join(items)
    total = crc32c(payload, crc32c(stored_crc, length_crc))
    return lengths + stored_crc + payload, total


def tensor_dtype(array: ArrayLike) -> DType:
    return DType.STRING if array.dtype == object else DType.from_numpy(array.dtype)


class BundleWriter:
    """Writes one checkpoint; ``add`` tensors (any key order), then ``finish``."""

    def __init__(self, prefix: Union[str, Path], shard_size_bytes: Optional[int] = None) -> None:
        self.prefix = Path(prefix)
        self.shard_size = shard_size_bytes
        self._entries: dict[bytes, BundleEntryProto] = {}
        self._shards: list[Path] = []
        self._handle: Optional[BinaryIO] = None
        self._offset = 0
        try:
            self.prefix.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the checkpoint directory: {exc.strerror or exc}",
                              self.prefix.parent) from None

    def _temporary(self, shard: int) -> Path:
        return Path(f"{self.prefix}.data-{shard:05d}.partial")

    def _open_shard(self) -> None:
        if self._handle is not None:
            self._handle.close()
        path = self._temporary(len(self._shards))
        self._shards.append(path)
        self._handle = open(path, "wb")
        self._offset = 0

    def add(self, key: str, value: ArrayLike, dtype: Optional[DType] = None) -> None:
        """Appends one tensor; ``dtype`` defaults to the array's (object arrays: DT_STRING)."""
        name = key.encode("utf-8")
        if name in self._entries or not name:
            raise ValueError(f"checkpoint key {key!r} is empty or added twice")
        array = read_array(value)
        dt = dtype if dtype is not None else tensor_dtype(array)
        if dt == DType.STRING:
            raw, crc = _string_record(array)
        else:
            data = _storage(array, dt)
            raw, crc = data, crc32c(data.reshape(-1).view(np.uint8) if data.size else b"")
        size = len(raw) if isinstance(raw, bytes) else int(raw.nbytes)
        if self._handle is None or (self.shard_size is not None and self._offset
                                    and self._offset + size > self.shard_size):
            self._open_shard()
        entry = BundleEntryProto()
        entry.dtype = int(dt)
        entry.shape.SetInParent()  # TensorFlow writes the shape even for a scalar
        for dim in array.shape:
            entry.shape.dim.add().size = int(dim)
        entry.shard_id = len(self._shards) - 1
        entry.offset = self._offset
        entry.size = size
        entry.crc32c = mask(crc)
        assert self._handle is not None
        try:
            self._handle.write(raw if isinstance(raw, bytes) else raw.tobytes())
        except OSError as exc:
            raise OutputError(f"cannot write checkpoint data: {exc.strerror or exc}",
                              self._shards[-1]) from None
        self._offset += size
        self._entries[name] = entry

    def finish(self) -> list[Path]:
        """Renames the shards to their final names and writes the index; returns every file written."""
        if self._handle is None:
            self._open_shard()  # an empty checkpoint still has one (empty) data file
        assert self._handle is not None
        self._handle.close()
        count = len(self._shards)
        final = [Path(f"{self.prefix}.data-{i:05d}-of-{count:05d}") for i in range(count)]
        for temporary, path in zip(self._shards, final):
            os.replace(temporary, path)
        header = BundleHeaderProto()
        header.num_shards = count
        header.version.producer = _BUNDLE_VERSION
        rows = [(b"", header.SerializeToString())]
        rows += [(key, self._entries[key].SerializeToString()) for key in sorted(self._entries)]
        index = Path(f"{self.prefix}.index")
        try:
            index.write_bytes(build_table(rows))
        except OSError as exc:
            raise OutputError(f"cannot write the checkpoint index: {exc.strerror or exc}", index) from None
        return [index, *final]


def write_bundle(prefix: Union[str, Path], tensors: list[tuple[str, ArrayLike]],
                 shard_size_bytes: Optional[int] = None) -> list[Path]:
    """Writes ``tensors`` (in this order in the data files) as one checkpoint."""
    writer = BundleWriter(prefix, shard_size_bytes)
    for key, value in tensors:
        writer.add(key, value)
    return writer.finish()
