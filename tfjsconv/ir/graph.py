"""The graph IR: TF-op-dialect nodes joined by object references, with no protobuf inside.

A ``Node`` is one TF op (``op`` is the exact TF / TF.js op name).  Each of its outputs is a ``Value``;
a node's data inputs are Values produced by other nodes, and its control inputs are Nodes.  Graph
inputs are ``Placeholder`` nodes and constants are ``Const`` nodes whose ``attrs["value"]`` holds a
numpy array or a ``LazyArray`` (weights read from disk on first use).  Every mutation goes through
``Graph`` methods so that ``Value.uses`` stays exact.

One helper per job, used everywhere instead of inline copies:

* ``graph.all_graphs()`` / ``graph.library()``: the walk over a graph and every function body of its
  library (nested libraries included);
* ``const_of(value)``: the array behind a Const output (else None), ``const_shape(value)`` its shape
  without reading it; ``as_array`` / ``read_array`` turn an array-or-LazyArray into an array, keeping
  small lazy values or not keeping them (streaming);
* ``ir.attrs.attr_text(value)``: a string attr (bytes or str) as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

import numpy as np

from .types import DType, Shape

# LazyArrays up to this size keep their value once read; bigger ones are read again on every use, so
# that no weight stays in memory after the pass or writer that needed it has moved on.
CACHE_LIMIT = 64 * 1024


class LazyArray:
    """A constant read (or computed) on demand: a memory-mapped checkpoint or ONNX tensor, an HDF5
    dataset, a folded weight recomputed from its sources (``ir.derived``)."""

    __slots__ = ("dtype", "shape", "_load", "_cached")

    def __init__(self, dtype: np.dtype, shape: tuple[int, ...], load: Callable[[], np.ndarray]) -> None:
        self.dtype = np.dtype(dtype)
        self.shape = tuple(shape)
        self._load = load
        self._cached: Optional[np.ndarray] = None

    @property
    def nbytes(self) -> int:
        count = 1
        for dim in self.shape:
            count *= int(dim)
        return count * self.dtype.itemsize

    def materialize(self) -> np.ndarray:
        if self._cached is not None:
            return self._cached
        array = self._load()
        if array.nbytes <= CACHE_LIMIT:
            self._cached = array
        return array

    def load(self) -> np.ndarray:
        """The array without caching it (the weights writer streams: one weight in memory at a time)."""
        return self._cached if self._cached is not None else self._load()


ArrayLike = Union[np.ndarray, LazyArray]


def as_array(value: ArrayLike) -> np.ndarray:
    """The values; a LazyArray is read once and kept (later reads are free)."""
    return value.materialize() if isinstance(value, LazyArray) else value


def read_array(value: ArrayLike) -> np.ndarray:
    """The values without keeping a LazyArray's in memory (streaming: one weight at a time)."""
    return value.load() if isinstance(value, LazyArray) else np.asarray(value)


class Value:
    """One output tensor of a node."""

    __slots__ = ("producer", "index", "dtype", "shape", "uses")

    def __init__(self, producer: Node, index: int, dtype: Optional[DType] = None,
                 shape: Optional[Shape] = None) -> None:
        self.producer = producer
        self.index = index
        self.dtype = dtype
        self.shape = shape
        self.uses: list[tuple[Node, int]] = []  # (consumer, input position)

    @property
    def name(self) -> str:
        """GraphDef tensor name: ``node`` for output 0, ``node:i`` otherwise."""
        return self.producer.name if self.index == 0 else f"{self.producer.name}:{self.index}"

    def __repr__(self) -> str:
        return f"Value({self.name})"


class Node:
    __slots__ = ("name", "op", "inputs", "control_inputs", "attrs", "outputs", "device")

    def __init__(self, name: str, op: str, attrs: Optional[dict[str, Any]] = None, device: str = "") -> None:
        self.name = name
        self.op = op
        self.inputs: list[Value] = []
        self.control_inputs: list[Node] = []
        self.attrs: dict[str, Any] = dict(attrs or {})
        self.outputs: list[Value] = []
        self.device = device

    def output(self, index: int = 0) -> Value:
        while len(self.outputs) <= index:  # outputs are created as they are referenced
            self.outputs.append(Value(self, len(self.outputs)))
        return self.outputs[index]

    def __repr__(self) -> str:
        return f"Node({self.name}: {self.op})"


