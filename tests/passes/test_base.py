"""The rule base: RewritePass / RuleTablePass sweep, Editor.replace_with naming and rewiring."""

from __future__ import annotations

import numpy as np
import pytest
from ir.graph_factory import const, op, output, placeholder

from tfjsconv.ir.graph import Graph, Node
from tfjsconv.ir.interpret import interpret
from tfjsconv.ir.types import DType
from tfjsconv.ir.verify import verify
from tfjsconv.passes.base import Editor, PassContext, RewritePass, Rule, RuleTablePass, add, add_const
from tfjsconv.registry import DuplicateRegistrationError, Registry

F = {"T": DType.FLOAT}


class NegToMul(RewritePass):
    """Neg(x) -> Mul(x, -1), the new node taking Neg's name."""

    name = "neg_to_mul"
    ops = frozenset({"Neg"})

    def __init__(self) -> None:
        self.seen: list[str] = []

    def rewrite(self, ed: Editor, node: Node) -> bool:
        self.seen.append(node.name)
        minus = add_const(ed.graph, np.array(-1, np.float32), f"{node.name}/minus_one")
        ed.replace_with(node, "Mul", [node.inputs[0], minus], F)
        return True


def _chain() -> Graph:
    """x -> Neg (waits for ^init) -> Exp -> output y; Neg also output z; Relu untouched."""
    g = Graph()
    x = placeholder(g, "x", DType.FLOAT, [2])
    init = g.add_node("NoOp", name="init")
    neg = op(g, "Neg", [x], F, name="neg")
    neg.producer.control_inputs.append(init)
    output(g, "y", op(g, "Exp", [neg], F, name="exp"))
    output(g, "z", neg)
    output(g, "r", op(g, "Relu", [x], F, name="relu"))
    return g


def test_rewrite_pass_visits_matched_ops_only_and_replace_with_takes_the_name() -> None:
    g = _chain()
    rule = NegToMul()
    assert rule.run(g, PassContext()) is True
    assert rule.seen == ["neg"]
    new = g.node("neg")
    assert new.op == "Mul" and new.attrs == F
    assert [v.name for v in new.inputs] == ["x", "neg/minus_one"]
    assert new.control_inputs == [g.node("init")]  # the replaced node's control inputs carry over
    assert new.outputs[0].dtype == DType.FLOAT  # typed like the replaced output
    assert g.node("exp").inputs[0] is new.outputs[0]
    assert dict(g.outputs)["z"] is new.outputs[0]
    assert "neg/replaced" not in g and [n.op for n in g.nodes].count("Neg") == 0
    verify(g)
    np.testing.assert_allclose(interpret(g, {"x": np.array([1.0, -2.0], np.float32)})["y"],
                               np.exp([-1.0, 2.0]).astype(np.float32), rtol=1e-6)
    assert rule.run(g, PassContext()) is False  # nothing left to match


def test_rewrite_pass_returns_false_when_no_rule_fires() -> None:
    class Never(NegToMul):
        def rewrite(self, ed: Editor, node: Node) -> bool:
            self.seen.append(node.name)
            return False

    g = _chain()
    before = [(n.name, n.op) for n in g.nodes]
    rule = Never()
    assert rule.run(g, PassContext()) is False
    assert rule.seen == ["neg"] and [(n.name, n.op) for n in g.nodes] == before


def test_editor_knows_main_graph_and_function_bodies() -> None:
    bodies: list[tuple[str, bool]] = []

    class Spy(RewritePass):
        name = "spy"

        def rewrite(self, ed: Editor, node: Node) -> bool:
            if node.op == "Neg":
                bodies.append((ed.graph.name, ed.is_main))
            return False

    g = _chain()
    fn = Graph(name="f")
    output(fn, "out", op(fn, "Neg", [placeholder(fn, "a", function_arg=True)], F, name="n"))
    g.functions["f"] = fn
    Spy().run(g, PassContext())
    assert bodies == [("graph", True), ("f", False)]


