"""rewrite_erfc, rewrite_equivalents, fold_constants, eliminate_common_subexpressions."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from ir.graph_factory import const, op, output, placeholder

from tfjsconv.ir.graph import Graph
from tfjsconv.ir.interpret import interpret
from tfjsconv.ir.types import DType
from tfjsconv.ir.verify import verify
from tfjsconv.options import ConvertOptions
from tfjsconv.passes.base import PassContext
from tfjsconv.passes.eliminate_common_subexpressions import EliminateCommonSubexpressions
from tfjsconv.passes.eliminate_dead_code import EliminateDeadCode
from tfjsconv.passes.fold_constants import FoldConstants
from tfjsconv.passes.pipeline import optimize
from tfjsconv.passes.rewrite_equivalents import RewriteEquivalents
from tfjsconv.passes.rewrite_erfc import RewriteErfc
from tfjsconv.writers.graph_model import write_graph_model

F = DType.FLOAT
T = {"T": F}
I32 = DType.INT32


def _gelu_graph() -> Graph:
    """Exact GELU as TF writes it: 0.5 * x * erfc(-x / sqrt(2))."""
    g = Graph()
    x = placeholder(g, "x", F, [None, 4])
    neg = op(g, "Mul", [x, const(g, np.float32(-1 / math.sqrt(2)), "scale")], T, name="neg_scaled")
    erfc = op(g, "Erfc", [neg], T, name="erfc")
    half_x = op(g, "Mul", [x, const(g, np.float32(0.5), "half")], T, name="half_x")
    output(g, "y", op(g, "Mul", [half_x, erfc], T, name="gelu"))
    return g


def test_erfc_rewrite_keeps_numbers_and_runs_in_tfjs(tmp_path: Path, tfjs: Any) -> None:
    g = _gelu_graph()
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    before = interpret(g, {"x": x})["y"]
    assert RewriteErfc().run(g, PassContext())
    verify(g)
    assert g.op_histogram() == {"Const": 3, "Erf": 1, "Mul": 3, "Placeholder": 1, "Sub": 1}
    assert g.node("erfc").op == "Sub"  # the replacement keeps the name
    np.testing.assert_allclose(interpret(g, {"x": x})["y"], before, rtol=1e-6, atol=1e-7)
    reference = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.reshape(-1)]).reshape(3, 4)
    np.testing.assert_allclose(before, reference, rtol=1e-5, atol=1e-6)
    out = tmp_path / "gelu"
    out.mkdir()
    write_graph_model(g, out, ConvertOptions())
    (got,) = tfjs.run(out, "graph", [("x", x)])
    np.testing.assert_allclose(got, reference, rtol=1e-4, atol=1e-4)


def test_equivalent_rewrites() -> None:
    g = Graph()
    x = placeholder(g, "x", F, [2, 2])
    s = op(g, "Softsign", [x], T, name="softsign")
    inv = op(g, "Inv", [s], T, name="inv")
    mm = op(
        g, "BatchMatMulV3", [inv, x], {"Ta": F, "Tb": F, "Tout": F, "adj_x": False, "adj_y": True}, name="bmm"
    )
    mixed = op(g, "BatchMatMulV3", [mm, x], {"Ta": F, "Tb": DType.HALF, "Tout": F}, name="mixed")
    output(g, "y", mm)
    output(g, "z", mixed)
    xv = np.array([[1, -2], [0.5, 3]], np.float32)
    before = interpret(g, {"x": xv})["y"]
    assert RewriteEquivalents().run(g, PassContext())
    verify(g)
    assert g.node("inv").op == "Reciprocal" and g.node("bmm").op == "BatchMatMulV2"
    assert g.node("bmm").attrs == {"T": F, "adj_x": False, "adj_y": True}
    assert g.node("mixed").op == "BatchMatMulV3"
    assert g.node("softsign").op == "RealDiv"
    np.testing.assert_allclose(interpret(g, {"x": xv})["y"], before, rtol=1e-6)


def _shape_graph() -> Graph:
    """reshape(x, [shape(c)[0] * 2, -1]) with c a Const: the shape arithmetic folds away."""
    g = Graph()
    x = placeholder(g, "x", F, [None, 6])
    c = const(g, np.zeros((3, 2), np.float32), "c")
    shape = op(g, "Shape", [c], {"T": F, "out_type": I32}, name="shape", dtype=I32)
    dim0 = op(
        g,
        "StridedSlice",
        [
            shape,
            const(g, np.array([0], np.int32), "b"),
            const(g, np.array([1], np.int32), "e"),
            const(g, np.array([1], np.int32), "s"),
        ],
        {"T": I32, "Index": I32, "shrink_axis_mask": 1},
        name="dim0",
        dtype=I32,
    )
    doubled = op(
        g, "Mul", [dim0, const(g, np.array(2, np.int32), "two")], {"T": I32}, name="doubled", dtype=I32
    )
    target = op(
        g,
        "Pack",
        [doubled, const(g, np.array(-1, np.int32), "minus_one")],
        {"T": I32, "N": 2, "axis": 0},
        name="target",
        dtype=I32,
    )
    output(g, "y", op(g, "Reshape", [x, target], {"T": F, "Tshape": I32}, name="reshape"))
    return g


def test_fold_constants_collapses_shape_arithmetic() -> None:
    g = _shape_graph()
    xv = np.arange(36, dtype=np.float32).reshape(6, 6)
    before = interpret(g, {"x": xv})["y"]
    ctx = PassContext()
    assert FoldConstants().run(g, ctx)
    EliminateDeadCode().run(g, ctx)
    verify(g)
    assert g.op_histogram() == {"Const": 1, "Placeholder": 1, "Reshape": 1}
    folded = g.node("target")
    assert folded.op == "Const" and folded.attrs["dtype"] == I32
    np.testing.assert_array_equal(folded.attrs["value"], [6, -1])
    np.testing.assert_array_equal(interpret(g, {"x": xv})["y"], before)
    assert before.shape == (6, 6)


def test_fold_constants_respects_size_limits() -> None:
    g = Graph()
    big = op(
        g,
        "Fill",
        [const(g, np.array([512, 512], np.int32), "dims"), const(g, np.float32(1), "one")],
        T,
        name="big",
    )
    small = op(
        g,
        "Fill",
        [const(g, np.array([4], np.int32), "dims4"), const(g, np.float32(2), "two")],
        T,
        name="small",
    )
    output(g, "big", big)
    output(g, "small", small)
    assert FoldConstants().run(g, PassContext())
    assert g.node("big").op == "Fill" and g.node("small").op == "Const"
    ctx = PassContext(fold_size_limit=8)
    g2 = Graph()
    s = op(
        g2,
        "Fill",
        [const(g2, np.array([4], np.int32), "dims4"), const(g2, np.float32(2), "two")],
        T,
        name="s",
    )
    output(g2, "s", s)
    assert not FoldConstants().run(g2, ctx)


def test_fold_constants_inside_functions_and_skips_placeholder_with_default() -> None:
    g = Graph()
    body = Graph(name="f")
    a = placeholder(body, "a", F, [2], function_arg=True)
    k = op(body, "Neg", [const(body, np.float32([1, 2]), "k")], T, name="negk")
    output(body, "r", op(body, "Add", [a, k], T, name="add"))
    g.functions["f"] = body
    default = g.add_node(
        "PlaceholderWithDefault", [const(g, np.float32([3, 4]), "d")], {"dtype": F}, name="pwd"
    )
    output(g, "y", op(g, "Neg", [default.outputs[0]], T, name="neg"))
    assert FoldConstants().run(g, PassContext())
    assert body.node("negk").op == "Const"
    np.testing.assert_array_equal(body.node("negk").attrs["value"], [-1, -2])
    assert g.node("pwd").op == "PlaceholderWithDefault" and g.node("neg").op == "Neg"


def test_cse_merges_equal_work_and_constants() -> None:
    g = Graph()
    x = placeholder(g, "x", F, [3])
    c1 = const(g, np.float32([1, 2, 3]), "c1")
    c2 = const(g, np.float32([1, 2, 3]), "c2")
    c3 = const(g, np.float32([1, 2, 4]), "c3")
    a = op(g, "Mul", [x, c1], T, name="a")
    b = op(g, "Mul", [x, c2], T, name="b")
    c = op(g, "Mul", [x, c3], T, name="c")
    shape = const(g, np.array([3], np.int32), "shape")
    r1 = op(g, "RandomUniform", [shape], {"dtype": F, "T": I32}, name="r1")
    r2 = op(g, "RandomUniform", [shape], {"dtype": F, "T": I32}, name="r2")
    total = op(g, "AddN", [a, b, c, r1, r2], {"T": F, "N": 5}, name="total")
    output(g, "y", total)
    assert EliminateCommonSubexpressions().run(g, PassContext())
    EliminateDeadCode().run(g, PassContext())
    verify(g)
    assert g.op_histogram() == {"AddN": 1, "Const": 3, "Mul": 2, "Placeholder": 1, "RandomUniform": 2}
    assert [v.producer.name for v in g.node("total").inputs[:3]] == ["a", "a", "c"]


def test_pipeline_reaches_a_fixed_point_and_reports() -> None:
    g = _shape_graph()
    warnings: list[str] = []
    optimize(g, ConvertOptions(), warnings=warnings, checks=True)
    assert g.op_histogram() == {"Const": 1, "Placeholder": 1, "Reshape": 1}
    assert warnings == []
