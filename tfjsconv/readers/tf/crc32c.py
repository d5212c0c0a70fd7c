"""CRC-32C (Castagnoli) in pure Python + numpy, and TensorFlow's checksum masking.

TensorFlow checksums every index block and every tensor of a checkpoint with CRC-32C (reflected
polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF), stored "masked" (FORMATS.md §2.1).

Small inputs go through a byte-at-a-time table loop.  Large inputs (checkpoint shards can be hundreds
of MB) are cut into 2 MiB pieces (checksummed on up to 4 threads: numpy releases the GIL), and each
piece into many equal lanes whose CRCs numpy advances side by side, 8 bytes per step with four
65536-entry tables; the lane CRCs are then merged pairwise in a vectorized tree using the fact that CRC
is linear over GF(2): ``raw(a + b) = shift(raw(a), len(b)) ^ raw(b)``, where ``shift(s, n)`` is the
register ``s`` advanced through ``n`` zero bytes — itself a linear map, applied through four 256-entry
tables per distance.
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
_SMALL = 4096
# Work on at most this many bytes at once so the transposed copy stays bounded.
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


def _gf2_apply(columns: list[int], vec: int) -> int:
    out = 0
    i = 0
    while vec:
        if vec & 1:
            out ^= columns[i]
        vec >>= 1
        i += 1
    return out


def _gf2_compose(a: list[int], b: list[int]) -> list[int]:
    """Matrix of ``a`` after ``b``."""
    return [_gf2_apply(a, col) for col in b]


@lru_cache(maxsize=256)
def _shift_matrix(nbytes: int) -> tuple[int, ...]:
    """Columns of the linear map "advance the register through ``nbytes`` zero bytes"."""
    one = [_scalar_update(1 << i, b"\0") for i in range(32)]
    result = [1 << i for i in range(32)]
    power = one
    n = nbytes
    while n:
        if n & 1:
            result = _gf2_compose(power, result)
        n >>= 1
        if n:
            power = _gf2_compose(power, power)
    return tuple(result)


@lru_cache(maxsize=256)
def _shift_tables(nbytes: int) -> np.ndarray:
    """``(4, 256)`` tables: shift(s) = xor over k of tables[k][byte k of s]."""
    cols = np.array(_shift_matrix(nbytes), dtype=np.uint32).reshape(4, 8)
    values = np.arange(256, dtype=np.uint32)
    bits = ((values[:, None] >> np.arange(8, dtype=np.uint32)) & 1).astype(bool)  # (256, 8)
    tables = np.zeros((4, 256), dtype=np.uint32)
    for k in range(4):
        tables[k] = np.bitwise_xor.reduce(np.where(bits, cols[k][None, :], np.uint32(0)), axis=1)
    return tables


def _shift(states: np.ndarray, nbytes: int) -> np.ndarray:
    t = _shift_tables(nbytes)
    return t[0][states & 0xFF] ^ t[1][(states >> 8) & 0xFF] ^ t[2][(states >> 16) & 0xFF] ^ t[3][states >> 24]


def _shift_scalar(state: int, nbytes: int) -> int:
    return _gf2_apply(list(_shift_matrix(nbytes)), state)


def _lanes_raw(data: np.ndarray) -> int:
    """Register update from 0 over ``data`` (uint8, length a multiple of 8 * lanes), lanes side by side."""
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
    # Merge neighbours: raw(a + b) = shift(raw(a), len(b)) ^ raw(b).
    merged = crc.astype(np.uint32)
    span = lane_bytes
    while merged.size > 1:
        merged = _shift(merged[0::2], span) ^ merged[1::2]
        span *= 2
    return int(merged[0])


def _as_uint8(data: BytesLike) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8) if data.flags.c_contiguous else \
            np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def _pieces(n: int) -> list[tuple[int, int]]:
    """Cuts ``n`` bytes into (start, stop) pieces the lane code can take whole; the tail stays scalar."""
    pieces = []
    pos = 0
    while n - pos >= _SMALL:
        take = min(_CHUNK, n - pos)
        lanes = _MAX_LANES
        while lanes > 1 and take // lanes < _MIN_LANE_BYTES:
            lanes //= 2
        take -= take % (8 * lanes)
        pieces.append((pos, pos + take))
        pos += take
    return pieces


def _update(state: int, data: BytesLike) -> int:
    if not isinstance(data, np.ndarray) and len(data) < _SMALL:
        return _scalar_update(state, bytes(data))
    arr = _as_uint8(data)
    pieces = _pieces(arr.size)
    chunks = [arr[a:b] for a, b in pieces]
    # numpy releases the GIL inside each call, so independent pieces overlap on several cores.
    workers = min(len(chunks), _THREADS)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            raws = list(pool.map(_lanes_raw, chunks))
    else:
        raws = [_lanes_raw(chunk) for chunk in chunks]
    for chunk, raw in zip(chunks, raws):
        state = _shift_scalar(state, chunk.size) ^ raw
    done = pieces[-1][1] if pieces else 0
    return _scalar_update(state, arr[done:].tobytes())


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
