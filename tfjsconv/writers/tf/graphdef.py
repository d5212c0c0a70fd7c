"""IR Graph -> TensorFlow GraphDef: NodeDefs with the attrs TensorFlow requires, and the function
library (``If``/``While`` bodies, and the SavedModel's own functions) as FunctionDefs.

Names: node names are made valid for TensorFlow (``[A-Za-z0-9.][A-Za-z0-9_./>-]*``) and unique.
Graph-level tensors are ``node`` / ``node:i``; inside a FunctionDef they are ``arg`` for an argument
and ``node:output_arg:i`` for a node output (TensorFlow's function form; the output arg comes from
the op's OpDef).  Function argument and output names are lower-case identifiers, as ``tf.function``
writes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Optional

from ..._proto import function_pb2, graph_pb2
from ...errors import UnsupportedError
from ...ir.graph import Graph, Node, Value
from ...ir.types import DType, Shape
from ...readers.tf.opdefs import OpDefs
from .node_attrs import TypedAttrs, node_attrs, output_dtypes
from .op_table import op_spec
from .protos import attr_value, shape_proto, tensor_proto
from .variables import HANDLE_DATA_ATTR

# Graphs that do not say which TensorFlow made them (ONNX, hand-built) get this producer version.
DEFAULT_PRODUCER = 1205
MIN_CONSUMER = 12
_NODE_NAME = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_./>-]*\Z")
_OPDEFS = OpDefs()


class Names:
    """Valid, unique names within one graph or function."""

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        self.taken: set[str] = set(reserved)

    def claim(self, wanted: str, pattern: re.Pattern[str] = _NODE_NAME, lower: bool = False) -> str:
        base = wanted.lower() if lower else wanted
        base = re.sub(r"[^A-Za-z0-9_./>-]" if not lower else r"[^a-z0-9_]", "_", base) or "node"
        if not pattern.match(base):
            base = ("a" if lower else "n") + base
        candidate, i = base, 1
        while candidate in self.taken:
            candidate = f"{base}_{i}"
            i += 1
        self.taken.add(candidate)
        return candidate


ARG_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def _out_arg(node: Node, attrs: dict[str, Any], index: int) -> tuple[str, int]:
    """(output arg name, index inside it) of output ``index``, for ``node:arg:i`` function names."""
    spec = op_spec(node.op)
    if spec is not None:
        found = spec.output_arg(attrs, index)
        if found is not None:
            return found
    args = _OPDEFS.output_args(node.op)
    if args is not None:
        flat = 0
        for arg in args:
            count = OpDefs._arg_count(arg, attrs)
            if index < flat + count:
                return arg.name, index - flat
            flat += count
    raise UnsupportedError(f"node {node.name} ({node.op}): cannot name its output {index} in a function body")


class Encoder:
    """Writes the nodes of one graph (``function=False``) or one function body into protos."""

    def __init__(self, graph: Graph, function: bool, reserved: Iterable[str] = ()) -> None:
        self.graph = graph
        self.function = function
        self.names = Names(reserved)
        self.args: dict[int, str] = {}
        self.node_names: dict[int, str] = {}
        self.attrs: dict[int, TypedAttrs] = {}
        if function:
            arg_names = Names()
            for node in graph.inputs:
                self.args[id(node)] = arg_names.claim(node.name, ARG_NAME, lower=True)
            self.names.taken |= arg_names.taken
        for node in graph.nodes:
            if id(node) not in self.args:
                self.node_names[id(node)] = self.names.claim(node.name)

    def typed_attrs(self, node: Node) -> TypedAttrs:
        found = self.attrs.get(id(node))
        if found is None:
            found = node_attrs(node) if node.op != "Const" else {}
            self.attrs[id(node)] = found
            if node.op != "Const":
                plain = {k: v for k, (v, _) in found.items()}
                for value, dtype in zip(node.outputs, output_dtypes(node, plain)):
                    if dtype is not None:
                        value.dtype = dtype
        return found

    def tensor(self, value: Value) -> str:
        producer = value.producer
        if id(producer) in self.args:
            return self.args[id(producer)]
        name = self.node_names[id(producer)]
        if not self.function:
            return name if value.index == 0 else f"{name}:{value.index}"
        plain = {k: v for k, (v, _) in self.typed_attrs(producer).items()}
        if producer.op == "Const":
            return f"{name}:output:0"
        arg, index = _out_arg(producer, plain, value.index)
        return f"{name}:{arg}:{index}"

    def node_def(self, node: Node, out: Any) -> None:
        out.name = self.node_names[id(node)]
        out.op = node.op
        out.input.extend(self.tensor(v) for v in node.inputs)
        out.input.extend("^" + self.node_names[id(c)] for c in node.control_inputs
                         if id(c) in self.node_names)
        if node.op == "Const":
            dtype = node.attrs["dtype"]
            attr_value(dtype, "type", out.attr["dtype"])
            tensor_proto(node.attrs["value"], dtype, out.attr["value"].tensor)
            return
        for key, (value, kind) in sorted(self.typed_attrs(node).items()):
            attr_value(value, kind, out.attr[key])

    def nodes(self, out: Any) -> None:
        """Every non-argument node, producers first (so dtypes are known when consumers ask)."""
        self.graph.toposort()
        for node in self.graph.nodes:
            if id(node) not in self.args:
                self.typed_attrs(node)
        for node in self.graph.nodes:
            if id(node) not in self.args:
                self.node_def(node, out.add())

    def stateful(self) -> bool:
        return any((op_spec(n.op) is not None and op_spec(n.op).stateful)  # type: ignore[union-attr]
                   for n in self.graph.nodes)


def value_dtype(value: Value, where: str) -> DType:
    if isinstance(value.dtype, DType):
        return value.dtype
    producer = value.producer
    found = producer.attrs.get("dtype") if producer.op in ("Placeholder", "Const") else None
    if isinstance(found, DType):
        return found
    raise UnsupportedError(f"{where}: the element type of {value.name} is unknown")


def _sinks(body: Graph, args: dict[int, str]) -> list[Node]:
    """Nodes whose effect nothing reads (table imports, variable assigns): TensorFlow prunes them
    from a function body unless the function lists them as control outputs."""
    read = {id(v.producer) for n in body.nodes for v in n.inputs}
    read |= {id(c) for n in body.nodes for c in n.control_inputs}
    read |= {id(v.producer) for _, v in body.outputs}
    return [n for n in body.nodes if id(n) not in read and id(n) not in args and n.op != "Const"]


def function_def(name: str, body: Graph, out: Optional[Any] = None,
                 output_names: Optional[list[str]] = None) -> Any:
    """A FunctionDef for ``body``: its ``inputs`` become the arguments, its ``outputs`` the results.

    A DT_RESOURCE argument whose Placeholder carries ``HANDLE_DATA_ATTR`` (a variable) records the
    variable's dtype and shape, as TensorFlow does, so that reads of it have known shapes.
    """
    proto = out if out is not None else function_pb2.FunctionDef()
    encoder = Encoder(body, function=True)
    proto.signature.name = name
    input_shapes = proto.attr["_input_shapes"].list
    input_shapes.SetInParent()
    for node in body.inputs:
        arg = proto.signature.input_arg.add()
        arg.name = encoder.args[id(node)]
        arg.type = int(value_dtype(node.output(0), f"function {name} argument {node.name}"))
        handle = node.attrs.get(HANDLE_DATA_ATTR)
        if handle is not None:
            data = arg.handle_data.add()
            data.dtype = int(handle[0])
            shape_proto(handle[1], data.shape)
        shape = node.attrs.get("shape")
        shape_proto(shape if isinstance(shape, Shape) else node.output(0).shape, input_shapes.shape.add())
    encoder.nodes(proto.node_def)
    for sink in _sinks(body, encoder.args):
        sink_name = encoder.node_names[id(sink)]
        proto.signature.control_output.append(sink_name)
        proto.control_ret[sink_name] = sink_name
    result_names = Names()
    wanted = output_names or [key for key, _ in body.outputs]
    for key, (_, value) in zip(wanted, body.outputs):
        arg = proto.signature.output_arg.add()
        arg.name = result_names.claim(key, ARG_NAME, lower=True)
        arg.type = int(value_dtype(value, f"function {name} output {key}"))
        proto.ret[arg.name] = encoder.tensor(value)
    proto.signature.is_stateful = encoder.stateful()
    return proto


def add_library(graph: Graph, library: Any) -> None:
    for name, body in graph.library():
        function_def(name, body, library.function.add())


def graph_def(graph: Graph, producer: Optional[int] = None) -> tuple[Any, Encoder]:
    """The GraphDef of ``graph`` with its library; the Encoder tells the names it gave each node."""
    proto = graph_pb2.GraphDef()
    encoder = Encoder(graph, function=False)
    encoder.nodes(proto.node)
    add_library(graph, proto.library)
    version = producer if producer is not None else int(graph.attrs.get("producer") or 0)
    proto.versions.producer = version if version > 0 else DEFAULT_PRODUCER
    proto.versions.min_consumer = MIN_CONSUMER
    return proto, encoder
