"""CRC-32C against published vectors and an independent bit-by-bit implementation."""

from __future__ import annotations

import numpy as np
import pytest

from tfjsconv.readers.tf import crc32c as crc_module
from tfjsconv.readers.tf.crc32c import crc32c, mask, masked_crc32c, unmask


def bitwise_crc32c(data: bytes) -> int:
    """Textbook definition, one bit at a time (slow, independent of the module's tables)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


@pytest.mark.parametrize(("data", "expected"), [
    (b"", 0x00000000),
    (b"123456789", 0xE3069283),  # the CRC catalogue's check value for CRC-32C
    (bytes(32), 0x8A9136AA),  # RFC 3720 B.4 (iSCSI) vectors
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
])
def test_known_vectors(data: bytes, expected: int) -> None:
    assert crc32c(data) == expected
    assert bitwise_crc32c(data) == expected


def test_mask_round_trip_and_tensorflow_constant() -> None:
    for value in (0, 1, 0xE3069283, 0xFFFFFFFF, 0x80000000):
        assert unmask(mask(value)) == value
    assert mask(0) == 0xA282EAD8  # rotation of 0 is 0, plus the delta
    assert masked_crc32c(b"123456789") == mask(0xE3069283) != 0xE3069283


@pytest.mark.parametrize("size", [1, 7, 63, 64, 65, 255, 256, 257, 4095, 4096, 4097, 8191, 65536 + 13,
                                  300_001, (1 << 21) + 3])
def test_vectorized_path_matches_bitwise(size: int) -> None:
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    assert crc32c(data) == bitwise_crc32c(data)


def test_many_chunks_and_merge_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    # Small chunks force several passes (on threads) through the 16-byte block code, its odd-sized first
    # piece and the zero-byte shifts between chunks.
    monkeypatch.setattr(crc_module, "_LARGE", 1 << 12)
    monkeypatch.setattr(crc_module, "_CHUNK", 1 << 14)
    data = np.random.default_rng(1).integers(0, 256, 123_457, dtype=np.uint8).tobytes()
    expected = bitwise_crc32c(data)
    assert crc32c(data) == expected
    # Continuing from a state: through the odd-sized head, or (no head) through whole chunks only.
    for cut in (2, 123_457 - 4 * (1 << 14), 123_457 - (1 << 14) - 5):
        assert crc32c(data[cut:], crc32c(data[:cut])) == expected


def test_continuation_and_input_types() -> None:
    data = np.random.default_rng(2).integers(0, 256, 50_000, dtype=np.uint8)
    whole = crc32c(data.tobytes())
    for cut in (0, 1, 3, 4, 63, 64, 65, 4096, 33_333, 50_000):
        assert crc32c(data[cut:].tobytes(), crc32c(data[:cut].tobytes())) == whole
    assert crc32c(data) == whole
    assert crc32c(memoryview(data.tobytes())) == whole
    assert crc32c(bytearray(data.tobytes())) == whole
    as_words = data[:49_996].view("<u4")  # multi-byte dtypes are checksummed as their bytes
    assert crc32c(as_words) == crc32c(data[:49_996].tobytes())
    strided = data[::2]
    assert crc32c(strided) == crc32c(strided.tobytes())
