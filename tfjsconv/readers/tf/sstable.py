"""Reader for the SSTable container of a checkpoint's ``.index`` file (FORMATS.md §2.1).

This is LevelDB's table format as TensorFlow writes it: data blocks of prefix-compressed sorted
entries, an (empty) metaindex block, an index block mapping separator keys to data blocks, and a
48-byte footer.  Every block carries a masked CRC-32C that is verified here.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from ...errors import InputError
from .crc32c import crc32c, unmask

FOOTER_SIZE = 48
TABLE_MAGIC = 0xDB4775248B80FB57
BLOCK_TRAILER_SIZE = 5  # compression type byte + fixed32 masked crc

# Compression type byte of a block trailer; TensorFlow's bundle writer only emits "none".
_NO_COMPRESSION = 0
_COMPRESSION_NAMES = {1: "Snappy", 2: "Zlib", 3: "LZ4", 4: "LZ4HC", 5: "Xpress", 6: "ZSTD"}


class BlockHandle(NamedTuple):
    offset: int
    size: int


def read_varint(buf: bytes, pos: int, limit: int, max_bytes: int = 10) -> tuple[int, int]:
    """Decodes a LEB128 varint at ``pos``; returns (value, next position). ValueError if malformed."""
    result = 0
    shift = 0
    for i in range(max_bytes):
        if pos + i >= limit:
            raise ValueError("varint runs past the end of its buffer")
        byte = buf[pos + i]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos + i + 1
        shift += 7
    raise ValueError(f"varint longer than {max_bytes} bytes")


def _read_handle(buf: bytes, pos: int, limit: int) -> tuple[BlockHandle, int]:
    offset, pos = read_varint(buf, pos, limit)
    size, pos = read_varint(buf, pos, limit)
    return BlockHandle(offset, size), pos


def _block_contents(data: bytes, handle: BlockHandle, path: Path, what: str) -> bytes:
    end = handle.offset + handle.size + BLOCK_TRAILER_SIZE
    if end > len(data) - FOOTER_SIZE:
        raise InputError(f"truncated checkpoint index: {what} at offset {handle.offset} (size {handle.size}) "
                         f"extends past the end of the file ({len(data)} bytes)", path)
    contents = data[handle.offset:handle.offset + handle.size]
    kind = data[handle.offset + handle.size]
    (stored,) = struct.unpack_from("<I", data, handle.offset + handle.size + 1)
    # The checksum covers the contents and the compression type byte.
    if crc32c(bytes([kind]), crc32c(contents)) != unmask(stored):
        raise InputError(f"checksum mismatch in {what} at offset {handle.offset}", path)
    if kind != _NO_COMPRESSION:
        name = _COMPRESSION_NAMES.get(kind, f"unknown type {kind}")
        raise InputError(f"{what} at offset {handle.offset} is {name}-compressed; tfjsconv only reads "
                         "uncompressed checkpoint indexes (as TensorFlow writes them)", path)
    return contents


def _block_entries(contents: bytes, offset: int, path: Path) -> Iterator[tuple[bytes, bytes]]:
    """Yields (key, value) of one block, undoing the prefix compression."""
    size = len(contents)
    if size < 4:
        raise InputError(f"corrupt block at offset {offset}: {size} bytes is too short", path)
    (num_restarts,) = struct.unpack_from("<I", contents, size - 4)
    limit = size - 4 - 4 * num_restarts
    if limit < 0:
        raise InputError(f"corrupt block at offset {offset}: {num_restarts} restart points do not fit", path)
    pos = 0
    key = b""
    try:
        while pos < limit:
            shared, pos = read_varint(contents, pos, limit, 5)
            non_shared, pos = read_varint(contents, pos, limit, 5)
            value_length, pos = read_varint(contents, pos, limit, 5)
            if shared > len(key) or pos + non_shared + value_length > limit:
                raise ValueError("entry lengths exceed the block")
            key = key[:shared] + contents[pos:pos + non_shared]
            pos += non_shared
            yield key, contents[pos:pos + value_length]
            pos += value_length
    except ValueError as exc:
        raise InputError(f"corrupt block at offset {offset}: {exc}", path) from None


def read_table(data: bytes, path: Path) -> list[tuple[bytes, bytes]]:
    """All (key, value) entries of the table in key order. Index-block keys (separators) are not data."""
    if len(data) < FOOTER_SIZE:
        raise InputError(f"truncated checkpoint index: {len(data)} bytes, shorter than the "
                         f"{FOOTER_SIZE}-byte footer", path)
    footer = len(data) - FOOTER_SIZE
    (magic,) = struct.unpack_from("<Q", data, footer + FOOTER_SIZE - 8)
    if magic != TABLE_MAGIC:
        raise InputError(f"not a TensorFlow checkpoint index: bad magic number 0x{magic:016x} "
                         "(file truncated or not an SSTable)", path)
    try:
        _metaindex, pos = _read_handle(data, footer, footer + 40)
        index, _ = _read_handle(data, pos, footer + 40)
    except ValueError as exc:
        raise InputError(f"corrupt checkpoint index footer: {exc}", path) from None

    index_contents = _block_contents(data, index, path, "index block")
    entries: list[tuple[bytes, bytes]] = []
    for separator, value in _block_entries(index_contents, index.offset, path):
        try:
            handle, _ = _read_handle(value, 0, len(value))
        except ValueError:
            raise InputError(f"corrupt index entry {separator!r} at offset {index.offset}", path) from None
        block = _block_contents(data, handle, path, "block")
        for key, val in _block_entries(block, handle.offset, path):
            # Keys are strictly ascending across the whole table; anything else is corruption.
            if entries and key <= entries[-1][0]:
                raise InputError(f"corrupt block at offset {handle.offset}: key {key!r} out of order", path)
            if key > separator:
                raise InputError(f"corrupt block at offset {handle.offset}: key {key!r} is past its "
                                 "index separator", path)
            entries.append((key, val))
    return entries
