"""PassManager: fixed point, round limit, verification hook; the pass registry."""

from __future__ import annotations

import pytest
from ir.graph_factory import op, output, placeholder

from tfjsconv.ir.graph import Graph
from tfjsconv.ir.types import DType
from tfjsconv.ir.verify import GraphInvariantError, verify
from tfjsconv.passes import pipeline
from tfjsconv.passes.base import Pass, PassContext, PassManager, get_pass, register_pass


class _Counting(Pass):
    name = "counting"

    def __init__(self, changes: int) -> None:
        self.changes = changes
        self.calls = 0

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        self.calls += 1
        return self.calls <= self.changes


def _graph() -> Graph:
    g = Graph()
    output(g, "y", op(g, "Neg", [placeholder(g, "x", DType.FLOAT, [1])], {"T": DType.FLOAT}, name="neg"))
    return g


def test_runs_until_a_round_changes_nothing() -> None:
    p = _Counting(changes=2)
    ctx = PassContext()
    PassManager([p]).run(_graph(), ctx)
    assert p.calls == 3 and ctx.warnings == []


def test_stops_at_max_rounds_with_a_warning() -> None:
    p = _Counting(changes=100)
    ctx = PassContext()
    PassManager([p], max_rounds=4).run(_graph(), ctx)
    assert p.calls == 4
    assert ctx.warnings == ["graph optimization stopped after 4 rounds without settling"]


def test_checks_run_the_verifier_after_each_pass() -> None:
    class Breaker(Pass):
        name = "breaker"

        def run(self, graph: Graph, ctx: PassContext) -> bool:
            graph.node("neg").inputs[0].uses.clear()
            return False

    PassManager([Breaker()], verify=verify).run(_graph(), PassContext())  # checks off: not noticed
    with pytest.raises(GraphInvariantError):
        PassManager([Breaker()], verify=verify).run(_graph(), PassContext(checks=True))


def test_registry_knows_every_default_pass_and_refuses_duplicates() -> None:
    assert [get_pass(name).name for name in pipeline.DEFAULT_PASSES] == list(pipeline.DEFAULT_PASSES)

    class Twice(Pass):
        name = "fold_constants"

    with pytest.raises(RuntimeError, match="registered twice"):
        register_pass(Twice)
