"""The attrs a NodeDef needs for TensorFlow to accept it, from the op's OpDef (``op_table``).

TensorFlow rejects a NodeDef that lacks an attr without a default, or that has one its OpDef does
not declare.  Graph models keep most attrs, but TF.js ignores several (and nodes the converter added
may carry only what TF.js reads), so each node's attrs are rebuilt: declared attrs are kept, type
attrs (``T``, ``Tidx``...), counts (``N``) and type lists missing from the node are inferred from the
dtypes of its inputs (or outputs), and defaults are written explicitly.  Private attrs (leading
``_``) are dropped.  Ops the table lacks (TensorFlow ops TF.js does not run, kept only with
``--skip_op_check``) keep their attrs as they are.
"""

from __future__ import annotations

from typing import Any, Optional

from ...errors import UnsupportedError
from ...ir.graph import Node, Value
from ...ir.types import DType, Shape
from .op_table import OpSpec, arg_count, op_spec

# Attr value with the OpDef attr type ("int", "list(type)", ...) when the op is known.
TypedAttrs = dict[str, tuple[Any, Optional[str]]]


def _partition(spec: OpSpec, node: Node, attrs: dict[str, Any]) -> list[list[Value]]:
    counts = [arg_count(arg, attrs) for arg in spec.inputs]
    open_args = [i for i, count in enumerate(counts) if count is None]
    fixed = sum(c for c in counts if c is not None)
    if len(open_args) == 1:
        counts[open_args[0]] = len(node.inputs) - fixed
    elif open_args:
        raise UnsupportedError(f"node {node.name} ({node.op}): cannot tell how its {len(node.inputs)} inputs "
                               "split between the op's variadic arguments (count attrs missing)")
    total = sum(c for c in counts if c is not None)
    if total != len(node.inputs) or any(c is not None and c < 0 for c in counts):
        raise UnsupportedError(f"node {node.name} ({node.op}) has {len(node.inputs)} inputs; the op takes "
                               f"{total}")
    groups, at = [], 0
    for count in counts:
        assert count is not None
        groups.append(node.inputs[at:at + count])
        at += count
    return groups


def _dtype(value: Value, node: Node) -> DType:
    if isinstance(value.dtype, DType):
        return value.dtype
    raise UnsupportedError(f"node {node.name} ({node.op}): the element type of its input {value.name} "
                           "is unknown")


def _infer_from_inputs(spec: OpSpec, node: Node, attrs: dict[str, Any]) -> None:
    """Type attrs bound to inputs follow the inputs' dtypes, overriding what the node says: producers
    are typed first (from their own OpDefs), and TF.js - which ignores most type attrs - may have
    been handed a wrong one that TensorFlow would enforce."""
    for arg, values in zip(spec.inputs, _partition(spec, node, attrs)):
        if arg.number_attr and arg.number_attr not in attrs:
            attrs[arg.number_attr] = len(values)
        if arg.type_attr and values and (arg.type_attr not in attrs or isinstance(values[0].dtype, DType)):
            attrs[arg.type_attr] = _dtype(values[0], node)
        if arg.type_list_attr and (arg.type_list_attr not in attrs
                                   or all(isinstance(v.dtype, DType) for v in values)):
            attrs[arg.type_list_attr] = [_dtype(v, node) for v in values]


def _infer_from_outputs(spec: OpSpec, node: Node, attrs: dict[str, Any]) -> None:
    at = 0
    for arg in spec.outputs:
        count = arg_count(arg, attrs)
        if count is None:
            if arg.type_list_attr and arg.type_list_attr not in attrs:
                found = [v.dtype for v in node.outputs[at:]]
                if found and all(isinstance(d, DType) for d in found):
                    attrs[arg.type_list_attr] = found
            return
        if arg.type_attr and arg.type_attr not in attrs and at < len(node.outputs):
            if isinstance(node.outputs[at].dtype, DType):
                attrs[arg.type_attr] = node.outputs[at].dtype
        at += count


def node_attrs(node: Node) -> TypedAttrs:
    """The attrs to write for ``node`` (values in the IR's python forms, with their OpDef types)."""
    spec = op_spec(node.op)
    own = {k: v for k, v in node.attrs.items() if not k.startswith("_") and v is not None}
    if spec is None:
        return {k: (v, None) for k, v in own.items()}
    attrs = {k: v for k, v in own.items() if k in spec.attrs}
    _infer_from_inputs(spec, node, attrs)
    _infer_from_outputs(spec, node, attrs)
    out: TypedAttrs = {}
    for name, attr in spec.attrs.items():
        if name in attrs:
            out[name] = (attrs[name], attr.type)
        elif attr.has_default:
            out[name] = (attr.default, attr.type)
        elif attr.type == "shape" and node.op == "Placeholder":
            out[name] = (Shape.unknown(), attr.type)
        else:
            raise UnsupportedError(f"node {node.name} ({node.op}) lacks attr {name!r}, which TensorFlow "
                                   "requires")
    return out


def output_dtypes(node: Node, attrs: dict[str, Any]) -> list[Optional[DType]]:
    """The dtype of each output of ``node`` given its final attrs (None where the OpDef cannot say)."""
    spec = op_spec(node.op)
    if spec is None:
        return [v.dtype for v in node.outputs]
    out: list[Optional[DType]] = []
    for arg in spec.outputs:
        count = arg_count(arg, attrs)
        if arg.type_list_attr:
            out.extend(t if isinstance(t, DType) else None for t in attrs.get(arg.type_list_attr, []))
            continue
        dtype = arg.type or (attrs.get(arg.type_attr) if arg.type_attr else None)
        out.extend([dtype if isinstance(dtype, DType) else None] * (count or 0))
    return out
