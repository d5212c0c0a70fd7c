"""compose_contractions: two constant matrix products in a row (a bias between them allowed) become one."""

from __future__ import annotations

import numpy as np
from ir.graph_factory import const, op, output, placeholder
from passes.equivalence import check_pass

from tfjsconv.ir.graph import Graph, Value
from tfjsconv.ir.types import DType
from tfjsconv.options import ConvertOptions
from tfjsconv.passes.base import PassContext
from tfjsconv.passes.compose_contractions import ComposeContractions
from tfjsconv.passes.pipeline import optimize

F = DType.FLOAT
MM = {"T": F, "transpose_a": False, "transpose_b": False}
BMM = {"T": F, "adj_x": False, "adj_y": False}


def _r(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + sum(shape)).standard_normal(shape).astype(np.float32)


def _dense(g: Graph, x: Value, rows: int, cols: int, name: str, seed: int, *, bias: bool,
           transpose: bool = False) -> Value:
    kernel = _r(cols, rows, seed=seed).copy() if transpose else _r(rows, cols, seed=seed)
    y = op(g, "MatMul", [x, const(g, kernel, f"{name}/w")], {**MM, "transpose_b": transpose}, name=name)
    if bias:
        b = const(g, _r(cols, seed=seed + 1), f"{name}/b")
        y = op(g, "BiasAdd", [y, b], {"T": F, "data_format": b"NHWC"}, name=f"{name}/bias")
    return y


def two_dense(g: Graph) -> None:
    """Dense(6) -> Dense(4), both with bias, the second kernel stored transposed."""
    x = placeholder(g, "x", F, [None, 6])
    y = _dense(g, x, 6, 6, "d1", 1, bias=True)
    output(g, "y", _dense(g, y, 6, 4, "d2", 2, bias=True, transpose=True))


def heads_then_merge(g: Graph) -> None:
    """EinsumDense splitting heads then merging them, as batched products over a sequence, Add bias."""
    x = placeholder(g, "x", F, [None, 5, 6])
    y = op(g, "BatchMatMulV2", [x, const(g, _r(6, 6, seed=3), "heads/w")], BMM, name="heads")
    y = op(g, "AddV2", [const(g, _r(6, seed=4), "heads/b"), y], {"T": F}, name="heads/add")
    y = op(g, "BatchMatMulV2", [y, const(g, _r(6, 4, seed=5), "merge/w")], BMM, name="merge")
    output(g, "y", op(g, "AddV2", [y, const(g, _r(4, seed=6), "merge/b")], {"T": F}, name="merge/add"))


def no_bias(g: Graph) -> None:
    x = placeholder(g, "x", F, [None, 3])
    y = _dense(g, x, 3, 4, "d1", 7, bias=False)
    output(g, "y", _dense(g, y, 4, 2, "d2", 8, bias=False))


def test_two_dense_with_biases() -> None:
    after = check_pass(two_dense, ComposeContractions(), {"MatMul": 1, "BiasAdd": 2}, rtol=1e-5, atol=1e-5)
    kernels = [n for n in after if n.op == "Const" and n.outputs[0].shape is not None]
    assert any(n.attrs["value"].shape == (6, 4) for n in kernels)


def test_batched_heads_then_merge() -> None:
    check_pass(heads_then_merge, ComposeContractions(), {"BatchMatMulV2": 1, "BiasAdd": 1, "AddV2": 1},
               rtol=1e-5, atol=1e-5)


def test_no_bias_keeps_the_output_name() -> None:
    after = check_pass(no_bias, ComposeContractions(), {"MatMul": 1}, rtol=1e-5, atol=1e-5)
    assert after.outputs[0][1].producer.name == "d2"


def test_pipeline_leaves_one_fused_product() -> None:
    g = Graph()
    two_dense(g)
    optimize(g, ConvertOptions())
    ops = {k: v for k, v in g.op_histogram().items() if k not in ("Const", "Placeholder")}
    assert ops == {"_FusedMatMul": 1}


def low_rank(g: Graph) -> None:
    """[8, 2] @ [2, 8]: composing makes 64 numbers out of 32 - left alone."""
    x = placeholder(g, "x", F, [None, 8])
    y = _dense(g, x, 8, 2, "down", 9, bias=False)
    output(g, "y", _dense(g, y, 2, 8, "up", 10, bias=False))


def shared_middle(g: Graph) -> None:
    """The value between the products is read elsewhere too: composing would duplicate work."""
    x = placeholder(g, "x", F, [None, 4])
    y = _dense(g, x, 4, 4, "d1", 11, bias=False)
    output(g, "y", _dense(g, y, 4, 3, "d2", 12, bias=False))
    output(g, "mid", op(g, "Relu", [y], {"T": F}, name="relu"))


def nonlinear_between(g: Graph) -> None:
    x = placeholder(g, "x", F, [None, 4])
    y = op(g, "Relu", [_dense(g, x, 4, 4, "d1", 13, bias=True)], {"T": F}, name="relu")
    output(g, "y", _dense(g, y, 4, 3, "d2", 14, bias=False))


def test_left_alone() -> None:
    for build in (low_rank, shared_middle, nonlinear_between):
        g = Graph()
        build(g)
        assert ComposeContractions().run(g, PassContext()) is False, build.__name__