@dataclass
class Graph:
    """A main graph or a library function body.

    ``inputs`` are Placeholder nodes in argument order; ``outputs`` pairs each output key (a
    signature key, or a function's output-arg name) with the Value it returns.
    """

    name: str = "graph"
    nodes: list[Node] = field(default_factory=list)
    inputs: list[Node] = field(default_factory=list)
    outputs: list[tuple[str, Value]] = field(default_factory=list)
    functions: dict[str, Graph] = field(default_factory=dict)
    # Input keys as the user knows them (signature keys), parallel to ``inputs``.
    input_keys: list[str] = field(default_factory=list)
    # Function graphs: output arg -> DType for signature writing; function attrs.
    attrs: dict[str, Any] = field(default_factory=dict)
    _by_name: dict[str, Node] = field(default_factory=dict, repr=False)

    # ----- construction -------------------------------------------------------------------------
    def unique_name(self, prefix: str) -> str:
        if prefix not in self._by_name:
            return prefix
        i = 1
        while f"{prefix}_{i}" in self._by_name:
            i += 1
        return f"{prefix}_{i}"

    def add_node(self, op: str, inputs: Sequence[Value] = (), attrs: Optional[dict[str, Any]] = None,
                 name: Optional[str] = None, control_inputs: Sequence[Node] = (), device: str = "",
                 num_outputs: int = 1) -> Node:
        node_name = self.unique_name(name or op)
        node = Node(node_name, op, attrs, device)
        self.nodes.append(node)
        self._by_name[node_name] = node
        for value in inputs:
            self._attach(node, value)
        node.control_inputs.extend(control_inputs)
        for i in range(num_outputs):
            node.output(i)
        return node

    def add_const(self, value: ArrayLike, name: Optional[str] = None, dtype: Optional[DType] = None) -> Node:
        np_dtype = value.dtype
        dt = dtype or DType.from_numpy(np_dtype)
        node = self.add_node("Const", attrs={"value": value, "dtype": dt}, name=name or "Const")
        node.outputs[0].dtype = dt
        node.outputs[0].shape = Shape.of(tuple(value.shape))
        return node

    def _attach(self, node: Node, value: Value) -> None:
        value.uses.append((node, len(node.inputs)))
        node.inputs.append(value)

    # ----- queries ------------------------------------------------------------------------------
    def node(self, name: str) -> Node:
        return self._by_name[name]

    def get(self, name: str) -> Optional[Node]:
        return self._by_name.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Node]:
        return iter(list(self.nodes))

    def consumers(self, value: Value) -> list[Node]:
        return [n for n, _ in value.uses]

    def find(self, op: str) -> list[Node]:
        return [n for n in self.nodes if n.op == op]

    def op_histogram(self) -> dict[str, int]:
        hist: dict[str, int] = {}
        for n in self.nodes:
            hist[n.op] = hist.get(n.op, 0) + 1
        return dict(sorted(hist.items()))

    def output_values(self) -> list[Value]:
        return [v for _, v in self.outputs]

    def library(self) -> Iterator[tuple[str, Graph]]:
        """``(name, body)`` of every function reachable from this graph's library, nested libraries
        included, each name once, breadth-first in library order.  The one walk over a library:
        every pass, check and writer that visits function bodies goes through here."""
        seen: set[str] = set()
        pending = list(self.functions.items())
        while pending:
            name, body = pending.pop(0)
            if name in seen:
                continue
            seen.add(name)
            yield name, body
            pending.extend(body.functions.items())

    def all_graphs(self) -> Iterator[Graph]:
        """This graph, then every function body of ``library()``, each body once."""
        yield self
        seen = {id(self)}
        for _, body in self.library():
            if id(body) not in seen:
                seen.add(id(body))
                yield body

    # ----- mutation -----------------------------------------------------------------------------
    def set_input(self, node: Node, position: int, value: Value) -> None:
        old = node.inputs[position]
        old.uses.remove((node, position))
        node.inputs[position] = value
        value.uses.append((node, position))

    def set_inputs(self, node: Node, values: Sequence[Value]) -> None:
        for position, old in enumerate(node.inputs):
            old.uses.remove((node, position))
        node.inputs = []
        for value in values:
            self._attach(node, value)

    def replace_uses(self, old: Value, new: Value) -> None:
        """Every consumer of ``old`` (and every graph output naming it) now reads ``new``."""
        if old is new:
            return
        for consumer, position in list(old.uses):
            consumer.inputs[position] = new
            new.uses.append((consumer, position))
        old.uses.clear()
        self.outputs = [(key, new if v is old else v) for key, v in self.outputs]

    def remove_node(self, node: Node) -> None:
        """Removes a node whose outputs are no longer used (raises otherwise)."""
        for value in node.outputs:
            if value.uses:
                raise ValueError(f"cannot remove {node.name}: {value.name} is still used by "
                                 f"{value.uses[0][0].name}")
            if any(v is value for _, v in self.outputs):
                raise ValueError(f"cannot remove {node.name}: it is a graph output")
        for position, value in enumerate(node.inputs):
            value.uses.remove((node, position))
        node.inputs = []
        for other in self.nodes:
            if node in other.control_inputs:
                other.control_inputs = [c for c in other.control_inputs if c is not node]
        self.nodes.remove(node)
        del self._by_name[node.name]
        if node in self.inputs:
            index = self.inputs.index(node)
            del self.inputs[index]
            if index < len(self.input_keys):
                del self.input_keys[index]

    def remove_nodes(self, doomed: Iterable[Node]) -> None:
        """Removes a set of nodes that may feed each other but nothing outside the set."""
        doomed_set = set(doomed)
        for node in doomed_set:
            for position, value in enumerate(node.inputs):
                value.uses.remove((node, position))
            node.inputs = []
        for node in doomed_set:
            for value in node.outputs:
                if value.uses:
                    raise ValueError(f"cannot remove {node.name}: {value.name} is still used by "
                                     f"{value.uses[0][0].name}")
            del self._by_name[node.name]
        self.nodes = [n for n in self.nodes if n not in doomed_set]
        for other in self.nodes:
            if any(c in doomed_set for c in other.control_inputs):
                other.control_inputs = [c for c in other.control_inputs if c not in doomed_set]
        keep = [(n, k) for n, k in zip(self.inputs, self.input_keys or [None] * len(self.inputs))
                if n not in doomed_set]
        self.inputs = [n for n, _ in keep]
        if self.input_keys:
            self.input_keys = [k for _, k in keep]

    def rename(self, node: Node, new_name: str) -> None:
        if new_name in self._by_name and self._by_name[new_name] is not node:
            raise ValueError(f"a node named {new_name} already exists")
        del self._by_name[node.name]
        node.name = new_name
        self._by_name[new_name] = node

    def toposort(self) -> None:
        """Orders nodes so that producers (data and control) come first; keeps the order otherwise."""
        order: list[Node] = []
        state: dict[int, int] = {}  # id -> 1 visiting, 2 done
        for root in self.nodes:
            if state.get(id(root)) == 2:
                continue
            stack: list[tuple[Node, bool]] = [(root, False)]
            while stack:
                node, expanded = stack.pop()
                key = id(node)
                if expanded:
                    state[key] = 2
                    order.append(node)
                    continue
                if state.get(key) == 2:
                    continue
                if state.get(key) == 1:
                    continue
                state[key] = 1
                stack.append((node, True))
                # TF1 loops feed NextIteration back into Merge: that edge closes the loop, it is
                # not an ordering constraint.
                deps = [v.producer for v in node.inputs
                        if not (node.op == "Merge" and v.producer.op == "NextIteration")]
                deps += list(node.control_inputs)
                for dep in reversed(deps):
                    if state.get(id(dep)) != 2:
                        if state.get(id(dep)) == 1:
                            raise ValueError(f"cycle in graph {self.name} through {dep.name}")
                        stack.append((dep, False))
        self.nodes = order

    def prune(self, keep: Iterable[Node] = ()) -> int:
        """Drops nodes that no output (nor ``keep``) depends on; returns how many were dropped."""
        live: set[int] = set()
        stack = [v.producer for v in self.output_values()] + list(keep) + list(self.inputs)
        while stack:
            node = stack.pop()
            if id(node) in live:
                continue
            live.add(id(node))
            stack.extend(v.producer for v in node.inputs)
            stack.extend(node.control_inputs)
        dead = [n for n in self.nodes if id(n) not in live]
        if dead:
            self.remove_nodes(dead)
        return len(dead)


def const_of(value: Optional[Value], *, cache: bool = True) -> Optional[np.ndarray]:
    """The array behind ``value`` when a Const produces it, else None (also for None): the one way
    to read a constant.  ``cache=False`` reads a LazyArray without keeping it (``read_array``)."""
    if value is None or value.producer.op != "Const":
        return None
    data = value.producer.attrs["value"]
    return as_array(data) if cache else read_array(data)


def const_shape(value: Optional[Value]) -> Optional[tuple[int, ...]]:
    """The shape of the Const behind ``value`` (None when it is not a Const), without reading it."""
    if value is None or value.producer.op != "Const":
        return None
    return tuple(int(d) for d in value.producer.attrs["value"].shape)
