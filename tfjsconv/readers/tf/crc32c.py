"""CRC-32C (Castagnoli) in pure Python + numpy, and TensorFlow's checksum masking.

TensorFlow checksums every index block and every tensor of a checkpoint with CRC-32C (reflected
polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF), stored "masked" (FORMATS.md §2.1).

Inputs below 64 bytes go through a byte-at-a-time table loop.  CRC is linear over GF(2):
``raw(a + b) = shift(raw(a), len(b)) ^ raw(b)``, where ``shift(s, n)`` advances the register ``s``
through ``n`` zero bytes (a linear map, applied through four 256-entry tables); and starting from a
state ``s`` is the same as starting from 0 with ``s`` xored into the first four bytes.  So a medium
input is front-padded with zeros to whole 256-byte blocks, each block is checksummed in one numpy gather
from a table per byte position, and the block results are merged pairwise in a vectorized tree.  Large
inputs (checkpoint shards can be hundreds of MB) are cut into 2 MiB chunks after an odd-sized head
(checksummed on up to 4 threads: numpy releases the GIL), and each chunk into many equal lanes whose
CRCs numpy advances side by side, 8 bytes per step with four 65536-entry tables.  Every merge shifts by
a power of two, so only a few dozen shift tables are ever built.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Union

import numpy as np

BytesLike = Union[bytes, bytearray, memoryview, np.ndarray]

_POLY = 0x82F63B78
_MASK_DELTA = 0xA282EAD8
_M32 = 0xFFFFFFFF

# Below this many bytes the scalar loop beats numpy's per-call overhead.
_SMALL = 64
# Inputs from this size on go through lanes, _CHUNK bytes at a time (which bounds the transposed copy);
# a power of two, like every distance the merges shift by.
_CHUNK = 1 << 21  # 2 MiB
_MAX_LANES = 1 << 12
_THREADS = min(4, os.cpu_count() or 1)
_MIN_LANE_BYTES = 64


def _byte_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _byte_table()
_TABLE_NP = np.array(_TABLE, dtype=np.uint32)


def _scalar_update(state: int, data: bytes) -> int:
    table = _TABLE
    for b in data:
        state = table[(state ^ b) & 0xFF] ^ (state >> 8)
    return state


@lru_cache(maxsize=1)
def _wide_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Slicing-by-8 tables fused pairwise into 16-bit tables (as uint64, the lanes' working type).

    ``t[k][v]`` is the register contribution of byte value ``v`` followed by ``k`` zero bytes; byte
    ``p`` (0..7) of an 8-byte word is followed by ``7 - p`` more bytes of the word.
    """
    t = [_TABLE_NP]
    for _ in range(7):
        prev = t[-1]
        t.append(_TABLE_NP[prev & 0xFF] ^ (prev >> 8))
    lo = np.arange(65536, dtype=np.uint32) & 0xFF
    hi = np.arange(65536, dtype=np.uint32) >> 8
    # 16-bit index j = byte p (low) + byte p+1 (high), as a little-endian word holds them.
    return tuple((t[7 - p][lo] ^ t[6 - p][hi]).astype(np.uint64)  # type: ignore[return-value]
                 for p in (0, 2, 4, 6))


# ----- shifting a register through zero bytes --------------------------------------------------------
# CRC is linear over GF(2): ``raw(a + b) = shift(raw(a), len(b)) ^ raw(b)``, where ``shift(s, n)`` is the
# register ``s`` advanced through ``n`` zero bytes, a 32 x 32 bit matrix.  Only distances that are
# powers of two are ever needed (every layout below is built from them), so a process computes at most
# a few dozen of these, each by squaring the previous one with numpy.

