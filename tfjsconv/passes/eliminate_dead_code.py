"""Drops nodes no output needs (inputs stay: they are the signature) and unused library functions.

Ops whose effect outlives the run (filling a lookup table) are roots too: an initializer graph has
no outputs, only those effects.
"""

from __future__ import annotations

from typing import Any

from ..ir.graph import Graph
from ..ir.types import FuncAttr
from ..ops.traits import TABLE_WRITES
from .base import GraphPass, PassContext, register_pass


def _func_refs(value: Any) -> list[str]:
    if isinstance(value, FuncAttr):
        return [value.name] + [n for _, v in value.attrs for n in _func_refs(v)]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in _func_refs(v)]
    return []


def referenced_functions(graph: Graph) -> set[str]:
    """Names of the library functions reachable from the main graph's nodes."""
    library = dict(graph.library())
    found: set[str] = set()
    stack = [graph]
    while stack:
        body = stack.pop()
        for node in body.nodes:
            for value in node.attrs.values():
                for name in _func_refs(value):
                    if name not in found and name in library:
                        found.add(name)
                        stack.append(library[name])
    return found


@register_pass
class EliminateDeadCode(GraphPass):
    name = "eliminate_dead_code"

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        changed = super().run(graph, ctx)
        used = referenced_functions(graph)
        for body in list(graph.all_graphs()):
            for name in [n for n in body.functions if n not in used]:
                del body.functions[name]
                changed = True
        return changed

    def run_body(self, graph: Graph, ctx: PassContext, *, is_main: bool) -> bool:
        return graph.prune(keep=[n for n in graph.nodes if n.op in TABLE_WRITES]) > 0
