"""Structural invariants of a Graph (and its library), checked after every pass in tests.

``verify(graph)`` raises ``GraphInvariantError`` listing every broken invariant: edges whose two
ends disagree (``Value.uses`` vs ``Node.inputs``), references to nodes outside the graph, name
table drift, cycles, function arguments that are not Placeholders, func attrs naming functions
that are not in the library.
"""

from __future__ import annotations

from typing import Any

from .graph import Graph
from .types import FuncAttr


class GraphInvariantError(AssertionError):
    pass


def _func_names(value: Any) -> list[str]:
    if isinstance(value, FuncAttr):
        return [value.name]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in _func_names(v)]
    return []


def _check_body(graph: Graph, library: set[str], problems: list[str]) -> None:
    members = {id(n) for n in graph.nodes}
    where = graph.name
    if len(members) != len(graph.nodes):
        problems.append(f"{where}: a node is listed twice")
    for name, node in graph._by_name.items():
        if node.name != name or id(node) not in members:
            problems.append(f"{where}: name table entry {name} is stale")
    if len(graph._by_name) != len(graph.nodes):
        problems.append(f"{where}: {len(graph.nodes)} nodes but {len(graph._by_name)} names")
    for node in graph.nodes:
        for pos, value in enumerate(node.inputs):
            if id(value.producer) not in members:
                problems.append(f"{where}: {node.name} input {pos} comes from {value.producer.name}, "
                                "which is not in the graph")
            if (node, pos) not in value.uses:
                problems.append(f"{where}: {value.name} does not record its use by {node.name}:{pos}")
        for dep in node.control_inputs:
            if id(dep) not in members:
                problems.append(f"{where}: {node.name} has control input {dep.name} outside the graph")
        for out in node.outputs:
            if out.producer is not node:
                problems.append(f"{where}: {out.name} names the wrong producer")
            for consumer, pos in out.uses:
                if id(consumer) not in members or pos >= len(consumer.inputs) \
                        or consumer.inputs[pos] is not out:
                    problems.append(f"{where}: {out.name} lists a stale use by {consumer.name}:{pos}")
        for key, value in node.attrs.items():
            for fname in _func_names(value):
                if fname not in library:
                    problems.append(f"{where}: {node.name}.{key} calls {fname}, not in the library")
    for key, value in graph.outputs:
        if id(value.producer) not in members:
            problems.append(f"{where}: output {key} comes from {value.producer.name}, not in the graph")
    for node in graph.inputs:
        if id(node) not in members or node.op not in ("Placeholder", "PlaceholderWithDefault"):
            problems.append(f"{where}: input {node.name} is not a Placeholder of the graph")
    try:
        probe = Graph(nodes=list(graph.nodes))
        probe.toposort()
    except ValueError as exc:
        problems.append(f"{where}: {exc}")


def verify(graph: Graph) -> None:
    problems: list[str] = []
    library = {name for name, _ in graph.library()}
    for body in graph.all_graphs():
        _check_body(body, library, problems)
    if problems:
        raise GraphInvariantError("; ".join(problems))