_BITS32 = np.arange(32, dtype=np.uint32)
_BYTE_BITS = ((np.arange(256, dtype=np.uint32)[:, None] >> np.arange(8, dtype=np.uint32)) & 1).astype(bool)


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Matrix ``a`` after ``b``; a matrix is its 32 columns (the images of the 32 bits) as uint32."""
    selected = ((b[:, None] >> _BITS32) & 1).astype(bool)
    return np.bitwise_xor.reduce(np.where(selected, a[None, :], np.uint32(0)), axis=1)


@lru_cache(maxsize=64)
def _pow2_matrix(k: int) -> np.ndarray:
    """Columns of "advance the register through 2**k zero bytes"."""
    if k == 0:
        return np.array([_scalar_update(1 << i, b"\0") for i in range(32)], dtype=np.uint32)
    half = _pow2_matrix(k - 1)
    return _compose(half, half)


@lru_cache(maxsize=64)
def _pow2_tables(k: int) -> np.ndarray:
    """``(4, 256)`` tables: shift(s, 2**k) = xor over j of tables[j][byte j of s]."""
    cols = _pow2_matrix(k).reshape(4, 8)
    return np.stack([np.bitwise_xor.reduce(np.where(_BYTE_BITS, cols[j][None, :], np.uint32(0)), axis=1)
                     for j in range(4)])


@lru_cache(maxsize=64)
def _pow2_lists(k: int) -> tuple[list[int], ...]:
    return tuple(row.tolist() for row in _pow2_tables(k))


def _shift(states: np.ndarray, k: int) -> np.ndarray:
    t = _pow2_tables(k)
    return t[0][states & 0xFF] ^ t[1][(states >> 8) & 0xFF] ^ t[2][(states >> 16) & 0xFF] ^ t[3][states >> 24]


def _shift_scalar(state: int, k: int) -> int:
    t0, t1, t2, t3 = _pow2_lists(k)
    return t0[state & 0xFF] ^ t1[(state >> 8) & 0xFF] ^ t2[(state >> 16) & 0xFF] ^ t3[state >> 24]


def _merge(raws: np.ndarray, k: int) -> int:
    """Register update over the concatenation of blocks of 2**k bytes each, given each block's own."""
    count = 1 << max(0, int(raws.size - 1).bit_length())
    if count != raws.size:  # leading zero blocks change nothing: raw(zeros + d) = raw(d)
        raws = np.concatenate([np.zeros(count - raws.size, np.uint32), raws])
    while raws.size > 1:
        raws = _shift(raws[0::2], k) ^ raws[1::2]
        k += 1
    return int(raws[0])


# ----- medium inputs: a table per byte position --------------------------------------------------------
# A block of _BLOCK bytes is checksummed in one gather: byte p contributes ``W[p][value]``, its value
# advanced through the _BLOCK - 1 - p bytes after it; the block results are merged with ``_merge``.

_BLOCK_LOG2 = 8
_BLOCK = 1 << _BLOCK_LOG2
_BLOCK_OFFSETS = np.arange(_BLOCK, dtype=np.intp) * 256
# Gathered a slice at a time so the index and value temporaries stay in cache (and bounded).
_GATHER_BYTES = 1 << 16


@lru_cache(maxsize=1)
def _position_table() -> np.ndarray:
    rows = np.empty((_BLOCK, 256), dtype=np.uint32)
    rows[0] = _TABLE_NP  # rows[m]: a byte followed by m zero bytes
    filled, k = 1, 0
    while filled < _BLOCK:
        t = _pow2_tables(k)
        part = rows[:filled]
        rows[filled:2 * filled] = (t[0][part & 0xFF] ^ t[1][(part >> 8) & 0xFF] ^ t[2][(part >> 16) & 0xFF]
                                   ^ t[3][part >> 24])
        filled *= 2
        k += 1
    return np.ascontiguousarray(rows[::-1]).reshape(-1)  # position p is followed by _BLOCK - 1 - p bytes


