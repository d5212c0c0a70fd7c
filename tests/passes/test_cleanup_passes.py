"""eliminate_dead_code, remove_identity, strip_debug_ops: structure and numbers."""

from __future__ import annotations

import numpy as np
from ir.graph_factory import const, op, output, placeholder

from tfjsconv.ir.graph import Graph
from tfjsconv.ir.interpret import interpret
from tfjsconv.ir.types import DType, FuncAttr
from tfjsconv.ir.verify import verify
from tfjsconv.options import ConvertOptions
from tfjsconv.passes.base import PassContext
from tfjsconv.passes.eliminate_dead_code import EliminateDeadCode
from tfjsconv.passes.remove_identity import RemoveIdentity
from tfjsconv.passes.strip_debug_ops import StripDebugOps

F = DType.FLOAT
T = {"T": F}


def test_dead_code_keeps_inputs_and_used_functions() -> None:
    g = Graph()
    x = placeholder(g, "x", F, [2])
    placeholder(g, "unused_input", F, [2])
    op(g, "Exp", [x], T, name="dead_exp")
    const(g, np.ones(2, np.float32), "dead_const")
    live = Graph(name="live")
    output(live, "o", placeholder(live, "a", F, [2], function_arg=True))
    g.functions = {"live": live, "dead": Graph(name="dead")}
    y = op(g, "StatelessIf", [const(g, np.array(True), "c"), x],
           {"then_branch": FuncAttr("live"), "else_branch": FuncAttr("live")}, name="if")
    output(g, "y", y)
    assert EliminateDeadCode().run(g, PassContext())
    verify(g)
    assert sorted(n.name for n in g.nodes) == ["c", "if", "unused_input", "x"]
    assert list(g.functions) == ["live"]
    assert not EliminateDeadCode().run(g, PassContext())


def test_identity_chain_removed_but_output_node_kept() -> None:
    g = Graph()
    x = placeholder(g, "x", F, [3])
    a = op(g, "Identity", [x], T, name="id1")
    b = op(g, "StopGradient", [a], T, name="sg")
    c = op(g, "Neg", [b], T, name="neg")
    pair = g.add_node("IdentityN", [c, a], {"T": [F, F]}, name="idn", num_outputs=2)
    d = op(g, "Mul", [pair.outputs[0], pair.outputs[1]], T, name="mul")
    out = op(g, "Identity", [d], T, name="Identity")
    output(g, "out", out)
    feeds = {"x": np.array([1, -2, 3], np.float32)}
    before = interpret(g, feeds)["out"]
    assert RemoveIdentity().run(g, PassContext())
    verify(g)
    assert g.op_histogram() == {"Identity": 1, "Mul": 1, "Neg": 1, "Placeholder": 1}
    assert g.node("Identity").inputs[0].producer.name == "mul"
    assert [v.producer.name for v in g.node("mul").inputs] == ["neg", "x"]
    np.testing.assert_array_equal(interpret(g, feeds)["out"], before)


def test_identity_control_dependencies_move_to_consumers() -> None:
    g = Graph()
    x = placeholder(g, "x", F, [1])
    guard = op(g, "Exp", [x], T, name="guard")
    ident = g.add_node("Identity", [x], T, name="id", control_inputs=[guard.producer])
    noop = g.add_node("NoOp", [], {}, name="noop", control_inputs=[ident], num_outputs=0)
    y = g.add_node("Neg", [ident.outputs[0]], T, name="neg", control_inputs=[noop])
    output(g, "y", y.outputs[0])
    assert RemoveIdentity().run(g, PassContext())
    verify(g)
    assert "id" not in g and "noop" not in g
    assert [c.name for c in g.node("neg").control_inputs] == ["guard", "x"]


def test_function_bodies_lose_identities_even_on_outputs() -> None:
    g = Graph()
    body = Graph(name="f")
    a = placeholder(body, "a", F, [1], function_arg=True)
    output(body, "r", op(body, "Identity", [op(body, "Neg", [a], T, name="n")], T, name="ret"))
    g.functions["f"] = body
    x = placeholder(g, "x", F, [1])
    output(g, "y", op(g, "Identity", [x], T, name="Identity"))
    assert RemoveIdentity().run(g, PassContext())
    assert body.op_histogram() == {"Neg": 1, "Placeholder": 1}
    assert body.outputs[0][1].producer.name == "n"
    assert g.op_histogram() == {"Identity": 1, "Placeholder": 1}


def _debug_graph() -> Graph:
    g = Graph()
    x = placeholder(g, "x", F, [2])
    checked = op(g, "CheckNumerics", [x], {"T": F, "message": b"nan!"}, name="check")
    cond = op(g, "Less", [x, const(g, np.float32(100), "limit")], T, name="less", dtype=DType.BOOL)
    assert_node = g.add_node("Assert", [cond], {"T": [DType.BOOL]}, name="assert", num_outputs=0)
    printed = g.add_node("Print", [checked, x], {"T": F, "U": [F]}, name="print")
    printed.outputs[0].dtype = F
    y = g.add_node("Exp", [printed.outputs[0]], T, name="exp", control_inputs=[assert_node])
    output(g, "y", y.outputs[0])
    return g


def test_strip_debug_ops_only_when_asked() -> None:
    g = _debug_graph()
    assert not StripDebugOps().run(g, PassContext(ConvertOptions()))
    assert StripDebugOps().run(g, PassContext(ConvertOptions(strip_debug_ops=True)))
    EliminateDeadCode().run(g, PassContext())
    verify(g)
    assert g.op_histogram() == {"Exp": 1, "Placeholder": 1}
    x = np.array([0.5, 1.0], np.float32)
    np.testing.assert_allclose(interpret(g, {"x": x})["y"], np.exp(x), rtol=1e-6)


def test_dead_code_keeps_table_fills_of_an_output_less_initializer() -> None:
    init = Graph(name="init")
    table = init.add_node("HashTableV2", [], {"key_dtype": DType.STRING, "value_dtype": DType.INT32},
                          name="hash_table")
    keys = const(init, np.array([b"a"], dtype=object), "keys", DType.STRING)
    values = const(init, np.array([1], np.int32), "values")
    init.add_node("LookupTableImportV2", [table.outputs[0], keys, values], {}, name="import", num_outputs=0)
    const(init, np.array([3], np.int32), "unused")
    assert EliminateDeadCode().run(init, PassContext())
    assert sorted(n.name for n in init.nodes) == ["hash_table", "import", "keys", "values"]


def test_identity_of_a_switch_branch_with_control_dependents_stays() -> None:
    g = Graph()
    x = placeholder(g, "x", F, [1])
    pred = placeholder(g, "pred", DType.BOOL, [])
    switch = g.add_node("Switch", [x, pred], T, name="switch", num_outputs=2)
    pivot = g.add_node("Identity", [switch.outputs[1]], T, name="pivot_t")
    branch_const = g.add_node("Const", [], {"value": np.float32([2]), "dtype": F}, name="two",
                              control_inputs=[pivot])
    y = op(g, "Mul", [pivot.outputs[0], branch_const.outputs[0]], T, name="mul")
    output(g, "y", op(g, "Identity", [y], T, name="Identity"))
    assert not RemoveIdentity().run(g, PassContext())
    assert g.node("pivot_t").op == "Identity"
