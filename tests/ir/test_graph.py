"""Graph: construction, use lists, replacement, removal, toposort, pruning, the library walk, and the
constant / attribute accessors of the IR."""

from __future__ import annotations

import numpy as np
import pytest
from ir.graph_factory import op, output, placeholder

from tfjsconv.ir.attrs import attr_text
from tfjsconv.ir.graph import CACHE_LIMIT, Graph, LazyArray, Node, as_array, const_of, const_shape, read_array
from tfjsconv.ir.types import DType, Shape

F = {"T": DType.FLOAT}


def uses(node: Node, index: int = 0) -> list[tuple[str, int]]:
    return [(n.name, i) for n, i in node.outputs[index].uses]


def _diamond() -> Graph:
    """x -> a = Neg(x); b = Exp(x); c = AddV2(a, b) -> output y."""
    g = Graph()
    x = placeholder(g, "x", DType.FLOAT, [2])
    a = op(g, "Neg", [x], F, name="a")
    b = op(g, "Exp", [x], F, name="b")
    output(g, "y", op(g, "AddV2", [a, b], F, name="c"))
    return g


def test_add_node_records_uses_and_unique_names() -> None:
    g = _diamond()
    assert [n.name for n in g.nodes] == ["x", "a", "b", "c"]
    assert uses(g.node("x")) == [("a", 0), ("b", 0)]
    assert uses(g.node("a")) == [("c", 0)] and uses(g.node("b")) == [("c", 1)]
    again = g.add_node("Neg", [g.node("x").outputs[0]], name="a", num_outputs=2)
    assert again.name == "a_1" and g.unique_name("a") == "a_2" and g.unique_name("fresh") == "fresh"
    assert [v.name for v in again.outputs] == ["a_1", "a_1:1"]
    assert uses(g.node("x")) == [("a", 0), ("b", 0), ("a_1", 0)]
    c = g.add_const(np.zeros((2, 3), np.int64), name="k")
    assert c.attrs["dtype"] == DType.INT64 and c.outputs[0].dtype == DType.INT64
    assert c.outputs[0].shape == Shape((2, 3))
    assert "k" in g and g.get("nope") is None and g.find("Neg") == [g.node("a"), again]


def test_set_input_and_set_inputs_keep_uses_exact() -> None:
    g = _diamond()
    c, x = g.node("c"), g.node("x").outputs[0]
    g.set_input(c, 1, x)
    assert [v.name for v in c.inputs] == ["a", "x"]
    assert uses(g.node("b")) == [] and uses(g.node("x")) == [("a", 0), ("b", 0), ("c", 1)]
    g.set_inputs(c, [x, x])
    assert uses(g.node("a")) == [] and uses(g.node("x")) == [("a", 0), ("b", 0), ("c", 0), ("c", 1)]


def test_replace_uses_rewires_consumers_and_graph_outputs() -> None:
    g = _diamond()
    a, b, c = (g.node(n) for n in "abc")
    output(g, "z", a.outputs[0])
    g.replace_uses(a.outputs[0], b.outputs[0])
    assert [v.name for v in c.inputs] == ["b", "b"]
    assert uses(a) == [] and uses(b) == [("c", 1), ("c", 0)]
    assert [(k, v.name) for k, v in g.outputs] == [("y", "c"), ("z", "b")]
    g.replace_uses(b.outputs[0], b.outputs[0])  # a no-op
    assert uses(b) == [("c", 1), ("c", 0)]


def test_remove_node_refuses_used_nodes_and_cleans_up() -> None:
    g = _diamond()
    with pytest.raises(ValueError, match="cannot remove a: a is still used by c"):
        g.remove_node(g.node("a"))
    with pytest.raises(ValueError, match="cannot remove c: it is a graph output"):
        g.remove_node(g.node("c"))
    g.node("c").control_inputs.append(g.node("b"))
    g.set_input(g.node("c"), 1, g.node("a").outputs[0])
    g.remove_node(g.node("b"))
    assert [n.name for n in g.nodes] == ["x", "a", "c"] and "b" not in g
    assert uses(g.node("x")) == [("a", 0)] and g.node("c").control_inputs == []
    g.outputs = []
    g.remove_node(g.node("c"))
    g.remove_node(g.node("a"))
    g.remove_node(g.node("x"))  # an input: leaves the signature too
    assert g.nodes == [] and g.inputs == [] and g.input_keys == []


def test_remove_nodes_takes_a_set_that_feeds_itself() -> None:
    g = _diamond()
    g.outputs = [("y", g.node("a").outputs[0])]
    g.node("a").control_inputs.append(g.node("b"))
    g.remove_nodes([g.node("c"), g.node("b")])
    assert [n.name for n in g.nodes] == ["x", "a"]
    assert uses(g.node("x")) == [("a", 0)] and g.node("a").control_inputs == []
    with pytest.raises(ValueError, match="a is still used by"):
        g2 = _diamond()
        g2.remove_nodes([g2.node("a")])