def _blocks_update(state: int, data: np.ndarray) -> int:
    """Register update over ``data`` (uint8, at least 4 bytes) through the position table."""
    n = data.size
    pad = -n % _BLOCK
    buf = np.zeros(pad + n, dtype=np.uint8)
    buf[pad:] = data
    # Starting from ``state`` is the same as starting from 0 with ``state`` xored into the first four
    # bytes (the register and the next four bytes meet in the same xor); leading zeros change nothing.
    buf[pad:pad + 4] ^= np.frombuffer(state.to_bytes(4, "little"), dtype=np.uint8)
    table = _position_table()
    blocks = buf.reshape(-1, _BLOCK)
    step = _GATHER_BYTES // _BLOCK
    raws = np.empty(blocks.shape[0], dtype=np.uint32)
    for i in range(0, blocks.shape[0], step):
        index = blocks[i:i + step].astype(np.intp)
        index += _BLOCK_OFFSETS
        raws[i:i + step] = np.bitwise_xor.reduce(np.take(table, index), axis=1)
    return _merge(raws, _BLOCK_LOG2)


# ----- large inputs: lanes --------------------------------------------------------------------------------


def _lanes_raw(data: np.ndarray) -> int:
    """Register update from 0 over one _CHUNK of ``data`` (uint8), lanes side by side."""
    n = data.size
    lanes = _MAX_LANES
    while lanes > 1 and n // lanes < _MIN_LANE_BYTES:
        lanes //= 2
    lane_bytes = n // lanes
    # Row j holds the j-th 8-byte word of every lane, contiguously (np.take is fastest on rows).
    words = np.ascontiguousarray(data.view("<u8").reshape(lanes, lane_bytes // 8).T)
    ta, tb, tc, td = _wide_tables()
    crc = np.zeros(lanes, dtype=np.uint64)
    word = np.empty(lanes, dtype=np.uint64)
    index = np.empty(lanes, dtype=np.uint64)
    # np.take wants signed indices: numpy 2.0 refuses to cast uint64 ones (the values are < 2**16).
    signed_index = index.view(np.intp)
    for row in words:
        np.bitwise_xor(row, crc, out=word)
        np.bitwise_and(word, 0xFFFF, out=index)
        crc = np.take(ta, signed_index)
        np.right_shift(word, 16, out=index)
        index &= 0xFFFF
        crc ^= np.take(tb, signed_index)
        np.right_shift(word, 32, out=index)
        index &= 0xFFFF
        crc ^= np.take(tc, signed_index)
        np.right_shift(word, 48, out=index)
        crc ^= np.take(td, signed_index)
    return _merge(crc.astype(np.uint32), lane_bytes.bit_length() - 1)


def _as_uint8(data: BytesLike) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8) if data.flags.c_contiguous else \
            np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def _update(state: int, data: BytesLike) -> int:
    if not isinstance(data, np.ndarray) and len(data) < _SMALL:
        return _scalar_update(state, bytes(data))
    arr = _as_uint8(data)
    if arr.size < _SMALL:
        return _scalar_update(state, arr.tobytes())
    # The odd-sized head first (it absorbs the starting state), then whole _CHUNKs, whose lane layout
    # and merge distances are always the same.
    head = arr.size % _CHUNK
    if head >= 4:
        state = _blocks_update(state, arr[:head])
    elif head:
        state = _scalar_update(state, arr[:head].tobytes())
    chunks = [arr[i:i + _CHUNK] for i in range(head, arr.size, _CHUNK)]
    # numpy releases the GIL inside each call, so independent chunks overlap on several cores.
    workers = min(len(chunks), _THREADS)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            raws = list(pool.map(_lanes_raw, chunks))
    else:
        raws = [_lanes_raw(chunk) for chunk in chunks]
    k = _CHUNK.bit_length() - 1
    for raw in raws:
        state = _shift_scalar(state, k) ^ raw
    return state


def crc32c(data: BytesLike, crc: int = 0) -> int:
    """CRC-32C of ``data``; pass a previous result as ``crc`` to continue it (like ``zlib.crc32``)."""
    return _update(crc ^ _M32, data) ^ _M32


def mask(crc: int) -> int:
    """TensorFlow's stored form of a checksum (rotate right by 15, add a constant)."""
    return ((((crc >> 15) | (crc << 17)) & _M32) + _MASK_DELTA) & _M32


def unmask(masked: int) -> int:
    rot = (masked - _MASK_DELTA) & _M32
    return ((rot >> 17) | (rot << 15)) & _M32


def masked_crc32c(data: BytesLike) -> int:
    return mask(crc32c(data))
