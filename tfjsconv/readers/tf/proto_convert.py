"""TensorFlow GraphDef NodeDefs -> IR Graph (attr values are decoded by ``attr_values``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ...errors import InputError
from ...ir.graph import Graph, LazyArray, Node, Value
from ...ir.types import DType, Shape
from .attr_values import AttrPlaceholder, node_attrs, split_tensor_name
from .opdefs import OpDefs


def _const_value(node: Node, where: str) -> None:
    value = node.attrs.get("value")
    if not isinstance(value, (np.ndarray, LazyArray)):  # LazyArray: a large tensor left in the file
        raise InputError(f"{where}: Const node {node.name} has no tensor value")
    dtype = node.attrs.get("dtype")
    if not isinstance(dtype, DType):
        node.attrs["dtype"] = DType.from_numpy(value.dtype)
    if node.attrs["dtype"] == DType.BFLOAT16:
        node.attrs["dtype"] = DType.FLOAT


def set_output_types(node: Node, opdefs: OpDefs) -> None:
    """Output Values get dtypes (from the OpDef) and shapes (from ``_output_shapes``) when known."""
    dtypes = opdefs.output_dtypes(node.op, node.attrs)
    shapes = node.attrs.get("_output_shapes")
    count = len(dtypes) if dtypes is not None else (len(shapes) if isinstance(shapes, list) else 1)
    for i in range(count):
        value = node.output(i)
        if dtypes is not None and dtypes[i] is not None:
            value.dtype = dtypes[i]
        if isinstance(shapes, list) and i < len(shapes) and isinstance(shapes[i], Shape):
            value.shape = shapes[i]


def graph_from_node_defs(node_defs: Iterable[Any], opdefs: OpDefs, *, name: str = "graph",
                         source: Optional[Path] = None,
                         attr_hook: Optional[Callable[[Any, dict[str, Any]], None]] = None) -> Graph:
    """Builds a Graph from GraphDef-level NodeDefs (inputs named ``node:flat_index``)."""
    graph = Graph(name=name)
    defs = list(node_defs)
    for nd in defs:
        if nd.name in graph:
            raise InputError(f"two nodes are named {nd.name!r}", source)
        attrs = node_attrs(nd)
        for key, value in attrs.items():
            # Placeholders are substituted when a function body is inlined or kept as a function;
            # one left here sits in a graph, where nothing can fill it in.
            if isinstance(value, AttrPlaceholder):
                raise InputError(f"node {nd.name} attr {key} refers to the function attr {value.name!r} "
                                 "outside any function", source)
        opdefs.fill_defaults(nd.op, attrs)
        if attr_hook is not None:
            attr_hook(nd, attrs)
        node = graph.add_node(nd.op, attrs=attrs, name=nd.name, device="", num_outputs=0)
        if node.name != nd.name:
            raise InputError(f"node name {nd.name!r} clashes with another node", source)
        if nd.op == "Const":
            _const_value(node, str(source or name))
        set_output_types(node, opdefs)
        if nd.op == "Placeholder":
            node.output(0).dtype = attrs.get("dtype")
            if isinstance(attrs.get("shape"), Shape):
                node.output(0).shape = attrs["shape"]
    for nd in defs:
        node = graph.node(nd.name)
        for text in nd.input:
            if text.startswith("^"):
                other = graph.get(text[1:])
                if other is None:
                    raise InputError(f"node {nd.name} has a control input from unknown node {text[1:]!r}",
                                     source)
                if other not in node.control_inputs:
                    node.control_inputs.append(other)
                continue
            producer_name, index = split_tensor_name(text)
            producer = graph.get(producer_name)
            if producer is None:
                raise InputError(f"node {nd.name} reads {text!r}, which no node produces", source)
            graph._attach(node, producer.output(index))
    return graph


def input_values(graph: Graph, names: Sequence[str], source: Optional[Path] = None) -> list[Value]:
    out = []
    for text in names:
        producer_name, index = split_tensor_name(text)
        producer = graph.get(producer_name)
        if producer is None:
            raise InputError(f"tensor {text!r} does not exist in the graph", source)
        out.append(producer.output(index))
    return out
