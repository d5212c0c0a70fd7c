"""CRC-32C (Castagnoli) in pure Python + numpy, and TensorFlow's checksum masking.

TensorFlow checksums every index block and every tensor of a checkpoint with CRC-32C (reflected
polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF), stored "masked" (FORMATS.md §2.1).

Inputs below 64 bytes go through a byte-at-a-time table loop.  CRC is linear over GF(2):
``raw(a + b) = shift(raw(a), len(b)) ^ raw(b)``, where ``shift(s, n)`` advances the register ``s``
through ``n`` zero bytes (a linear map, applied through four 256-entry tables); and starting from a
state ``s`` is the same as starting from 0 with ``s`` xored into the first four bytes.  So a medium
input is front-padded with zeros to whole 256-byte blocks, each block is checksummed in one numpy gather
from a table per byte position, and the block results are merged pairwise in a vectorized tree (its
last levels in plain Python).  Large inputs (checkpoint shards can be hundreds of MB) are cut into
2 MiB chunks after an odd-sized head (checksummed on up to 4 threads: numpy releases the GIL); each
16-byte block of a chunk is checksummed with eight lookups in 65536-entry tables, one per 16-bit word
(2 MiB of tables in all), and the blocks are merged in the same tree.  Every merge shifts by a power of
two, so only a few dozen (1 KiB) shift tables are ever built.
"""

from __future__ import annotations

import os
import sys
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
# Inputs from this size on go through 16-bit word tables, _CHUNK bytes at a time (a power of two, like
# every distance the merges shift by), on up to _THREADS threads.
_LARGE = 1 << 18
_CHUNK = 1 << 21  # 2 MiB
_THREADS = min(4, os.cpu_count() or 1)


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


_SCALAR_MERGE = 64
_BYTE = (0, 1, 2, 3) if sys.byteorder == "little" else (3, 2, 1, 0)  # byte j of a uint32 in memory


def _merge(raws: np.ndarray, k: int) -> int:
    """Register update over the concatenation of blocks of 2**k bytes each, given each block's own."""
    count = 1 << max(0, int(raws.size - 1).bit_length())
    if count != raws.size:  # leading zero blocks change nothing: raw(zeros + d) = raw(d)
        raws = np.concatenate([np.zeros(count - raws.size, np.uint32), raws])
    raws = np.ascontiguousarray(raws, dtype=np.uint32)
    while raws.size > _SCALAR_MERGE:
        t = _pow2_tables(k)
        # Per pair: the first register's four bytes, then the second's; the bytes index the tables
        # directly (no shifting and masking).
        pairs = raws.view(np.uint8).reshape(-1, 8)
        raws = (np.take(t[0], pairs[:, _BYTE[0]]) ^ np.take(t[1], pairs[:, _BYTE[1]])
                ^ np.take(t[2], pairs[:, _BYTE[2]]) ^ np.take(t[3], pairs[:, _BYTE[3]]) ^ raws[1::2])
        k += 1
    # The last levels in plain Python: each numpy level costs a dozen calls, whatever its size.
    values = raws.tolist()
    while len(values) > 1:
        values = [_shift_scalar(a, k) ^ b for a, b in zip(values[0::2], values[1::2])]
        k += 1
    return int(values[0])


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


# ----- large inputs: 16-byte blocks and a merge tree -------------------------------------------------
# Each 16-byte block's own register value (from 0) is the xor of eight 16-bit table lookups, one per
# little-endian 16-bit word q of the block: table q already advances its word through the 14 - 2q bytes
# after it.  numpy computes that for a whole slice of blocks per lookup, and the block values are merged
# pairwise (``_merge``): both are long vectorized runs with few numpy calls.  (Advancing one register per
# lane 8 bytes at a time costs a dozen calls per step and was ~1.4x slower on 1-64 MiB inputs.)

_WORD_BLOCK_LOG2 = 4
_WORD_BLOCK = 1 << _WORD_BLOCK_LOG2
# Blocks per gather: the index and value temporaries stay in cache (and bounded).
_WORD_ROWS = 1 << 14


@lru_cache(maxsize=1)
def _word_tables() -> tuple[np.ndarray, ...]:
    """Eight 65536-entry tables: word ``q`` of a 16-byte block (byte 2q low, byte 2q + 1 high)."""
    rows = [_TABLE_NP]  # rows[m]: a byte followed by m zero bytes
    for _ in range(_WORD_BLOCK - 1):
        prev = rows[-1]
        rows.append(_TABLE_NP[prev & 0xFF] ^ (prev >> 8))
    values = np.arange(65536, dtype=np.uint32)
    low, high = values & 0xFF, values >> 8
    return tuple(rows[_WORD_BLOCK - 1 - 2 * q][low] ^ rows[_WORD_BLOCK - 2 - 2 * q][high]
                 for q in range(_WORD_BLOCK // 2))


def _words_raw(data: np.ndarray) -> int:
    """Register update from 0 over ``data`` (uint8, a whole number of 16-byte blocks)."""
    words = data.view("<u2").reshape(-1, _WORD_BLOCK // 2)
    tables = _word_tables()
    raws = np.empty(words.shape[0], dtype=np.uint32)
    for i in range(0, words.shape[0], _WORD_ROWS):
        part = words[i:i + _WORD_ROWS]
        acc = np.take(tables[0], part[:, 0])
        for q in range(1, len(tables)):
            acc ^= np.take(tables[q], part[:, q])
        raws[i:i + _WORD_ROWS] = acc
    return _merge(raws, _WORD_BLOCK_LOG2)


def _shift_by(state: int, n: int) -> int:
    """``state`` advanced through ``n`` zero bytes (the power-of-two shifts commute)."""
    k = 0
    while n:
        if n & 1:
            state = _shift_scalar(state, k)
        n >>= 1
        k += 1
    return state


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
    if arr.size < _LARGE:
        return _blocks_update(state, arr)
    # update(s, head + body) = shift(update(s, head), len(body)) ^ raw(body): the odd-sized head first,
    # then whole 16-byte blocks, _CHUNK bytes at a time after an odd-sized first piece.
    head = arr.size % _WORD_BLOCK
    state = _scalar_update(state, arr[:head].tobytes())
    first = head + (arr.size - head) % _CHUNK
    if first > head:
        state = _shift_by(state, first - head) ^ _words_raw(arr[head:first])
    chunks = [arr[i:i + _CHUNK] for i in range(first, arr.size, _CHUNK)]
    # numpy releases the GIL inside each call, so independent chunks overlap on several cores.
    workers = min(len(chunks), _THREADS)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            raws = list(pool.map(_words_raw, chunks))
    else:
        raws = [_words_raw(chunk) for chunk in chunks]
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
