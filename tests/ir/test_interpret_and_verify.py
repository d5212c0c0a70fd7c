"""The interpreter (test oracle) and the graph invariant checker."""

from __future__ import annotations

import numpy as np
import pytest
from ir.graph_factory import const, op, output, placeholder

from tfjsconv.ir.graph import Graph
from tfjsconv.ir.interpret import InterpretError, interpret, run_function
from tfjsconv.ir.types import DType, FuncAttr
from tfjsconv.ir.verify import GraphInvariantError, verify

F = DType.FLOAT
T = {"T": F}


def _square_fn() -> Graph:
    body = Graph(name="square")
    a = placeholder(body, "a", F, [None], function_arg=True)
    output(body, "r", op(body, "Mul", [a, a], T, name="mul"))
    return body


def test_feeds_by_signature_key_or_placeholder_name() -> None:
    g = Graph()
    x = placeholder(g, "x", F, [2], key="features")
    output(g, "y", op(g, "Sub", [x, const(g, np.float32([1, 2]), "c")], T, name="sub"))
    np.testing.assert_array_equal(interpret(g, {"features": np.float32([5, 5])})["y"], [4, 3])
    np.testing.assert_array_equal(interpret(g, {"x": np.float32([1, 1])})["y"], [0, -1])
    with pytest.raises(InterpretError, match="no value fed for input x"):
        interpret(g, {})


def test_control_flow_calls_library_functions() -> None:
    g = Graph()
    g.functions = {"square": _square_fn(), "negate": Graph(name="negate")}
    neg_arg = placeholder(g.functions["negate"], "a", F, [None], function_arg=True)
    output(g.functions["negate"], "r", op(g.functions["negate"], "Neg", [neg_arg], T, name="neg"))
    x = placeholder(g, "x", F, [None])
    flag = placeholder(g, "flag", DType.BOOL, [])
    chosen = op(
        g,
        "StatelessIf",
        [flag, x],
        {"then_branch": FuncAttr("square"), "else_branch": FuncAttr("negate")},
        name="if",
    )
    called = op(g, "PartitionedCall", [chosen], {"f": FuncAttr("square")}, name="call")
    output(g, "y", called)
    xs = np.float32([1, -2, 3])
    np.testing.assert_array_equal(interpret(g, {"x": xs, "flag": np.array(True)})["y"], xs**4)
    np.testing.assert_array_equal(interpret(g, {"x": xs, "flag": np.array(False)})["y"], xs**2)
    np.testing.assert_array_equal(run_function(g.functions["square"], [xs]), [xs * xs])


def test_missing_kernel_names_the_node() -> None:
    g = Graph()
    x = placeholder(g, "x", F, [1])
    output(g, "y", op(g, "Lgamma", [x], T, name="lg"))
    with pytest.raises(InterpretError, match="no kernel for Lgamma"):
        interpret(g, {"x": np.float32([1])})


def test_verify_accepts_a_good_graph_and_lists_every_problem() -> None:
    g = Graph()
    x = placeholder(g, "x", F, [1])
    y = op(g, "Neg", [x], T, name="neg")
    output(g, "y", y)
    g.functions["square"] = _square_fn()
    op(g, "PartitionedCall", [x], {"f": FuncAttr("square")}, name="call")
    verify(g)
    op(g, "PartitionedCall", [x], {"f": FuncAttr("missing")}, name="bad_call")
    x.uses.clear()  # break the edge bookkeeping on purpose
    with pytest.raises(GraphInvariantError) as info:
        verify(g)
    message = str(info.value)
    assert "calls missing" in message
    assert "does not record its use by neg:0" in message


def test_verify_finds_cycles() -> None:
    g = Graph()
    x = placeholder(g, "x", F, [1])
    a = op(g, "Neg", [x], T, name="a")
    b = op(g, "Neg", [a], T, name="b")
    g.set_input(a.producer, 0, b)
    output(g, "y", b)
    with pytest.raises(GraphInvariantError, match="cycle"):
        verify(g)


def test_tf1_loops_are_reported_not_hung() -> None:
    g = Graph()
    x = placeholder(g, "x", F, [1])
    merge = g.add_node("Merge", [x], T, name="merge", num_outputs=2)
    step = op(g, "Neg", [merge.outputs[0]], T, name="step")
    nxt = op(g, "NextIteration", [step], T, name="next")
    g.set_inputs(merge, [x, nxt])
    output(g, "y", step)
    verify(g)  # the NextIteration -> Merge back edge is legal
    with pytest.raises(InterpretError, match="cycle"):
        interpret(g, {"x": np.float32([1])})


def test_dump_is_stable_and_readable() -> None:
    from tfjsconv.ir.dump import dump

    g = Graph()
    x = placeholder(g, "x", F, [None, 2], key="features")
    w = const(g, np.ones((2, 2), np.float32), "w")
    y = op(g, "MatMul", [x, w], {"T": F, "transpose_b": True}, name="mm")
    output(g, "out", y)
    g.functions["square"] = _square_fn()
    assert dump(g) == (
        "graph graph\n"
        "  input features: x\n"
        "  output out: mm\n"
        "  x = Placeholder() {dtype=DT_FLOAT, shape=[?,2]}\n"
        "  w = Const() {value=<float32[2, 2]>}\n"
        "  mm = MatMul(x, w) {T=DT_FLOAT, transpose_b=True}\n"
        "\n"
        "  function square\n"
        "    input a: a\n"
        "    output r: mul\n"
        "    a = Placeholder() {dtype=DT_FLOAT, shape=[?]}\n"
        "    mul = Mul(a, a) {T=DT_FLOAT}\n"
    )
