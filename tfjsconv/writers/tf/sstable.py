"""Writer for the SSTable container of a checkpoint's ``.index`` file (the layout ``readers/tf/sstable``
reads): LevelDB's table format exactly as TensorFlow's ``table::TableBuilder`` builds it, so that the
same entries give the same bytes as TensorFlow writes.

* data blocks of prefix-compressed entries with a restart point every 16 entries, cut once a block's
  estimated size reaches 256 KiB (TensorFlow's ``table::Options`` defaults);
* an empty metaindex block;
* an index block (a restart point at every entry) mapping a short separator key to each data block;
* a 48-byte footer: both block handles as varints padded to 40 bytes, then the magic number.

Every block is followed by a compression byte (0: none) and the masked CRC-32C of block + that byte.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from ...readers.tf.crc32c import crc32c, mask
from ...readers.tf.sstable import FOOTER_SIZE, TABLE_MAGIC

BLOCK_SIZE = 262144
RESTART_INTERVAL = 16
_MAX_HANDLE_BYTES = 20  # two varint64s


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _shared_prefix(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def shortest_separator(start: bytes, limit: bytes) -> bytes:
    """A short key >= ``start`` and < ``limit`` (LevelDB's bytewise ``FindShortestSeparator``)."""
    i = _shared_prefix(start, limit)
    if i >= min(len(start), len(limit)):
        return start  # one is a prefix of the other: leave it
    byte = start[i]
    if byte < 0xFF and byte + 1 < limit[i]:
        return start[:i] + bytes([byte + 1])
    return start


def short_successor(key: bytes) -> bytes:
    """A short key >= ``key`` (LevelDB's bytewise ``FindShortSuccessor``)."""
    for i, byte in enumerate(key):
        if byte != 0xFF:
            return key[:i] + bytes([byte + 1])
    return key


class _Block:
    def __init__(self, restart_interval: int) -> None:
        self.interval = restart_interval
        self.buffer = bytearray()
        self.restarts = [0]
        self.counter = 0
        self.last = b""

    def add(self, key: bytes, value: bytes) -> None:
        shared = 0
        if self.counter < self.interval:
            shared = _shared_prefix(self.last, key)
        else:
            self.restarts.append(len(self.buffer))
            self.counter = 0
        self.buffer += encode_varint(shared) + encode_varint(len(key) - shared) + encode_varint(len(value))
        self.buffer += key[shared:] + value
        self.last = key
        self.counter += 1

    def size_estimate(self) -> int:
        return len(self.buffer) + 4 * len(self.restarts) + 4

    def empty(self) -> bool:
        return not self.buffer

    def finish(self) -> bytes:
        return bytes(self.buffer) + struct.pack(f"<{len(self.restarts)}I", *self.restarts) \
            + struct.pack("<I", len(self.restarts))


def _handle(offset: int, size: int) -> bytes:
    return encode_varint(offset) + encode_varint(size)


def build_table(entries: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The table holding ``entries`` (keys strictly ascending, as in every SSTable)."""
    out = bytearray()

    def write_block(contents: bytes) -> bytes:
        offset = len(out)
        out.extend(contents)
        out.append(0)  # no compression
        out.extend(struct.pack("<I", mask(crc32c(b"\x00", crc32c(contents)))))
        return _handle(offset, len(contents))

    data = _Block(RESTART_INTERVAL)
    index = _Block(1)
    last = b""
    pending: bytes = b""  # handle of the last flushed data block, awaiting its separator
    for key, value in entries:
        if last and key <= last:
            raise ValueError(f"SSTable keys must be strictly ascending: {key!r} after {last!r}")
        if pending:
            index.add(shortest_separator(last, key), pending)
            pending = b""
        data.add(key, value)
        last = key
        if data.size_estimate() >= BLOCK_SIZE:
            pending = write_block(data.finish())
            data = _Block(RESTART_INTERVAL)
    if not data.empty():
        pending = write_block(data.finish())
    metaindex = write_block(_Block(RESTART_INTERVAL).finish())
    if pending:
        index.add(short_successor(last), pending)
    index_handle = write_block(index.finish())
    footer = (metaindex + index_handle).ljust(2 * _MAX_HANDLE_BYTES, b"\x00")
    out.extend(footer + struct.pack("<II", TABLE_MAGIC & 0xFFFFFFFF, TABLE_MAGIC >> 32))
    assert len(footer) + 8 == FOOTER_SIZE
    return bytes(out)
