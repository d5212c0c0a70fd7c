"""Numpy kernels against independent references (hand-written loops and literal expectations)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tfjsconv.ir.types import DType
from tfjsconv.ops.kernels import NotComputable, get_kernel, kernel

RNG = np.random.default_rng(3)
X = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)


def run(op: str, inputs: list[Any], **attrs: Any) -> tuple[np.ndarray, ...]:
    fn = get_kernel(op)
    assert fn is not None, op
    return fn([np.asarray(i) for i in inputs], attrs)


def i32(*values: int) -> np.ndarray:
    return np.array(values, np.int32)


@pytest.mark.parametrize(
    ("begin", "end", "strides", "masks", "expected"),
    [
        ((0, 1), (2, 3), (1, 1), {}, X[0:2, 1:3]),
        ((1, 0), (0, 0), (1, 2), {"end_mask": 3}, X[1:, ::2]),
        ((0, 1), (0, 2), (1, 1), {"ellipsis_mask": 1, "shrink_axis_mask": 2}, X[..., 1]),
        ((0, 0), (1, 0), (1, 1), {"new_axis_mask": 1, "shrink_axis_mask": 2}, X[None, 0]),
        ((-1,), (0,), (-1,), {"end_mask": 1}, X[::-1]),
        ((0, 0, -1), (0, 0, 0), (1, 1, -2), {"begin_mask": 3, "end_mask": 7}, X[:, :, ::-2]),
        ((1,), (2,), (1,), {"shrink_axis_mask": 1}, X[1]),
    ],
)
def test_strided_slice(begin: tuple, end: tuple, strides: tuple, masks: dict, expected: np.ndarray) -> None:
    (got,) = run("StridedSlice", [X, i32(*begin), i32(*end), i32(*strides)], **masks)
    np.testing.assert_array_equal(got, expected)
    assert got.shape == expected.shape


def _naive_conv(x: np.ndarray, w: np.ndarray, stride: int, dilation: int, same: bool) -> np.ndarray:
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    ekh, ekw = (kh - 1) * dilation + 1, (kw - 1) * dilation + 1
    if same:
        oh, ow = math.ceil(h / stride), math.ceil(wd / stride)
        ph = max((oh - 1) * stride + ekh - h, 0) // 2
        pw = max((ow - 1) * stride + ekw - wd, 0) // 2
    else:
        oh, ow, ph, pw = (h - ekh) // stride + 1, (wd - ekw) // stride + 1, 0, 0
    out = np.zeros((n, oh, ow, o))
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for a in range(kh):
                    for d in range(kw):
                        y, z = i * stride + a * dilation - ph, j * stride + d * dilation - pw
                        if 0 <= y < h and 0 <= z < wd:
                            out[b, i, j] += x[b, y, z] @ w[a, d]
    return out


@pytest.mark.parametrize(
    ("stride", "dilation", "padding"),
    [(1, 1, "SAME"), (2, 1, "SAME"), (1, 2, "VALID"), (2, 1, "VALID"), (3, 2, "SAME")],
)
def test_conv2d(stride: int, dilation: int, padding: str) -> None:
    x = RNG.standard_normal((2, 7, 6, 3)).astype(np.float32)
    w = RNG.standard_normal((3, 2, 3, 4)).astype(np.float32)
    (got,) = run(
        "Conv2D",
        [x, w],
        strides=[1, stride, stride, 1],
        dilations=[1, dilation, dilation, 1],
        padding=padding.encode(),
        data_format=b"NHWC",
    )
    np.testing.assert_allclose(
        got, _naive_conv(x, w, stride, dilation, padding == "SAME"), rtol=1e-5, atol=1e-5
    )
    assert got.dtype == np.float32


def test_depthwise_matches_per_channel_convolutions() -> None:
    x = RNG.standard_normal((1, 5, 5, 3)).astype(np.float32)
    w = RNG.standard_normal((3, 3, 3, 2)).astype(np.float32)
    (got,) = run("DepthwiseConv2dNative", [x, w], strides=[1, 1, 1, 1], padding=b"SAME")
    for c in range(3):
        for m in range(2):
            ref = _naive_conv(x[..., c : c + 1], w[:, :, c : c + 1, m : m + 1], 1, 1, True)
            np.testing.assert_allclose(got[..., c * 2 + m], ref[..., 0], rtol=1e-5, atol=1e-5)


def test_conv2d_nchw_equals_nhwc() -> None:
    x = RNG.standard_normal((1, 4, 4, 2)).astype(np.float32)
    w = RNG.standard_normal((2, 2, 2, 3)).astype(np.float32)
    (nhwc,) = run("Conv2D", [x, w], strides=[1, 2, 2, 1], padding=b"VALID")
    (nchw,) = run(
        "Conv2D", [x.transpose(0, 3, 1, 2), w], strides=[1, 1, 2, 2], padding=b"VALID", data_format=b"NCHW"
    )
    np.testing.assert_allclose(nchw.transpose(0, 2, 3, 1), nhwc, rtol=1e-6)


def test_fused_ops_kernels() -> None:
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    w = RNG.standard_normal((4, 2)).astype(np.float32)
    b = np.array([0.5, -0.5], np.float32)
    alpha = np.array([0.1, 0.3], np.float32)
    (got,) = run("_FusedMatMul", [x, w, b, alpha], fused_ops=[b"BiasAdd", b"Prelu"], num_args=2)
    z = x @ w + b
    np.testing.assert_allclose(got, np.where(z > 0, z, z * alpha), rtol=1e-6)
    (leaky,) = run(
        "_FusedMatMul", [x, w, b], fused_ops=[b"BiasAdd", b"LeakyRelu"], num_args=1, leakyrelu_alpha=0.1
    )
    np.testing.assert_allclose(leaky, np.where(z > 0, z, 0.1 * z), rtol=1e-6)
    with pytest.raises(NotComputable):
        run("_FusedMatMul", [x, w, b], fused_ops=[b"BiasAdd"], num_args=2)


def test_fused_batch_norm() -> None:
    x = RNG.standard_normal((2, 3, 3, 4)).astype(np.float32)
    gamma, beta, mean = (RNG.standard_normal(4).astype(np.float32) for _ in range(3))
    var = RNG.uniform(0.5, 2, 4).astype(np.float32)
    y = run("FusedBatchNormV3", [x, gamma, beta, mean, var], epsilon=0.001)
    assert len(y) == 6
    np.testing.assert_allclose(y[0], (x - mean) / np.sqrt(var + 0.001) * gamma + beta, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("op", "inputs", "attrs", "expected"),
    [
        ("AddV2", [i32(1, 2), i32(10)], {}, i32(11, 12)),
        ("Sub", [np.float32(1.5), np.float32(0.25)], {}, np.float32(1.25)),
        ("RealDiv", [np.float32([1, 3]), np.float32([2, 4])], {}, np.float32([0.5, 0.75])),
        ("FloorDiv", [i32(-7, 7), i32(2, 2)], {}, i32(-4, 3)),
        ("Div", [i32(-7, 7), i32(2, 2)], {}, i32(-3, 3)),
        ("FloorMod", [i32(-7, 7), i32(3, 3)], {}, i32(2, 1)),
        ("Maximum", [np.float32([1, 5]), np.float32([3, 2])], {}, np.float32([3, 5])),
        ("Less", [i32(1, 5), i32(3, 3)], {}, np.array([True, False])),
        ("Cast", [np.float32([-1.7, 2.9])], {"DstT": DType.INT32}, i32(-1, 2)),
        ("Cast", [np.array([True, False])], {"DstT": DType.FLOAT}, np.float32([1, 0])),
        ("Shape", [X], {}, i32(2, 3, 4)),
        ("Shape", [X], {"out_type": DType.INT64}, np.array([2, 3, 4], np.int64)),
        ("Reshape", [X, i32(-1, 6)], {}, X.reshape(4, 6)),
        ("Pack", [i32(1, 2), i32(3, 4)], {"axis": 1}, np.array([[1, 3], [2, 4]], np.int32)),
        ("ConcatV2", [i32(1), i32(2, 3), np.int32(0)], {}, i32(1, 2, 3)),
        ("Fill", [i32(2, 2), np.float32(7)], {}, np.full((2, 2), 7, np.float32)),
        ("Range", [np.int32(2), np.int32(9), np.int32(3)], {"Tidx": DType.INT32}, i32(2, 5, 8)),
        (
            "Range",
            [np.float32(0), np.float32(1), np.float32(0.25)],
            {"Tidx": DType.FLOAT},
            np.float32([0, 0.25, 0.5, 0.75]),
        ),
        ("Transpose", [X, i32(2, 0, 1)], {}, X.transpose(2, 0, 1)),
        ("ExpandDims", [i32(1, 2), np.int32(-1)], {}, np.array([[1], [2]], np.int32)),
        ("Squeeze", [np.zeros((1, 2, 1), np.float32)], {"squeeze_dims": [2]}, np.zeros((1, 2), np.float32)),
        ("Squeeze", [np.zeros((1, 2, 1), np.float32)], {"squeeze_dims": []}, np.zeros((2,), np.float32)),
        ("Prod", [i32(2, 3, 4), np.int32(0)], {}, np.int32(24)),
        ("Sum", [X, i32(0, 2)], {"keep_dims": True}, X.sum(axis=(0, 2), keepdims=True)),
        ("Mean", [X, i32(-1)], {}, X.mean(axis=-1)),
        ("Max", [X, i32(1)], {}, X.max(axis=1)),
        ("GatherV2", [X, i32(2, 0), np.int32(1)], {}, X[:, [2, 0]]),
        (
            "SplitV",
            [np.arange(6, dtype=np.int32), i32(1, -1, 2), np.int32(0)],
            {},
            (i32(0), i32(1, 2, 3), i32(4, 5)),
        ),
        ("Cumsum", [i32(1, 2, 3), np.int32(0)], {"exclusive": True, "reverse": True}, i32(5, 3, 0)),
        ("Erf", [np.float32([0.0, 0.5, -2.0])], {}, np.float32([0.0, math.erf(0.5), math.erf(-2.0)])),
        ("Erfc", [np.float32([0.5])], {}, np.float32([math.erfc(0.5)])),
        ("Relu6", [np.float32([-1, 3, 9])], {}, np.float32([0, 3, 6])),
        ("LeakyRelu", [np.float32([-1, 3])], {"alpha": 0.1}, np.float32([-0.1, 3])),
        ("Softsign", [np.float32([-1, 3])], {}, np.float32([-0.5, 0.75])),
        ("SelectV2", [np.array([True, False]), i32(1, 2), i32(3, 4)], {}, i32(1, 4)),
        (
            "OneHot",
            [i32(0, 2), np.int32(3), np.float32(1), np.float32(0)],
            {},
            np.float32([[1, 0, 0], [0, 0, 1]]),
        ),
    ],
)
def test_kernel_cases(op: str, inputs: list, attrs: dict, expected: Any) -> None:
    got = run(op, inputs, **attrs)
    expected_tuple = expected if isinstance(expected, tuple) else (expected,)
    assert len(got) == len(expected_tuple)
    for g, e in zip(got, expected_tuple):
        e = np.asarray(e)
        assert g.dtype == e.dtype, (op, g.dtype, e.dtype)
        np.testing.assert_allclose(g, e, rtol=1e-6)


@pytest.mark.parametrize(
    ("op", "inputs"),
    [
        ("FloorDiv", [i32(1), i32(0)]),
        ("GatherV2", [i32(1, 2), i32(5), np.int32(0)]),
        ("StridedSlice", [i32(1, 2), i32(4), i32(5), i32(1)]),
        ("Squeeze", [np.zeros((2, 1), np.float32)]),
    ],
)
def test_kernels_decline_what_tf_rejects(op: str, inputs: list) -> None:
    attrs = {"shrink_axis_mask": 1} if op == "StridedSlice" else {"squeeze_dims": [0]}
    with pytest.raises(NotComputable):
        run(op, inputs, **attrs)


def test_registry_refuses_duplicates() -> None:
    with pytest.raises(RuntimeError, match="registered twice"):
        kernel("AddV2")(lambda inputs, attrs: (inputs[0],))


def test_evaluate_is_the_one_entry_and_declines_with_not_computable() -> None:
    from tfjsconv.ops.kernels import evaluate

    (out,) = evaluate("RealDiv", [np.float32([1, -1, 0]), np.float32(0)], {})  # no warning: inf like TF
    assert out.dtype == np.float32 and out[:2].tolist() == [math.inf, -math.inf] and math.isnan(out[2])
    (rank,) = evaluate("Rank", [X], {})
    assert isinstance(rank, np.ndarray) and rank.tolist() == 3
    with pytest.raises(NotComputable, match="no kernel for Lgamma"):
        evaluate("Lgamma", [X], {})
    # A type numpy lacks is a "cannot evaluate", not a crash (the ONNX reader folds such Casts eagerly).
    with pytest.raises(NotComputable, match="DT_BFLOAT16 has no numpy equivalent"):
        evaluate("Cast", [X], {"SrcT": DType.FLOAT, "DstT": DType.BFLOAT16})
