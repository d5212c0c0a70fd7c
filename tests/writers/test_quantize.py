"""Quantization: name selection rules and the affine/float16 arithmetic, checked value by value.

The arrays below are chosen so that every step of the affine maths is exact in binary floating point
(scales are powers of two), which lets the expected codes be worked out by hand in the comments.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfjsconv.errors import OptionsError
from tfjsconv.writers.quantize import quantize, resolve_quantization


def f32(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


# ----- affine uint8 / uint16 ----------------------------------------------------------------------------

def test_uint8_spanning_zero_exact_zero_point() -> None:
    # range 62.5 - (-1.25) = 63.75 = 255 * 0.25 -> scale 0.25; zero point 1.25 / 0.25 = 5 (no nudge needed)
    q = quantize("w", f32(-1.25, 0.0, 0.3, 62.5), "uint8")
    assert q is not None
    # (0.3 + 1.25) / 0.25 = 6.2 -> 6
    assert q.data.dtype == np.uint8
    assert q.data.tolist() == [0, 5, 6, 255]
    assert q.metadata == {"dtype": "uint8", "min": -1.25, "scale": 0.25, "original_dtype": "float32"}
    assert list(q.metadata) == ["dtype", "min", "scale", "original_dtype"]


def test_uint8_zero_point_nudge_rounds_half_to_even() -> None:
    # range 62.625 - (-1.125) = 63.75 -> scale 0.25; zero point 1.125 / 0.25 = 4.5 -> 4 (half to even),
    # nudged min = -4 * 0.25 = -1.0, nudged max = 255 * 0.25 - 1.0 = 62.75.
    q = quantize("w", f32(-1.125, 0.0, 62.625), "uint8")
    assert q is not None
    # -1.125 clips to -1.0 -> 0; 0 -> 4; (62.625 + 1) / 0.25 = 254.5 -> 254 (half to even)
    assert q.data.tolist() == [0, 4, 254]
    assert q.metadata["min"] == -1.0
    assert q.metadata["scale"] == 0.25


def test_uint8_positive_only_is_not_nudged() -> None:
    # 0 is outside [1, 64.75]: min stays 1.0, scale 63.75 / 255 = 0.25
    q = quantize("w", f32(1.0, 2.0, 4.0, 64.75), "uint8")
    assert q is not None
    assert q.data.tolist() == [0, 4, 12, 255]
    assert (q.metadata["min"], q.metadata["scale"]) == (1.0, 0.25)


def test_uint8_negative_only_is_not_nudged() -> None:
    q = quantize("w", f32(-64.75, -10.0, -1.0), "uint8")
    assert q is not None
    # (-10 + 64.75) / 0.25 = 219
    assert q.data.tolist() == [0, 219, 255]
    assert (q.metadata["min"], q.metadata["scale"]) == (-64.75, 0.25)


def test_uint8_non_power_of_two_scale_uses_float64() -> None:
    # scale = 3 / 255 in float64; zero point round(1 / scale) = 85; min = -85 * scale
    q = quantize("w", f32(-1.0, 0.0, 2.0), "uint8")
    assert q is not None
    scale = 3.0 / 255.0
    assert q.metadata["scale"] == scale
    assert q.metadata["min"] == -85.0 * scale
    assert q.data.tolist() == [0, 85, 255]


def test_constant_arrays_become_zeros_with_scale_one() -> None:
    q = quantize("w", np.full((2, 3), 3.5, np.float32), "uint8")
    assert q is not None
    assert q.data.tobytes() == bytes(6)
    assert q.metadata == {"dtype": "uint8", "min": 3.5, "scale": 1.0, "original_dtype": "float32"}
    zero = quantize("w", f32(0.0, 0.0), "uint16")
    assert zero is not None
    assert zero.data.dtype == np.uint16 and zero.data.tobytes() == bytes(4)
    assert (zero.metadata["min"], zero.metadata["scale"]) == (0.0, 1.0)


def test_uint16_bytes_little_endian() -> None:
    # range 255.99609375 = 65535 / 256 -> scale 2**-8; zero point 0.5 * 256 = 128
    q = quantize("w", f32(-0.5, 0.0, 0.25, 255.49609375), "uint16")
    assert q is not None
    assert q.data.tolist() == [0, 128, 192, 65535]
    assert q.data.tobytes() == bytes([0, 0, 128, 0, 192, 0, 255, 255])
    assert (q.metadata["min"], q.metadata["scale"]) == (-0.5, 2.0 ** -8)


def test_min_zero_is_written_as_negative_zero_like_the_official_converter() -> None:
    # upstream computes -round((0 - 0.0) / s) * s = -0.0, and json writes "-0.0"
    q = quantize("w", f32(0.0, 1.0, 2.0), "uint8")
    assert q is not None
    assert json.dumps(q.metadata["min"]) == "-0.0"


@pytest.mark.parametrize("qdtype", ["uint8", "uint16"])
def test_dequantized_values_are_within_half_a_step(qdtype: str) -> None:
    data = np.random.default_rng(7).normal(0.0, 3.0, size=1000).astype(np.float32)
    q = quantize("w", data, qdtype)
    assert q is not None
    scale, low = q.metadata["scale"], q.metadata["min"]
    restored = q.data.astype(np.float64) * scale + low
    error = np.abs(restored - data.astype(np.float64))
    assert error.max() <= scale / 2 * (1 + 1e-9)
    assert error.max() > scale / 10  # the data really was quantized
    # zero is exactly representable after the nudge
    zero_code = -low / scale
    assert zero_code == round(zero_code)


def test_non_finite_data_is_left_unquantized_with_a_warning() -> None:
    warnings: list[str] = []
    assert quantize("mask", f32(0.0, -np.inf), "uint8", warnings) is None
    assert len(warnings) == 1 and "mask" in warnings[0]


# ----- float16 ------------------------------------------------------------------------------------------

def test_float16_bytes_and_metadata() -> None:
    warnings: list[str] = []
    q = quantize("w", f32(1.0, -2.0, 65504.0, 0.1), "float16", warnings)
    assert q is not None
    # 1.0 = 0x3C00, -2.0 = 0xC000, 65504 = 0x7BFF (largest finite), 0.1 -> 0x2E66 (round to nearest)
    assert q.data.tobytes() == bytes([0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x66, 0x2E])
    assert list(q.metadata.items()) == [("dtype", "float16"), ("original_dtype", "float32")]
    assert warnings == []


def test_float16_overflow_warns() -> None:
    warnings: list[str] = []
    q = quantize("big", f32(70000.0, -1e6, 1.0), "float16", warnings)
    assert q is not None
    assert np.isinf(q.data[:2]).all()
    assert len(warnings) == 1
    assert "big" in warnings[0] and "2 value(s)" in warnings[0]


# ----- which names get which dtype ----------------------------------------------------------------------

NAMES = ["conv/kernel", "conv/bias", "dense/kernel", "model/block_1/conv/Conv2D_weights"]


def test_patterns_and_fallthrough() -> None:
    chosen = resolve_quantization(NAMES, {"uint8": ("*kernel",), "float16": True})
    assert chosen == {"conv/kernel": "uint8", "dense/kernel": "uint8", "conv/bias": "float16",
                      "model/block_1/conv/Conv2D_weights": "float16"}


def test_star_matches_across_slashes() -> None:
    chosen = resolve_quantization(NAMES, {"uint16": ("model/*weights",)})
    assert chosen == {"model/block_1/conv/Conv2D_weights": "uint16"}


def test_question_mark_brackets_and_case_sensitivity() -> None:
    chosen = resolve_quantization(NAMES, {"uint8": ("co?v/[bk]*",), "float16": ("DENSE/*",)})
    assert chosen == {"conv/kernel": "uint8", "conv/bias": "uint8"}


def test_no_map_or_disabled_flags_select_nothing() -> None:
    assert resolve_quantization(NAMES, None) == {}
    assert resolve_quantization(NAMES, {"uint8": False, "float16": ()}) == {}


def test_same_dtype_matching_twice_is_fine() -> None:
    chosen = resolve_quantization(NAMES, {"uint8": ("conv/*", "*/kernel")})
    assert chosen == {"conv/kernel": "uint8", "conv/bias": "uint8", "dense/kernel": "uint8"}


def test_two_dtypes_matching_one_name_is_an_error_naming_it() -> None:
    with pytest.raises(OptionsError, match="conv/kernel"):
        resolve_quantization(NAMES, {"uint8": ("conv/*",), "uint16": ("*/kernel",)})


def test_more_than_one_fallthrough_is_an_error() -> None:
    with pytest.raises(OptionsError, match="quantize_uint8, quantize_float16"):
        resolve_quantization([], {"uint8": True, "float16": True})


def test_unknown_dtype_and_bad_values_are_errors() -> None:
    with pytest.raises(OptionsError, match="int4"):
        resolve_quantization(NAMES, {"int4": True})
    with pytest.raises(OptionsError, match="patterns"):
        resolve_quantization(NAMES, {"uint8": "conv/*"})  # type: ignore[dict-item]
