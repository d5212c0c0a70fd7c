"""rewrite_einsum: every equation without ellipsis or repeated label becomes MatMul/BatchMatMulV2 +
Transpose/Reshape/Sum, with the fewest nodes, and computes what numpy's einsum computes; the result
runs in real TF.js on wasm, which has no Einsum kernel."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest
from ir.graph_factory import op, output, placeholder

from tfjsconv.ir.graph import Graph
from tfjsconv.ir.interpret import interpret
from tfjsconv.ir.types import DType, Shape
from tfjsconv.ir.verify import verify
from tfjsconv.options import ConvertOptions
from tfjsconv.passes.base import PassContext
from tfjsconv.passes.pipeline import optimize
from tfjsconv.passes.rewrite_einsum import RewriteEinsum, parse_equation
from tfjsconv.writers.graph_model import write_graph_model

F = DType.FLOAT
RNG = np.random.default_rng(5)
Dims = list[Optional[int]]


def _einsum_graph(equation: str, shapes: list[Dims], out_shape: Optional[Dims] = None) -> Graph:
    g = Graph()
    inputs = [placeholder(g, f"in{i}", F, shape) for i, shape in enumerate(shapes)]
    y = op(g, "Einsum", inputs, {"T": F, "N": len(inputs), "equation": equation.encode()}, name="einsum")
    y.shape = Shape.of(tuple(out_shape)) if out_shape is not None else None
    output(g, "y", y)
    return g


def _ops(g: Graph) -> dict[str, int]:
    return {k: v for k, v in g.op_histogram().items() if k not in ("Const", "Placeholder")}


# equation, declared shapes (None: unknown), concrete shapes, op histogram after the rewrite
CASES: list[tuple[str, list[Dims], list[list[int]], dict[str, int]]] = [
    ("ij,jk->ik", [[4, 5], [5, 3]], [[4, 5], [5, 3]], {"MatMul": 1}),
    ("ij,jk->ik", [[None, 4], [4, None]], [[2, 4], [4, 3]], {"MatMul": 1}),
    ("ij,kj->ik", [[4, 5], [3, 5]], [[4, 5], [3, 5]], {"MatMul": 1}),  # transpose_b
    ("ji,jk->ik", [[5, 4], [5, 3]], [[5, 4], [5, 3]], {"MatMul": 1}),  # transpose_a
    ("ij,jk", [[4, 5], [5, 3]], [[4, 5], [5, 3]], {"MatMul": 1}),  # implicit output
    ("ij,j->i", [[4, 5], [5]], [[4, 5], [5]], {"MatMul": 1, "Reshape": 2}),
    ("i,i->", [[5], [5]], [[5], [5]], {"MatMul": 1, "Reshape": 3}),
    ("i,j->ij", [[3], [4]], [[3], [4]], {"MatMul": 1, "Reshape": 2}),  # outer product
    ("bij,bkj->bik", [[2, 3, 5], [2, 4, 5]], [[2, 3, 5], [2, 4, 5]], {"BatchMatMulV2": 1}),
    ("bij,bjk->ik", [[2, 3, 4], [2, 4, 5]], [[2, 3, 4], [2, 4, 5]],
     {"MatMul": 1, "Reshape": 2, "Transpose": 1}),
    ("ij,jk->k", [[3, 4], [4, 5]], [[3, 4], [4, 5]], {"Sum": 1, "MatMul": 1, "Reshape": 2}),
    ("ij->j", [[3, 4]], [[3, 4]], {"Sum": 1}),
    ("ij->", [[3, 4]], [[3, 4]], {"Sum": 1}),
    ("bij->bji", [[2, 3, 4]], [[2, 3, 4]], {"Transpose": 1}),
    ("ij->ij", [[2, 3]], [[2, 3]], {"Identity": 1}),
    # Keras MultiHeadAttention / EinsumDense (issue 9): batch unknown, sequence known or not.
    ("BTNH,BSNH->BNTS", [[None, 4, 2, 3], [None, 5, 2, 3]], [[3, 4, 2, 3], [3, 5, 2, 3]],
     {"BatchMatMulV2": 1, "Transpose": 2}),
    ("BNTS,BSNH->BTNH", [[None, 2, 4, 5], [None, 5, 2, 3]], [[2, 2, 4, 5], [2, 5, 2, 3]],
     {"BatchMatMulV2": 1, "Transpose": 2}),
    ("abc,cde->abde", [[None, 3, 4], [4, 2, 3]], [[2, 3, 4], [4, 2, 3]], {"BatchMatMulV2": 1, "Reshape": 2}),
    ("abcd,cde->abe", [[None, 3, 2, 4], [2, 4, 5]], [[2, 3, 2, 4], [2, 4, 5]],
     {"BatchMatMulV2": 1, "Reshape": 2}),
    ("abc,cd->abd", [[None, 3, 4], [4, 6]], [[5, 3, 4], [4, 6]], {"BatchMatMulV2": 1}),
    # Ellipsis: one label per dim it stands for (the operands' ranks are known).
    ("...ij,...jk->...ik", [[2, 3, 4], [2, 4, 5]], [[2, 3, 4], [2, 4, 5]], {"BatchMatMulV2": 1}),
    ("...ij,jk->...ik", [[None, 2, 3, 4], [4, 5]], [[2, 2, 3, 4], [4, 5]], {"BatchMatMulV2": 1}),
    ("b...i,b...i->b...", [[2, 3, 4], [2, 3, 4]], [[2, 3, 4], [2, 3, 4]], {"BatchMatMulV2": 1, "Reshape": 3}),
    ("...ij,...jk", [[2, 3, 4], [2, 4, 5]], [[2, 3, 4], [2, 4, 5]], {"BatchMatMulV2": 1}),  # implicit
    # Two unknown sizes in one reshape target: computed from the inputs' Shape at run time.
    ("abc,cde->abde", [[None, None, 4], [4, 2, 3]], [[2, 3, 4], [4, 2, 3]],
     {"BatchMatMulV2": 1, "Reshape": 2, "Shape": 1, "GatherV2": 2, "ConcatV2": 1}),
]


@pytest.mark.parametrize("equation, shapes, concrete, ops", CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_einsum_rewritten_exactly(equation: str, shapes: list, concrete: list, ops: dict) -> None:
    feeds = {f"in{i}": RNG.standard_normal(s).astype(np.float32) for i, s in enumerate(concrete)}
    want = np.einsum(equation, *feeds.values())
    g = _einsum_graph(equation, shapes)
    assert interpret(g, feeds)["y"].shape == want.shape  # the oracle agrees with numpy before
    assert RewriteEinsum().run(g, PassContext())
    verify(g)
    assert _ops(g) == ops
    assert dict(g.outputs)["y"].producer.name == "einsum"  # the output keeps the Einsum's name
    np.testing.assert_allclose(interpret(g, feeds)["y"], want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("equation, shapes", [
    ("ii->i", [[3, 3]]),  # diagonal: repeated label
    ("...ij,...jk->...ik", [[None, 3, 4], [2, 4, 5]]),  # ellipsis dims that may broadcast
    ("...ij,jk->...ik", [None, [4, 5]]),  # an ellipsis over an unknown rank
    ("bij,bjk->bik", [[1, 3, 4], [2, 4, 5]]),  # a size-1 label broadcast against 2
    ("ij,jk,kl->il", [[2, 3], [3, 4], [4, 5]]),  # three operands
])
def test_other_equations_stay_einsum(equation: str, shapes: list) -> None:
    g = _einsum_graph(equation, shapes)
    assert not RewriteEinsum().run(g, PassContext())
    assert g.op_histogram().get("Einsum") == 1


def test_equation_parsing() -> None:
    assert parse_equation("ab,bc->ac", 2) == (["ab", "bc"], "ac")
    assert parse_equation("ab,bc", 2) == (["ab", "bc"], "ac")  # implicit: labels seen once, sorted
    assert parse_equation("ba,bc", 2) == (["ba", "bc"], "ac")
    assert parse_equation("ab,bc->ac", 1) is None
    assert parse_equation("ab->c", 1) is None  # output label from nowhere
    assert parse_equation("a.b->ab", 1) is None
    assert parse_equation("...ij->...ji", 1, [4]) == (["abij"], "abji")  # unused letters, in order
    assert parse_equation("...i,j...->...ij", 2, [2, 3]) == (["bi", "jab"], "abij")  # right-aligned
    assert parse_equation("...ij->...ji", 1, [None]) is None


@pytest.mark.parametrize("backend", ["cpu", "wasm"])
def test_rewritten_einsums_run_in_tfjs(tmp_path: Path, tfjs: Any, backend: str) -> None:
    """The issue's attention equations (one graph), unknown batch and sequence, through the pipeline."""
    g = Graph()
    x = placeholder(g, "x", F, [None, None, 8])
    w = g.add_const(RNG.standard_normal((8, 2, 4)).astype(np.float32), name="w").outputs[0]
    wo = g.add_const(RNG.standard_normal((2, 4, 8)).astype(np.float32), name="wo").outputs[0]

    def einsum(eq: str, a: Any, b: Any, name: str) -> Any:
        return op(g, "Einsum", [a, b], {"T": F, "N": 2, "equation": eq.encode()}, name=name)

    q = einsum("abc,cde->abde", x, w, "q")
    scores = einsum("aecd,abcd->acbe", q, q, "scores")
    ctx = einsum("acbe,aecd->abcd", scores, q, "ctx")
    output(g, "y", einsum("abcd,cde->abe", ctx, wo, "out"))
    feed = RNG.standard_normal((2, 5, 8)).astype(np.float32)
    qn = np.einsum("abc,cde->abde", feed, w.producer.attrs["value"])
    sn = np.einsum("aecd,abcd->acbe", qn, qn)
    want = np.einsum("abcd,cde->abe", np.einsum("acbe,aecd->abcd", sn, qn), wo.producer.attrs["value"])
    optimize(g, ConvertOptions(), checks=True)
    assert "Einsum" not in g.op_histogram()
    np.testing.assert_allclose(interpret(g, {"x": feed})["y"], want, rtol=1e-4, atol=1e-4)
    out = tmp_path / "model"
    out.mkdir()
    write_graph_model(g, out, ConvertOptions())
    (got,) = tfjs.run(out, "graph", [("x", feed)], backend=backend)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
