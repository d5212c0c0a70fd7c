"""Numpy kernels for index-driven ops (ops/kernels/indexing.py), against values worked out by hand
from TF's documented semantics, and their use by constant folding."""

from __future__ import annotations

import numpy as np
import pytest
from ir.graph_factory import const, op, output
from passes.equivalence import check_pass

from tfjsconv.ir.graph import Graph
from tfjsconv.ir.types import DType
from tfjsconv.ops.kernels import NotComputable, get_kernel
from tfjsconv.passes.fold_constants import FoldConstants


def run(op_name: str, *inputs: object, **attrs: object) -> np.ndarray:
    fn = get_kernel(op_name)
    assert fn is not None, op_name
    (out,) = fn([np.asarray(i) for i in inputs], dict(attrs))
    return out


def test_xla_dynamic_update_slice_clamps_start() -> None:
    base = np.zeros((3, 4), np.float32)
    got = run("XlaDynamicUpdateSlice", base, np.ones((2, 2), np.float32), np.array([2, 3], np.int32))
    # Starts clamp to (1, 2) so the 2x2 update fits.
    assert got.tolist() == [[0, 0, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]
    assert base.sum() == 0  # the input is not modified


def test_xla_dynamic_slice() -> None:
    x = np.arange(12).reshape(3, 4)
    assert run("XlaDynamicSlice", x, np.array([-1, 1]), np.array([2, 2])).tolist() == [[1, 2], [5, 6]]
    with pytest.raises(NotComputable):
        run("XlaDynamicSlice", x, np.array([0, 0]), np.array([4, 1]))


def test_tensor_scatters() -> None:
    t = np.array([1, 2, 3, 4], np.float32)
    idx = np.array([[1], [3], [1]], np.int32)
    upd = np.array([10, 20, 30], np.float32)
    assert run("TensorScatterUpdate", t, idx, upd).tolist() == [1, 30, 3, 20]
    assert run("TensorScatterAdd", t, idx, upd).tolist() == [1, 42, 3, 24]
    assert run("TensorScatterSub", t, idx, upd).tolist() == [1, -38, 3, -16]
    assert run("TensorScatterMax", t, idx, upd).tolist() == [1, 30, 3, 20]
    assert run("TensorScatterMin", t, idx, upd).tolist() == [1, 2, 3, 4]
    rows = run("TensorScatterUpdate", np.zeros((2, 3)), np.array([[1]]), np.array([[7, 8, 9]]))
    assert rows.tolist() == [[0, 0, 0], [7, 8, 9]]
    with pytest.raises(NotComputable):
        run("TensorScatterUpdate", t, np.array([[4]]), np.array([1.0]))


def test_gather_nd_roll_linspace_truncation() -> None:
    p = np.arange(6).reshape(2, 3)
    assert run("GatherNd", p, np.array([[1, 2], [0, 0]])).tolist() == [5, 0]
    assert run("GatherNd", p, np.array([[1]])).tolist() == [[3, 4, 5]]
    m = np.arange(6).reshape(2, 3)
    assert run("Roll", m, np.array([1, -1]), np.array([1, 0])).tolist() == [[5, 3, 4], [2, 0, 1]]
    assert run("LinSpace", np.float32(0), np.float32(1), np.int32(5)).tolist() == [0, 0.25, 0.5, 0.75, 1]
    a, b = np.array([7, -7, 7, -7, 6], np.int32), np.array([2, 2, -2, -2, 3], np.int32)
    assert run("TruncateDiv", a, b).tolist() == [3, -3, -3, 3, 2]
    assert run("TruncateMod", a, b).tolist() == [1, -1, 1, -1, 0]
    assert run("TruncateMod", np.float32(-7.5), np.float32(2)).item() == -1.5


def test_constant_mask_subgraph_folds_to_one_const() -> None:
    """Swin's shifted-window mask: slice updates of a constant image, then a comparison (issue 9)."""
    def build(g: Graph) -> None:
        image = const(g, np.zeros((1, 4, 4, 1), np.float32), "img")
        region = 0.0
        for h in (0, 2):
            for w in (0, 2):
                start = const(g, np.array([0, h, w, 0], np.int32), f"start_{h}{w}")
                patch = const(g, np.full((1, 2, 2, 1), region, np.float32), f"patch_{h}{w}")
                image = op(g, "XlaDynamicUpdateSlice", [image, patch, start],
                           {"T": DType.FLOAT, "Tindices": DType.INT32}, name=f"update_{h}{w}")
                region += 1.0
        flat = op(g, "Reshape", [image, const(g, np.array([16, 1], np.int32), "s")], {"T": DType.FLOAT},
                  name="flat")
        row = op(g, "Reshape", [image, const(g, np.array([1, 16], np.int32), "s2")], {"T": DType.FLOAT},
                 name="row")
        differs = op(g, "NotEqual", [flat, row], {"T": DType.FLOAT}, name="differs", dtype=DType.BOOL)
        neg, zero = const(g, np.float32(-100), "neg"), const(g, np.float32(0), "zero")
        mask = op(g, "SelectV2", [differs, neg, zero], {"T": DType.FLOAT}, name="mask")
        output(g, "mask", mask)

    g = check_pass(build, FoldConstants(), {}, rtol=0, atol=0)
    mask = g.node("mask").attrs["value"]
    assert mask.shape == (16, 16) and set(np.unique(mask).tolist()) == {-100.0, 0.0}
    assert (mask == 0).sum() == 4 * 16  # each of the 4 regions has 4 pixels: 4 * 4 * 4 equal pairs
