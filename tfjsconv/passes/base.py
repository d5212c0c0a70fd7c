"""Pass infrastructure: a pass rewrites a Graph in place and says whether it changed anything.

Each module of this package defines one pass class and registers it with ``@register_pass``;
``PassManager`` runs a list of them in order, repeating the list until a whole round changes
nothing (or ``max_rounds`` is reached, which is reported as a warning).

Most passes are node rewrites, written as a ``RewritePass`` (the rule base, in the spirit of
onnxscript's rewrite rules): the pass declares the ops it matches and one ``rewrite(ed, node)``;
the sweep over every graph body, the liveness check and the final removal of replaced nodes are
written once, here::

    @register_pass
    class RewriteErfc(RewritePass):
        name = "rewrite_erfc"
        ops = frozenset({"Erfc"})

        def rewrite(self, ed: Editor, node: Node) -> bool:
            one = add_const(ed.graph, np.array(1, np.float32), f"{node.name}/one")
            erf = add(ed.graph, "Erf", [node.inputs[0]], {"T": DType.FLOAT}, name=f"{node.name}/Erf")
            ed.replace_with(node, "Sub", [one, erf], {"T": DType.FLOAT})  # takes node's name
            return True

A pass with one rule per op keeps them in a ``Registry`` and subclasses ``RuleTablePass``.
``rewrite`` returns True when it changed the graph; it builds with ``add`` / ``add_const`` and
replaces with ``Editor.replace_with`` (one new node takes the old one's name, type and control
edges) or ``Editor.replace`` / ``take_name`` (several nodes, or several outputs).  ``ed.is_main``
tells whether the body is the main graph (whose output nodes keep their names); ``ed.ctx`` is the
``PassContext`` (options, warnings).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Optional, TypeVar

# const_of / const_shape live in the IR; re-exported here for the passes.
from ..ir.graph import Graph, Node, Value, const_of, const_shape  # noqa: F401
from ..options import ConvertOptions
from ..registry import Registry

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
        for body in graph.all_graphs():
            changed |= self.run_body(body, ctx, is_main=body is graph)
        return changed

    def run_body(self, graph: Graph, ctx: PassContext, *, is_main: bool) -> bool:
        raise NotImplementedError


class RewritePass(GraphPass):
    """A pass made of one node rule: ``ops`` it matches and ``rewrite(ed, node)``.

    Each body is swept once in node order (a snapshot: nodes the rule adds are not revisited in the
    same sweep); ``rewrite`` is called on every live node whose op is in ``ops`` (every node when
    ``ops`` is None) and returns True when it changed the graph.  Replaced nodes are removed at the
    end of the sweep.  ``sweeps`` > 1 repeats the sweep (toposorting in between) while it changes
    something, for rules that move things step by step.
    """

    ops: ClassVar[Optional[Collection[str]]] = None
    sweeps: ClassVar[int] = 1

    def start(self, ed: Editor) -> None:
        """Called before each sweep of a body (e.g. to reset per-body state)."""

    def rewrite(self, ed: Editor, node: Node) -> bool:
        raise NotImplementedError

    def matched_ops(self) -> Optional[Collection[str]]:
        return self.ops

    def run_body(self, graph: Graph, ctx: PassContext, *, is_main: bool) -> bool:
        ops = self.matched_ops()
        changed = False
        for _ in range(self.sweeps):
            ed = Editor(graph, ctx, is_main=is_main)
            self.start(ed)
            fired = False
            for node in list(graph.nodes):
                if (ops is None or node.op in ops) and ed.alive(node) and self.rewrite(ed, node):
                    fired = True
            fired = ed.finish() or fired
            if not fired:
                break
            changed = True
            if self.sweeps > 1:
                graph.toposort()
        return changed


Rule = Callable[["Editor", Node], bool]


class RuleTablePass(RewritePass):
    """A rewrite pass with one registered rule per op: ``rules`` maps an op name to
    ``rule(ed, node) -> bool`` (register with ``@RULES.register("Op", ...)``)."""

    rules: ClassVar[Registry[str, Rule]]

    def matched_ops(self) -> Optional[Collection[str]]:
        return self.rules.keys()

    def rewrite(self, ed: Editor, node: Node) -> bool:
        return self.rules.lookup(node.op)(ed, node)


P = TypeVar("P", bound=type)
PASSES: Registry[str, type] = Registry("pass")


def register_pass(cls: P) -> P:
    """Class decorator: registers a pass class under its ``name``."""
    PASSES.add(cls.name, cls)  # type: ignore[attr-defined]
    return cls


def get_pass(name: str) -> Pass:
    return PASSES.lookup(name)()


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
                    for body in graph.all_graphs():
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

def only_consumer(value: Value) -> Optional[Node]:
    """The single node reading ``value`` (and no graph output), else None."""
    consumers = {id(n): n for n, _ in value.uses}
    if len(consumers) != 1:
        return None
    return next(iter(consumers.values()))


def is_output(graph: Graph, value: Value) -> bool:
    return any(v is value for _, v in graph.outputs)


class Editor:
    """Batched node replacement for one pass over one graph body.

    ``replace`` rewires data and control edges at once but removes the replaced node only in
    ``finish`` (one sweep over the graph instead of one per node: passes stay linear).  Until then
    a replaced node has no inputs and no consumers; ``alive`` tells passes to skip it.
    """

    def __init__(self, graph: Graph, ctx: Optional[PassContext] = None, *, is_main: bool = True) -> None:
        self.graph = graph
        self.ctx = ctx if ctx is not None else PassContext()
        self.is_main = is_main  # the main graph: nodes producing its outputs keep their names
        self.doomed: dict[int, Node] = {}
        self._dependents: Optional[dict[int, list[Node]]] = None

    def alive(self, node: Node) -> bool:
        return id(node) not in self.doomed and self.graph.get(node.name) is node

    def control_dependents(self, node: Node) -> list[Node]:
        """Live nodes that list ``node`` among their control inputs."""
        if self._dependents is None:
            self._dependents = {}
            for other in self.graph.nodes:
                for dep in other.control_inputs:
                    self._dependents.setdefault(id(dep), []).append(other)
        found = self._dependents.get(id(node), [])
        return [n for n in found if id(n) not in self.doomed and any(c is node for c in n.control_inputs)]

    def add_control(self, node: Node, dep: Node) -> None:
        if dep is node or any(c is dep for c in node.control_inputs):
            return
        node.control_inputs.append(dep)
        if self._dependents is not None:
            self._dependents.setdefault(id(dep), []).append(node)

    def drop_control(self, node: Node, dep: Node) -> None:
        node.control_inputs = [c for c in node.control_inputs if c is not dep]

    def replace(self, old: Node, new_values: Sequence[Value], *, keep_controls: bool = False) -> None:
        """Consumers of ``old``'s outputs read ``new_values``; nodes that waited for ``old`` wait for
        the first new producer.  ``keep_controls``: the new producers also take over ``old``'s own
        control inputs (a fused node must wait for what each node it replaces waited for)."""
        producers = list({id(v.producer): v.producer for v in new_values}.values())
        if keep_controls:
            for producer in producers:
                for dep in old.control_inputs:
                    self.add_control(producer, dep)
        for out, new in zip(old.outputs, new_values):
            self.graph.replace_uses(out, new)
        for other in self.control_dependents(old):
            self.drop_control(other, old)
            for producer in producers[:1]:
                self.add_control(other, producer)
        self.graph.set_inputs(old, [])
        old.control_inputs = []
        self.doomed[id(old)] = old

    def replace_with(self, old: Node, op: str, inputs: Sequence[Value], attrs: Optional[dict] = None, *,
                     device: str = "", keep_controls: bool = True) -> Value:
        """Replaces ``old`` by one new ``op`` node that takes its name, the dtype and shape of its first
        output and (``keep_controls``) its control inputs; returns the new node's output.  Only
        ``old``'s first output is rewired: its other outputs must be unused."""
        out = old.outputs[0]
        name = take_name(self.graph, old)
        new = add(self.graph, op, inputs, attrs, name=name, like=out, device=device)
        self.replace(old, [new], keep_controls=keep_controls)
        return new

    def remove(self, old: Node) -> None:
        """Removes a node whose outputs nobody reads (its control dependents simply lose it)."""
        for other in self.control_dependents(old):
            self.drop_control(other, old)
        self.graph.set_inputs(old, [])
        old.control_inputs = []
        self.doomed[id(old)] = old

    def finish(self) -> bool:
        """Removes the replaced nodes; True when anything was replaced."""
        if self.doomed:
            self.graph.remove_nodes(list(self.doomed.values()))
        changed = bool(self.doomed)
        self.doomed = {}
        self._dependents = None
        return changed


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
