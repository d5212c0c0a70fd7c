"""simplify_arithmetic: neutral constants go, constant Mul/Add chains compose (tiny graphs, numpy oracle)."""

from __future__ import annotations

import numpy as np
import pytest
from ir.graph_factory import const, op, output, placeholder
from passes.equivalence import check_pass

from tfjsconv.ir.graph import Graph
from tfjsconv.ir.types import DType
from tfjsconv.passes.simplify_arithmetic import SimplifyArithmetic

F, INT = DType.FLOAT, DType.INT32
T = {"T": F}


def _x(g: Graph, shape: list = [None, 3], dtype: DType = F):  # noqa: B006  (read only)
    return placeholder(g, "x", dtype, shape)


@pytest.mark.parametrize("op_type, c, swap", [
    ("Mul", 1.0, False), ("Mul", 1.0, True), ("Add", 0.0, False), ("AddV2", 0.0, True),
    ("Sub", 0.0, False), ("RealDiv", 1.0, False), ("Mul", [1.0, 1.0, 1.0], False),
    ("BiasAdd", [0.0] * 3, False),
])
def test_neutral_constant_goes(op_type: str, c: object, swap: bool) -> None:
    def build(g: Graph) -> None:
        x = _x(g)
        k = const(g, np.asarray(c, np.float32), "c")
        y = op(g, op_type, [k, x] if swap else [x, k], T, name="neutral")
        output(g, "y", op(g, "Relu", [y], T, name="relu"))

    check_pass(build, SimplifyArithmetic(), {"Relu": 1})


@pytest.mark.parametrize("c, shape", [
    (np.ones((1, 3), np.float32), [3]),  # would add an axis to a rank-1 x
    (np.ones((2, 3), np.float32), [None, 3]),  # would broadcast an unknown batch to 2
    (np.float32(2.0), [None, 3]),  # not neutral
])
def test_shape_changing_or_real_constant_stays(c: np.ndarray, shape: list) -> None:
    def build(g: Graph) -> None:
        y = op(g, "Mul", [_x(g, shape), const(g, c, "c")], T, name="mul")
        output(g, "y", op(g, "Relu", [y], T, name="relu"))

    check_pass(build, SimplifyArithmetic(), {"Mul": 1, "Relu": 1}, changed=False)


def test_constant_chain_composes_to_mul_then_add() -> None:
    """Keras Rescaling + Normalization: ((x * a + b) - mean) / std -> x * s + o."""
    def build(g: Graph) -> None:
        y = op(g, "Mul", [_x(g), const(g, np.float32(1 / 255), "a")], T, name="rescale")
        y = op(g, "AddV2", [y, const(g, np.float32(-0.5), "b")], T, name="offset")
        y = op(g, "Sub", [y, const(g, np.array([0.1, 0.2, 0.3], np.float32), "mean")], T, name="sub")
        y = op(g, "RealDiv", [y, const(g, np.array([0.5, 0.6, 0.7], np.float32), "std")], T, name="div")
        output(g, "y", op(g, "Relu", [y], T, name="relu"))

    g = check_pass(build, SimplifyArithmetic(), {"Mul": 1, "AddV2": 1, "Relu": 1})
    add_node = g.node("relu").inputs[0].producer
    assert add_node.op == "AddV2" and add_node.name == "div"  # the chain's last name survives


def test_integer_chain_composes_exactly() -> None:
    def build(g: Graph) -> None:
        y = op(g, "AddV2", [_x(g, [4], INT), const(g, np.int32(3), "a")], {"T": INT}, name="a", dtype=INT)
        y = op(g, "Mul", [y, const(g, np.int32(-2), "b")], {"T": INT}, name="b", dtype=INT)
        output(g, "y", op(g, "Mul", [y, const(g, np.int32(5), "c")], {"T": INT}, name="c", dtype=INT))

    check_pass(build, SimplifyArithmetic(), {"Mul": 1, "AddV2": 1}, rtol=0, atol=0)


def test_bias_is_not_grown_into_a_matrix() -> None:
    """(MatMul + bias[3]) * c[4, 1]: distributing would turn the bias into a [4, 3] add."""
    def build(g: Graph) -> None:
        m = op(g, "MatMul", [_x(g, [4, 2]), const(g, np.ones((2, 3), np.float32), "w")],
               {"T": F, "transpose_a": False, "transpose_b": False}, name="mm")
        bias = const(g, np.arange(3, dtype=np.float32), "b")
        y = op(g, "BiasAdd", [m, bias], {**T, "data_format": b"NHWC"}, name="bias")
        output(g, "y", op(g, "Mul", [y, const(g, np.arange(4, dtype=np.float32).reshape(4, 1), "c")], T,
                          name="mul"))

    check_pass(build, SimplifyArithmetic(), {"MatMul": 1, "BiasAdd": 1, "Mul": 1}, changed=False)


def test_shared_intermediate_is_not_composed() -> None:
    def build(g: Graph) -> None:
        y = op(g, "Mul", [_x(g), const(g, np.float32(2), "a")], T, name="a")
        output(g, "y", op(g, "Mul", [y, const(g, np.float32(3), "b")], T, name="b"))
        output(g, "z", y)

    check_pass(build, SimplifyArithmetic(), {"Mul": 2}, changed=False)


def test_private_copy_before_scatter_stays() -> None:
    """rewrite_tfjs_gaps' ``x * 1`` shields a tensor from TF.js's in-place TensorScatterUpdate."""
    def build(g: Graph) -> None:
        x = _x(g, [4, 3])
        copy = op(g, "Mul", [x, const(g, np.float32(1), "one")], T, name="copy")
        idx = const(g, np.array([[0, 1]], np.int32), "idx")
        upd = op(g, "TensorScatterUpdate", [copy, idx, const(g, np.array([9.0], np.float32), "v")],
                 {"T": F, "Tindices": INT}, name="scatter")
        output(g, "y", op(g, "AddV2", [upd, x], T, name="sum"))

    check_pass(build, SimplifyArithmetic(), {"Mul": 1, "TensorScatterUpdate": 1, "AddV2": 1}, changed=False)
