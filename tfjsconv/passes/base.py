"""Pass infrastructure: a pass rewrites a Graph in place and says whether it changed anything.

Each module of this package defines one pass class and registers it with ``@register_pass``;
``PassManager`` runs a list of them in order, repeating the list until a whole round changes
nothing (or ``max_rounds`` is reached, which is reported as a warning).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Callable, Optional, TypeVar

from ..ir.graph import Graph, Node, Value
from ..options import ConvertOptions

log = logging.getLogger(__name__)

# Results bigger than this many bytes stay computed at run time instead of becoming weights.
DEFAULT_FOLD_SIZE_LIMIT = 16 * 1024 * 1024


@dataclass
class PassContext:
    options: ConvertOptions = field(default_factory=ConvertOptions)
    warnings: list[str] = field(default_factory=list)
    checks: bool = False  # verify the graph after every pass (tests turn this on)
    fold_size_limit: int = DEFAULT_FOLD_SIZE_LIMIT

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


class Pass:
    """Base class: ``run`` edits ``graph`` (and its library) and returns True when it changed it."""

    name = "pass"

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        raise NotImplementedError


class GraphPass(Pass):
    """A pass applied to the main graph and to every library function body on its own."""

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        changed = False
        for body in bodies(graph):
            changed |= self.run_body(body, ctx, is_main=body is graph)
        return changed

    def run_body(self, graph: Graph, ctx: PassContext, *, is_main: bool) -> bool:
        raise NotImplementedError


P = TypeVar("P", bound=type)
_PASSES: dict[str, type] = {}


def register_pass(cls: P) -> P:
    name = cls.name  # type: ignore[attr-defined]
    if name in _PASSES:
        raise RuntimeError(f"pass {name} registered twice")
    _PASSES[name] = cls
    return cls


def get_pass(name: str) -> Pass:
    return _PASSES[name]()


def bodies(graph: Graph) -> Iterator[Graph]:
    """The main graph, then every function of its library (nested libraries included), once each."""
    yield graph
    seen: set[int] = {id(graph)}
    stack = list(graph.functions.values())
    while stack:
        body = stack.pop(0)
        if id(body) in seen:
            continue
        seen.add(id(body))
        yield body
        stack.extend(body.functions.values())


class PassManager:
    def __init__(self, passes: Sequence[Pass], max_rounds: int = 8,
                 verify: Optional[Callable[[Graph], None]] = None) -> None:
        self.passes = list(passes)
        self.max_rounds = max_rounds
        self.verify = verify

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        for _ in range(self.max_rounds):
            changed = False
            for p in self.passes:
                before = graph.op_histogram() if log.isEnabledFor(logging.DEBUG) else None
                if p.run(graph, ctx):
                    changed = True
                    for body in bodies(graph):
                        body.toposort()
                    if before is not None:
                        log.debug("%s: %s -> %s", p.name, before, graph.op_histogram())
                if ctx.checks and self.verify is not None:
                    self.verify(graph)
            if not changed:
                return graph
        ctx.warn(f"graph optimization stopped after {self.max_rounds} rounds without settling")
        return graph


# ----- helpers shared by the rewrite passes --------------------------------------------------------

def const_of(value: Value):
    """The numpy value behind ``value`` when it is a Const output, else None."""
    from ..ir.graph import as_array

    node = value.producer
    if node.op != "Const":
        return None
    return as_array(node.attrs["value"])


def only_consumer(value: Value) -> Optional[Node]:
    """The single node reading ``value`` (and no graph output), else None."""
    consumers = {id(n): n for n, _ in value.uses}
    if len(consumers) != 1:
        return None
    return next(iter(consumers.values()))


def is_output(graph: Graph, value: Value) -> bool:
    return any(v is value for _, v in graph.outputs)


def replace_node_output(graph: Graph, old: Node, new_values: Sequence[Value]) -> None:
    """Points every consumer of ``old``'s outputs at ``new_values`` and removes ``old``."""
    for out, new in zip(old.outputs, new_values):
        graph.replace_uses(out, new)
    for other in graph.nodes:
        if old in other.control_inputs:
            other.control_inputs = [c for c in other.control_inputs if c is not old]
            for v in new_values[:1]:
                if v.producer not in other.control_inputs:
                    other.control_inputs.append(v.producer)
    graph.remove_node(old)


def take_name(graph: Graph, node: Node) -> str:
    """Frees ``node``'s name for its replacement (renaming ``node``) and returns it."""
    name = node.name
    graph.rename(node, graph.unique_name(f"{name}/replaced"))
    return name


def add(graph: Graph, op: str, inputs: Sequence[Value], attrs: Optional[dict] = None, *,
        name: Optional[str] = None, like: Optional[Value] = None, num_outputs: int = 1,
        device: str = "") -> Value:
    """Adds a node and returns its first output, typed like ``like`` when given."""
    node = graph.add_node(op, inputs, attrs or {}, name=name, num_outputs=num_outputs, device=device)
    if like is not None:
        node.outputs[0].dtype = like.dtype
        node.outputs[0].shape = like.shape
    return node.outputs[0]


def add_const(graph: Graph, array, name: str, dtype=None) -> Value:
    return graph.add_const(array, name=graph.unique_name(name), dtype=dtype).outputs[0]