def test_rename_refuses_a_taken_name() -> None:
    g = _diamond()
    g.rename(g.node("a"), "neg")
    assert g.node("neg").op == "Neg" and "a" not in g and g.node("c").inputs[0].name == "neg"
    with pytest.raises(ValueError, match="a node named b already exists"):
        g.rename(g.node("neg"), "b")


def test_toposort_puts_producers_first_and_keeps_the_order_otherwise() -> None:
    g = _diamond()
    init = g.add_node("NoOp", name="init")
    g.node("b").control_inputs.append(init)
    g.nodes = [g.node(n) for n in ("c", "b", "x", "a", "init")]
    g.toposort()
    # Depth first from each node in order: c needs a (needs x), then b (needs x, ^init).
    assert [n.name for n in g.nodes] == ["x", "a", "init", "b", "c"]
    g.toposort()  # already sorted: unchanged
    assert [n.name for n in g.nodes] == ["x", "a", "init", "b", "c"]


def test_toposort_ignores_the_loop_edge_and_reports_cycles() -> None:
    g = Graph()
    x = placeholder(g, "x", DType.FLOAT, [])
    merge = g.add_node("Merge", [x], name="merge", num_outputs=2)
    step = op(g, "NextIteration", [op(g, "Exp", [merge.outputs[0]], F, name="body")], F, name="next")
    g.set_inputs(merge, [x, step])  # NextIteration -> Merge closes the TF1 loop
    g.nodes = [g.node(n) for n in ("next", "body", "merge", "x")]
    g.toposort()
    assert [n.name for n in g.nodes] == ["x", "merge", "body", "next"]
    bad = _diamond()
    bad.set_input(bad.node("a"), 0, bad.node("c").outputs[0])
    with pytest.raises(ValueError, match="cycle in graph graph"):
        bad.toposort()


def test_prune_keeps_what_outputs_inputs_and_keep_need() -> None:
    g = _diamond()
    dead = op(g, "Sqrt", [g.node("b").outputs[0]], F, name="dead")
    fill = g.add_node("InitializeTableV2", [dead], name="fill", num_outputs=0)
    unused = placeholder(g, "unused", DType.FLOAT, [1])
    assert g.prune(keep=[fill]) == 0
    assert g.prune() == 2
    assert [n.name for n in g.nodes] == ["x", "a", "b", "c", "unused"] and unused.producer in g.inputs


def _library_graph() -> Graph:
    g = Graph(name="main")
    f, h, inner = Graph(name="f"), Graph(name="h"), Graph(name="inner")
    f.functions = {"inner": inner}
    h.functions = {"inner": inner, "f_again": f}
    g.functions = {"f": f, "h": h}
    return g


def test_library_walks_nested_libraries_breadth_first_each_name_once() -> None:
    g = _library_graph()
    assert [name for name, _ in g.library()] == ["f", "h", "inner", "f_again"]
    assert [body.name for body in g.all_graphs()] == ["main", "f", "h", "inner"]  # each body once
    assert list(Graph().library()) == [] and [b.name for b in Graph().all_graphs()] == ["graph"]


def test_const_accessors_read_consts_only_and_cache_small_lazy_values() -> None:
    g = _diamond()
    reads: list[int] = []

    def lazy(n: int) -> LazyArray:
        return LazyArray(np.float32, (n,), lambda: reads.append(n) or np.ones(n, np.float32))

    small, big = lazy(4), lazy(CACHE_LIMIT // 4 + 1)
    small_v, big_v = (g.add_const(v, name=n).outputs[0] for v, n in ((small, "small"), (big, "big")))
    assert const_of(g.node("a").outputs[0]) is None and const_of(None) is None
    assert const_shape(g.node("a").outputs[0]) is None
    assert const_shape(big_v) == (CACHE_LIMIT // 4 + 1,) and reads == []  # shape without reading
    np.testing.assert_array_equal(const_of(small_v), np.ones(4, np.float32))
    const_of(small_v)
    assert reads == [4]  # small values are kept after the first read
    const_of(small_v, cache=False)
    assert reads == [4]
    const_of(big_v)
    const_of(big_v)
    assert reads == [4, big.shape[0], big.shape[0]]  # big ones are read again each time
    fresh = lazy(2)
    read_array(fresh)
    np.testing.assert_array_equal(as_array(fresh), np.ones(2, np.float32))
    assert reads[-2:] == [2, 2]  # read_array did not cache
    plain = np.arange(3)
    assert as_array(plain) is plain and read_array([1, 2]).tolist() == [1, 2]


def test_attr_text_decodes_bytes_and_passes_str() -> None:
    assert attr_text(b"NHWC") == "NHWC" and attr_text("VALID") == "VALID"
    assert attr_text("caf\u00e9".encode()) == "caf\u00e9" and attr_text(None) == "" and attr_text(3) == "3"