def test_later_sweep_sees_what_the_earlier_one_changed() -> None:
    """sweeps > 1 repeats the sweep while something fires; one sweep visits each node once."""

    class PeelNeg(RewritePass):
        name = "peel"
        ops = frozenset({"Neg"})

        def rewrite(self, ed: Editor, node: Node) -> bool:
            if node.inputs[0].producer.op == "Neg":
                return False  # only a Neg whose input is no longer a Neg is replaced
            ed.replace(node, [add(ed.graph, "Identity", [node.inputs[0]], F, name=f"{node.name}/id")])
            return True

    class PeelAll(PeelNeg):
        sweeps = 10

    def graph() -> Graph:
        g = Graph()
        x = placeholder(g, "x", DType.FLOAT, [1])
        output(g, "y", op(g, "Neg", [op(g, "Neg", [x], F, name="inner")], F, name="outer"))
        g.nodes = [g.node("x"), g.node("outer"), g.node("inner")]  # the consumer is visited first
        return g

    once = graph()
    assert PeelNeg().run(once, PassContext()) is True
    assert sorted(n.name for n in once.nodes) == ["inner/id", "outer", "x"]
    repeated = graph()
    assert PeelAll().run(repeated, PassContext()) is True
    assert [n.name for n in repeated.nodes] == ["x", "inner/id", "outer/id"]  # toposorted between sweeps
    assert repeated.outputs[0][1].producer.name == "outer/id"


RULES: Registry[str, Rule] = Registry("test rule")


@RULES.register("Exp", "Log")
def _to_identity(ed: Editor, node: Node) -> bool:
    ed.replace_with(node, "Identity", [node.inputs[0]], F)
    return True


class Table(RuleTablePass):
    name = "table"
    rules = RULES


def test_rule_table_pass_dispatches_by_op_and_refuses_duplicates() -> None:
    g = Graph()
    x = placeholder(g, "x", DType.FLOAT, [1])
    output(g, "y", op(g, "Log", [op(g, "Exp", [x], F, name="e")], F, name="l"))
    output(g, "c", op(g, "Sqrt", [const(g, np.float32(4.0), "four")], F, name="s"))
    assert Table().run(g, PassContext()) is True
    assert {n.name: n.op for n in g.nodes} == {"x": "Placeholder", "e": "Identity", "l": "Identity",
                                               "four": "Const", "s": "Sqrt"}
    with pytest.raises(DuplicateRegistrationError, match="test rule 'Exp' registered twice"):
        RULES.register("Exp")(_to_identity)


def test_editor_replace_moves_control_edges_and_removes_at_finish() -> None:
    g = Graph()
    x = placeholder(g, "x", DType.FLOAT, [1])
    init = g.add_node("NoOp", name="init")
    old = op(g, "Relu", [x], F, name="old").producer
    old.control_inputs.append(init)
    later = op(g, "Exp", [old.outputs[0]], F, name="later").producer
    waiter = g.add_node("NoOp", name="waiter", control_inputs=[old])
    output(g, "y", later.outputs[0])
    ed = Editor(g)
    new = add(g, "Relu6", [x], F, name="new")
    ed.replace(old, [new], keep_controls=True)
    assert not ed.alive(old) and ed.alive(new.producer) and old in g.nodes  # removed only at finish
    assert later.inputs[0] is new and old.inputs == [] and old.control_inputs == []
    assert new.producer.control_inputs == [init]  # keep_controls: waits for what old waited for
    assert waiter.control_inputs == [new.producer]  # ^old becomes ^new
    assert ed.finish() is True and "old" not in g and ed.finish() is False
    ed.add_control(later, init)
    ed.add_control(later, init)  # no duplicate edge
    assert later.control_inputs == [init]


def test_editor_remove_drops_control_edges_to_the_node() -> None:
    g = Graph()
    check = g.add_node("Assert", [placeholder(g, "x", DType.BOOL, [])], name="check", num_outputs=0)
    y = op(g, "Identity", [g.node("x").outputs[0]], F, name="y")
    y.producer.control_inputs.append(check)
    output(g, "y", y)
    ed = Editor(g)
    ed.remove(check)
    assert y.producer.control_inputs == [] and ed.finish() is True
    assert [n.name for n in g.nodes] == ["x", "y"]
    assert [(n.name, i) for n, i in g.node("x").outputs[0].uses] == [("y", 0)]


def test_replace_with_rewires_only_the_first_output() -> None:
    g = Graph()
    x = placeholder(g, "x", DType.FLOAT, [4])
    split = g.add_node("Unique", [x], {"T": DType.FLOAT}, name="u", num_outputs=2)
    output(g, "values", split.outputs[0])
    ed = Editor(g)
    new = ed.replace_with(split, "Identity", [x], F)
    assert new.producer.name == "u" and split.name == "u/replaced"
    assert g.outputs == [("values", new)]
    op(g, "Neg", [split.outputs[1]], F, name="reader")  # a reader of output 1: not rewired
    with pytest.raises(ValueError, match="cannot remove u/replaced: u/replaced:1 is still used by reader"):
        ed.finish()
