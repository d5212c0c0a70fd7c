"""Weights as TensorFlow variables: lifted out of a graph into resource arguments, and saved as a
TF2 object-based checkpoint (``variables/variables.{index,data-*}``).

A TF.js graph model only has constants.  The model's float tensors with more than one element (its
kernels, biases, embeddings...) become variables again, so that the SavedModel can be fine-tuned;
small and integer constants (shapes, axes, scalars) stay constants, as TensorFlow keeps them.

Each variable has a path of object-graph names from the root (``("dense_kernel",)``, or
``("layer_with_weights-0", "kernel")`` for a Keras model); its checkpoint key is that path with
TensorFlow's escaping (``.`` -> ``..``, ``/`` -> ``.S``) followed by ``/.ATTRIBUTES/VARIABLE_VALUE``,
and the checkpoint's ``_CHECKPOINTABLE_OBJECT_GRAPH`` records the same tree, which is how
``tf.saved_model.load`` and ``tf.train.Checkpoint`` find each value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ..._proto.trackable_object_graph_pb2 import TrackableObjectGraph
from ...ir.graph import ArrayLike, Graph, Node
from ...ir.types import DType, Shape
from ...readers.tf.bundle import OBJECT_GRAPH_KEY
from .bundle import BundleWriter

VARIABLE_VALUE = "VARIABLE_VALUE"
HANDLE_DATA_ATTR = "_handle_data"  # (DType, Shape) of the variable behind a DT_RESOURCE Placeholder


def escape(local_name: str) -> str:
    return local_name.replace(".", "..").replace("/", ".S")


@dataclass
class Variable:
    path: tuple[str, ...]
    name: str
    value: ArrayLike
    dtype: DType
    trainable: bool = True
    node_id: Optional[int] = None  # its object-graph node, when the caller built the object graph

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.value.shape)

    @property
    def checkpoint_key(self) -> str:
        return "/".join(escape(p) for p in self.path) + f"/.ATTRIBUTES/{VARIABLE_VALUE}"


def is_weight(node: Node) -> bool:
    """The default rule: float constants with more than one element become variables."""
    value = node.attrs.get("value")
    dtype = node.attrs.get("dtype")
    if value is None or not isinstance(dtype, DType) or dtype.numpy.kind != "f":
        return False
    return int(np.prod(value.shape, dtype=np.int64)) > 1


def lift_variables(graph: Graph, choose: Callable[[Node], Optional[Variable]]) -> list[tuple[Node, Variable]]:
    """Replaces each Const of ``graph`` (not of its functions) for which ``choose`` gives a variable by
    a ``ReadVariableOp`` of a DT_RESOURCE Placeholder; returns the (placeholder, variable) pairs, one
    per variable.  The read keeps the Const's name."""
    lifted: list[tuple[Node, Variable]] = []
    handles: dict[int, Node] = {}
    ordered_after = [n for n in graph.nodes if n.control_inputs]  # nodes that may wait for a Const
    for node in list(graph.nodes):
        variable = choose(node) if node.op == "Const" else None
        if variable is None:
            continue
        handle = handles.get(id(variable))
        if handle is None:
            shape = Shape.of(variable.shape)
            handle = graph.add_node("Placeholder", name=graph.unique_name(node.name + "/resource"),
                                    attrs={"dtype": DType.RESOURCE, "shape": Shape.of(()),
                                           HANDLE_DATA_ATTR: (variable.dtype, shape)})
            handle.output(0).dtype = DType.RESOURCE
            handles[id(variable)] = handle
            lifted.append((handle, variable))
        read = graph.add_node("ReadVariableOp", [handle.output(0)], {"dtype": variable.dtype},
                              name=graph.unique_name(node.name + "/read"))
        read.output(0).dtype = variable.dtype
        read.output(0).shape = Shape.of(variable.shape)
        graph.replace_uses(node.output(0), read.output(0))
        for other in ordered_after:
            if node in other.control_inputs:
                other.control_inputs = [read if c is node else c for c in other.control_inputs]
        name = node.name
        graph.remove_node(node)
        graph.rename(read, name)
    return lifted


def weights_by_rule(names: Callable[[Node], tuple[str, ...]],
                    rule: Callable[[Node], bool] = is_weight) -> Callable[[Node], Optional[Variable]]:
    """A ``choose`` for ``lift_variables``: a new variable (path from ``names``) per Const ``rule`` picks."""
    def choose(node: Node) -> Optional[Variable]:
        if not rule(node):
            return None
        return Variable(names(node), node.name, node.attrs["value"], node.attrs["dtype"])
    return choose


def child_names(existing: Sequence[str] = ()) -> Callable[[Node], tuple[str, ...]]:
    """Root-level object names made from node names: ``dense/kernel`` -> ``dense_kernel``, unique."""
    taken = set(existing)

    def name(node: Node) -> tuple[str, ...]:
        base = re.sub(r"[^A-Za-z0-9_]", "_", node.name).strip("_") or "variable"
        if base[0].isdigit():
            base = "v_" + base
        candidate, i = base, 1
        while candidate in taken:
            candidate = f"{base}_{i}"
            i += 1
        taken.add(candidate)
        return (candidate,)

    return name


def checkpoint_object_graph(variables: Sequence[Variable]) -> Any:
    """The TrackableObjectGraph of the tree the variables' paths describe (root = node 0)."""
    graph = TrackableObjectGraph()
    graph.nodes.add()
    ids: dict[tuple[str, ...], int] = {(): 0}
    for variable in variables:
        for depth in range(1, len(variable.path) + 1):
            path = variable.path[:depth]
            if path in ids:
                continue
            ids[path] = len(graph.nodes)
            graph.nodes.add()
            reference = graph.nodes[ids[path[:-1]]].children.add()
            reference.node_id = ids[path]
            reference.local_name = path[-1]
        attribute = graph.nodes[ids[variable.path]].attributes.add()
        attribute.name = VARIABLE_VALUE
        attribute.full_name = variable.name
        attribute.checkpoint_key = variable.checkpoint_key
    return graph


def write_checkpoint(prefix: Path, variables: Sequence[Variable],
                     object_graph: Optional[Any] = None) -> list[Path]:
    """The variables (streamed, one at a time) plus the object graph (by default the tree of the
    variables' paths), as one tensor bundle."""
    writer = BundleWriter(prefix)
    for variable in variables:
        writer.add(variable.checkpoint_key, variable.value, variable.dtype)
    graph = (object_graph or checkpoint_object_graph(variables)).SerializeToString()
    writer.add(OBJECT_GRAPH_KEY, np.array(graph, dtype=object), DType.STRING)
    return writer.finish()
