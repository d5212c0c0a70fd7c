"""The walk that lowers ONNX nodes one by one, for the main graph and for If/Loop/Scan bodies.

Each node goes to the handler registered for its op type and the model's opset.  A node that
cannot be converted (no handler, or its handler refuses) is recorded and its outputs are replaced by
``Unconverted`` stand-ins carrying the inferred dtype and shape, so the walk reaches every node and
the reader reports all problems together.  A refusal caused only by such a stand-in input is not
reported: its cause is the upstream node.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

from ...errors import InputError, UnsupportedError
from ...ir.graph import Value
from ...ir.types import Shape
from .names import tf_name
from .ops import OnnxContext, OnnxNode, lookup
from .ops.onnx_types import compute_dtype
from .problems import UNSUPPORTED_OP, NodeRefusal, Problem

_DEFAULT_DOMAINS = ("", "ai.onnx")
UNCONVERTED = "Unconverted"  # never written: the reader raises when any node is one


def node_attrs(node: Any) -> dict[str, Any]:
    """Protobuf-free attribute values; tensors as numpy, graphs as their GraphProto."""
    from onnx import helper, numpy_helper

    out: dict[str, Any] = {}
    for attr in node.attribute:
        if attr.type == 4:  # TENSOR
            try:
                out[attr.name] = numpy_helper.to_array(attr.t)
            except (ValueError, TypeError, KeyError, IndexError) as exc:  # dims contradict the data
                raise InputError(f"attribute {attr.name!r} of node {node.name!r} holds a tensor that cannot "
                                 f"be decoded ({' '.join(str(exc).split())[:200]})") from None
        elif attr.type == 5:  # GRAPH: If/Loop/Scan bodies
            out[attr.name] = attr.g
        elif attr.type in (10, 11):  # GRAPHS, SPARSE_TENSOR: handlers refuse these
            out[attr.name] = attr
        else:
            try:
                out[attr.name] = helper.get_attribute_value(attr)
            except (ValueError, TypeError) as exc:  # e.g. a ref_attr_name outside a function body
                raise InputError(f"attribute {attr.name!r} of node {node.name!r} has no usable value "
                                 f"({' '.join(str(exc).split())[:200]})") from None
    return out


def onnx_nodes(graph: Any) -> list[OnnxNode]:
    return [
        OnnxNode(proto.op_type, proto.name or f"node_{i}", list(proto.input), list(proto.output),
                 node_attrs(proto), proto.domain)
        for i, proto in enumerate(graph.node)
    ]


def tensor_dims(type_proto: Any) -> Optional[tuple[Optional[int], ...]]:
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in type_proto.tensor_type.shape.dim)


def record_types(ctx: OnnxContext, infos: Iterable[Any]) -> None:
    """Inferred dims and element types of the value_info / inputs / outputs of a graph."""
    for info in infos:
        dims = tensor_dims(info.type)
        if dims is not None:
            ctx.inferred[info.name] = dims
        if info.type.HasField("tensor_type") and info.type.tensor_type.elem_type:
            ctx.inferred_types[info.name] = int(info.type.tensor_type.elem_type)


def stand_in(ctx: OnnxContext, name: str) -> Value:
    """A placeholder value for ``name``, produced by something that could not be converted."""
    elem = ctx.inferred_types.get(name)
    try:
        dtype = compute_dtype(elem) if elem else None
    except UnsupportedError:
        dtype = None
    stub = ctx.graph.add_node(UNCONVERTED, name=ctx.graph.unique_name(tf_name(name, "n") + "/unconverted"))
    out = stub.outputs[0]
    out.dtype, out.shape = dtype, Shape.of(ctx.inferred.get(name))
    ctx.poisoned.add(id(out))
    return out


def _poison_outputs(ctx: OnnxContext, node: OnnxNode) -> None:
    for name in node.outputs:
        if name:
            ctx.values[name] = stand_in(ctx, name)


def _inputs_poisoned(ctx: OnnxContext, node: OnnxNode) -> bool:
    return any(name and id(ctx.values[name]) in ctx.poisoned for name in node.inputs)


def lower_nodes(ctx: OnnxContext, nodes: Iterable[OnnxNode], path: Path) -> None:
    """Lowers ``nodes`` in order into ``ctx.graph``, recording what cannot be converted."""
    for node in nodes:
        for name in node.inputs:
            if name and name not in ctx.values:
                outer = ctx.lookup_outer(name)
                if outer is None:
                    raise InputError(
                        f"{node.describe()} reads {name!r}, which no earlier node produces "
                        "(the graph is not topologically sorted or is truncated)",
                        path,
                    )
                ctx.values[name] = outer
        handler = lookup(node.op_type, ctx.opset) if node.domain in _DEFAULT_DOMAINS else None
        if handler is None:
            ctx.problems.append(Problem(node.qualified_op, node.name, UNSUPPORTED_OP))
            _poison_outputs(ctx, node)
            continue
        ctx.node = node
        ctx.prefix = tf_name(next((o for o in node.outputs if o), node.name), "n")
        tainted = _inputs_poisoned(ctx, node)
        try:
            outs = list(handler(ctx, node))
            for i, name in enumerate(node.outputs):
                if name and (i >= len(outs) or outs[i] is None):
                    raise ctx.refuse(f"output {i} is not supported")
        except NodeRefusal as exc:
            if not tainted:
                ctx.problems.append(Problem(exc.op, exc.node, exc.reason))
            _poison_outputs(ctx, node)
            continue
        except UnsupportedError as exc:
            if not tainted:
                ctx.problems.append(Problem(node.qualified_op, node.name, exc.message))
            _poison_outputs(ctx, node)
            continue
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
            if tainted:  # a stand-in without a dtype or shape tripped the handler
                _poison_outputs(ctx, node)
                continue
            # Attributes or inputs that contradict each other (a hostile or broken file) trip the
            # handler: refused by name rather than ending as an internal error.
            raise InputError(f"{node.describe()} could not be lowered: {type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:200]}", path) from None
        for i, name in enumerate(node.outputs):
            if not name:
                continue
            value = outs[i]
            dims = ctx.inferred.get(name)
            if dims is not None and value.producer.op != "Const":
                value.shape = Shape.of(dims)
            if tainted:
                ctx.poisoned.add(id(value))
            ctx.values[name] = value


__all__ = [
    "UNCONVERTED", "lower_nodes", "node_attrs", "onnx_nodes", "record_types", "stand_in", "tensor_dims",
]
