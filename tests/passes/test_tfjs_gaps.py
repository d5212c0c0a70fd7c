"""rewrite_tfjs_gaps: the structure TF.js gets and numbers equal to TensorFlow's
semantics (the numpy oracle), plus clear refusals where no exact rewrite exists."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pytest
from ir.graph_factory import const, op, output, placeholder

from tfjsconv.errors import UnsupportedError
from tfjsconv.ir.graph import Graph
from tfjsconv.ir.interpret import interpret
from tfjsconv.ir.types import DType, Shape
from tfjsconv.ir.verify import verify
from tfjsconv.passes.base import PassContext
from tfjsconv.passes.rewrite_tfjs_gaps import RewriteTfjsGaps, band_mask

F = DType.FLOAT
RNG = np.random.default_rng(5)


def test_bias_add_nchw_adds_per_channel() -> None:
    g = Graph()
    x = placeholder(g, "x", F, [1, 3, 2, 2])
    bias = const(g, np.array([1.0, -2.0, 10.0], np.float32), "bias")
    y = op(g, "BiasAdd", [x, bias], {"T": F, "data_format": b"NCHW"}, name="bias_add")
    y.shape = Shape.of((1, 3, 2, 2))
    output(g, "y", y)
    feeds = {"x": RNG.standard_normal((1, 3, 2, 2)).astype(np.float32)}
    assert RewriteTfjsGaps().run(g, PassContext())
    verify(g)
    assert "BiasAdd" not in g.op_histogram()
    want = feeds["x"] + np.array([1.0, -2.0, 10.0], np.float32).reshape(3, 1, 1)
    np.testing.assert_array_equal(interpret(g, feeds)["y"], want)


def test_bias_add_nchw_of_unknown_rank_is_refused() -> None:
    g = Graph()
    x = placeholder(g, "x", F, None)
    y = op(g, "BiasAdd", [x, const(g, np.ones(3, np.float32), "b")], {"T": F, "data_format": b"NCHW"})
    output(g, "y", y)
    with pytest.raises(UnsupportedError, match="NCHW"):
        RewriteTfjsGaps().run(g, PassContext())


def _band_graph(lower: int, upper: int, shape: Optional[list[Optional[int]]]) -> Graph:
    g = Graph()
    x = placeholder(g, "x", F, shape)
    lo = const(g, np.array(lower, np.int64), "lo", DType.INT64)
    hi = const(g, np.array(upper, np.int64), "hi", DType.INT64)
    output(g, "y", op(g, "MatrixBandPart", [x, lo, hi], {"T": F, "Tindex": DType.INT64}, name="band"))
    return g


@pytest.mark.parametrize("lower, upper", [(1, 2), (-1, 0), (0, -1), (2, 0)])
def test_band_part_with_different_bounds_becomes_a_mask(lower: int, upper: int) -> None:
    g = _band_graph(lower, upper, [2, 4, 6])
    feeds = {"x": RNG.standard_normal((2, 4, 6)).astype(np.float32)}
    want = interpret(g, feeds)["y"]
    # TensorFlow's documented band: in_band(m, n) = (lower < 0 || m-n <= lower) && (upper < 0 || n-m <= upper)
    np.testing.assert_array_equal(want, feeds["x"] * band_mask(4, 6, lower, upper))
    assert RewriteTfjsGaps().run(g, PassContext())
    verify(g)
    assert g.op_histogram().get("SelectV2") == 1 and "MatrixBandPart" not in g.op_histogram()
    np.testing.assert_array_equal(interpret(g, feeds)["y"], want)


def test_band_part_with_equal_bounds_is_kept() -> None:
    g = _band_graph(1, 1, [4, 6])
    assert not RewriteTfjsGaps().run(g, PassContext())


def test_band_part_with_dynamic_dims_is_refused() -> None:
    g = _band_graph(0, 2, [None, None])
    with pytest.raises(UnsupportedError, match="MatrixBandPart"):
        RewriteTfjsGaps().run(g, PassContext())


def test_space_to_depth_becomes_reshape_transpose_reshape() -> None:
    from tfjsconv.passes.rewrite_equivalents import RewriteEquivalents

    g = Graph()
    x = placeholder(g, "x", F, [None, 4, 6, 3])
    y = op(g, "SpaceToDepth", [x], {"T": F, "block_size": 2, "data_format": b"NHWC"}, name="s2d")
    output(g, "y", y)
    assert RewriteEquivalents().run(g, PassContext())
    verify(g)
    assert g.op_histogram() == {"Placeholder": 1, "Const": 3, "Reshape": 2, "Transpose": 1}
    feeds = {"x": RNG.standard_normal((2, 4, 6, 3)).astype(np.float32)}
    # TensorFlow's definition: out[n, i, j, (bi * b + bj) * C + c] = in[n, i * b + bi, j * b + bj, c]
    want = np.zeros((2, 2, 3, 12), np.float32)
    for bi in range(2):
        for bj in range(2):
            for c in range(3):
                want[:, :, :, (bi * 2 + bj) * 3 + c] = feeds["x"][:, bi::2, bj::2, c]
    np.testing.assert_array_equal(interpret(g, feeds)["y"], want)


def test_reverse_of_bool_goes_through_int32() -> None:
    g = Graph()
    mask = placeholder(g, "mask", DType.BOOL, [2, 3])
    axis = const(g, np.array([1], np.int32), "axis", DType.INT32)
    output(g, "y", op(g, "ReverseV2", [mask, axis], {"T": DType.BOOL, "Tidx": DType.INT32}, name="rev",
                      dtype=DType.BOOL))
    feeds = {"mask": np.array([[True, False, False], [False, True, True]])}
    assert RewriteTfjsGaps().run(g, PassContext())
    verify(g)
    assert g.op_histogram() == {"Placeholder": 1, "Const": 1, "Cast": 2, "ReverseV2": 1}
    assert g.find("ReverseV2")[0].attrs["T"] == DType.INT32
    got = interpret(g, feeds)["y"]
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, feeds["mask"][:, ::-1])
    assert not RewriteTfjsGaps().run(g, PassContext())  # the int32 reverse is left alone


def test_float_one_hot_becomes_select_of_int_one_hot() -> None:
    g = Graph()
    ids = placeholder(g, "ids", DType.INT32, [3])
    depth = const(g, np.array(4, np.int32), "depth", DType.INT32)
    on = const(g, np.array(2.5, np.float32), "on")
    off = const(g, np.array(-1.0, np.float32), "off")
    attrs = {"T": F, "TI": DType.INT32, "axis": -1}
    output(g, "y", op(g, "OneHot", [ids, depth, on, off], attrs, name="hot"))
    feeds = {"ids": np.array([3, 0, 7], np.int32)}  # 7 is out of range: a row of off values
    want = interpret(g, feeds)["y"]
    hot = np.eye(4, dtype=bool)[[3, 0, 0]] & (feeds["ids"] < 4)[:, None]
    np.testing.assert_array_equal(want, np.where(hot, np.float32(2.5), np.float32(-1.0)))
    assert RewriteTfjsGaps().run(g, PassContext())
    verify(g)
    hot = g.find("OneHot")[0]
    assert hot.attrs["T"] == DType.INT32 and g.op_histogram()["SelectV2"] == 1
    got = interpret(g, feeds)["y"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    assert not RewriteTfjsGaps().run(g, PassContext())


def _brute_max_pool_3d(x: np.ndarray, k: list[int], s: list[int], same: bool) -> np.ndarray:
    """TF's MaxPool3D, one window at a time: SAME pads (total // 2 before) and padding never wins."""
    outs, befores = [], []
    for size, kk, ss in zip(x.shape[1:4], k, s):
        out = -(-size // ss) if same else (size - kk) // ss + 1
        outs.append(out)
        befores.append(max((out - 1) * ss + kk - size, 0) // 2 if same else 0)
    result = np.empty((x.shape[0], *outs, x.shape[4]), x.dtype)
    for i in range(outs[0]):
        for j in range(outs[1]):
            for m in range(outs[2]):
                lo = [max(o * ss - b, 0) for o, ss, b in zip((i, j, m), s, befores)]
                hi = [o * ss - b + kk for o, ss, b, kk in zip((i, j, m), s, befores, k)]
                window = x[:, lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2], :]
                result[:, i, j, m, :] = window.max(axis=(1, 2, 3))
    return result


@pytest.mark.parametrize("padding, ksize, strides", [
    ("VALID", [1, 2, 2, 2, 1], [1, 2, 2, 2, 1]),
    ("SAME", [1, 2, 3, 2, 1], [1, 1, 2, 2, 1]),
    ("VALID", [1, 3, 1, 2, 1], [1, 1, 1, 2, 1]),
])
def test_max_pool_3d_becomes_two_2d_pools(padding: str, ksize: list[int], strides: list[int]) -> None:
    g = Graph()
    x = placeholder(g, "x", F, [None, 4, 5, 6, 3])
    attrs = {"T": F, "ksize": ksize, "strides": strides, "padding": padding.encode(), "data_format": b"NDHWC"}
    output(g, "y", op(g, "MaxPool3D", [x], attrs, name="pool"))
    # All-negative input: the TF.js wasm bug (windows start at FLT_MIN) would show as 1.18e-38.
    feeds = {"x": -np.abs(RNG.standard_normal((2, 4, 5, 6, 3))).astype(np.float32) - 0.5}
    want = _brute_max_pool_3d(feeds["x"], ksize[1:4], strides[1:4], padding == "SAME")
    np.testing.assert_array_equal(interpret(g, feeds)["y"], want)
    assert want.max() < 0
    assert RewriteTfjsGaps().run(g, PassContext())
    verify(g)
    assert g.op_histogram()["MaxPool"] == 2 and "MaxPool3D" not in g.op_histogram()
    np.testing.assert_array_equal(interpret(g, feeds)["y"], want)


def test_unsorted_segment_sum_becomes_scatter_nd() -> None:
    from tfjsconv.passes.rewrite_equivalents import RewriteEquivalents

    g = Graph()
    data = placeholder(g, "data", F, [None, 3])
    ids = placeholder(g, "ids", DType.INT32, [None])
    num = const(g, np.array(4, np.int32), "num", DType.INT32)
    output(g, "y", op(g, "UnsortedSegmentSum", [data, ids, num],
                      {"T": F, "Tindices": DType.INT32, "Tnumsegments": DType.INT32}, name="seg"))
    feeds = {"data": RNG.standard_normal((5, 3)).astype(np.float32),
             "ids": np.array([2, -1, 0, 2, 3], np.int32)}
    want = np.zeros((4, 3), np.float32)
    for row, segment in zip(feeds["data"], feeds["ids"]):
        if segment >= 0:
            want[segment] += row
    np.testing.assert_allclose(interpret(g, feeds)["y"], want, rtol=1e-6)
    assert RewriteEquivalents().run(g, PassContext())
    verify(g)
    hist = g.op_histogram()
    assert "UnsortedSegmentSum" not in hist and hist["ScatterNd"] == 1 and hist["Slice"] == 1
    np.testing.assert_allclose(interpret(g, feeds)["y"], want, rtol=1e-6)


def _rewritten(g: Graph, pass_type: type) -> Graph:
    assert pass_type().run(g, PassContext())
    verify(g)
    return g


def test_roll_matrix_diag_and_truncate_mod_use_ops_tfjs_has() -> None:
    from tfjsconv.passes.rewrite_equivalents import RewriteEquivalents

    g = Graph()
    v = placeholder(g, "v", F, [4, 6])
    shift = const(g, np.array([2, -1], np.int32), "shift", DType.INT32)
    axes = const(g, np.array([1, 0], np.int32), "axes", DType.INT32)
    output(g, "roll", op(g, "Roll", [v, shift, axes], {"T": F, "Tshift": DType.INT32, "Taxis": DType.INT32}))
    row = placeholder(g, "row", F, [6])
    i32 = DType.INT32
    diag_inputs = [row, const(g, np.array(0, np.int32), "k", i32), const(g, np.array(-1, np.int32), "r", i32),
                   const(g, np.array(-1, np.int32), "c", i32), const(g, np.array(0.5, np.float32), "pad")]
    output(g, "diag", op(g, "MatrixDiagV3", diag_inputs, {"T": F, "align": b"RIGHT_LEFT"}))
    output(g, "tmod", op(g, "TruncateMod", [v, const(g, np.array(0.7, np.float32), "y")], {"T": F}))
    _rewritten(g, RewriteEquivalents)
    assert not {"Roll", "MatrixDiagV3", "TruncateMod"} & set(g.op_histogram())
    x = RNG.standard_normal((4, 6)).astype(np.float32) * 3
    got = interpret(g, {"v": x, "row": x[0]})
    np.testing.assert_array_equal(got["roll"], np.roll(x, shift=(2, -1), axis=(1, 0)))
    eye = np.eye(6, dtype=bool)
    np.testing.assert_array_equal(got["diag"], np.where(eye, x[0][:, None], np.float32(0.5)))
    np.testing.assert_array_equal(got["tmod"], np.fmod(x, np.float32(0.7)))


def test_tensor_scatter_update_of_a_shared_tensor_gets_a_private_copy() -> None:
    g = Graph()
    v = placeholder(g, "v", F, [4, 6])
    idx = const(g, np.array([[0, 1]], np.int32), "idx", DType.INT32)
    upd = const(g, np.array([9.0], np.float32), "upd")
    scattered = op(g, "TensorScatterUpdate", [v, idx, upd], {"T": F, "Tindices": DType.INT32}, name="tsu")
    output(g, "y", op(g, "AddV2", [scattered, v], {"T": F}))
    _rewritten(g, RewriteTfjsGaps)
    target = g.node("tsu").inputs[0].producer
    assert target.op == "Mul" and target.inputs[0].producer.name == "v"
    assert not RewriteTfjsGaps().run(g, PassContext())  # the copy is private: nothing more to do


def test_batched_gather_becomes_a_flat_gather() -> None:
    g = Graph()
    v = placeholder(g, "v", F, [4, 6, 2])
    ids = placeholder(g, "ids", DType.INT32, [4, 3])
    axis = const(g, np.array(1, np.int32), "axis", DType.INT32)
    output(g, "y", op(g, "GatherV2", [v, ids, axis],
                      {"Tparams": F, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 1}))
    _rewritten(g, RewriteTfjsGaps)
    gathers = g.find("GatherV2")
    assert len(gathers) == 1 and gathers[0].attrs["batch_dims"] == 0
    x = RNG.standard_normal((4, 6, 2)).astype(np.float32)
    i = np.array([[0, 5, 5], [1, 1, 0], [2, 0, 3], [3, 4, 1]], np.int32)
    want = np.stack([x[b][i[b]] for b in range(4)])
    np.testing.assert_array_equal(interpret(g, {"v": x, "ids": i})["y"], want)
