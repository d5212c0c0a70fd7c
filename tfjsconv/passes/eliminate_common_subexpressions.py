"""Merges nodes that compute the same thing: same op, same inputs, same attrs (and equal Consts)."""

from __future__ import annotations

import hashlib
from typing import Any, Optional

import numpy as np

from ..ir.graph import Graph, LazyArray, Node
from ..ir.types import FuncAttr
from .base import Editor, GraphPass, PassContext, is_output, register_pass

# Each execution makes something new or observes the outside world: never merged.
_UNIQUE = frozenset({
    "Placeholder", "PlaceholderWithDefault", "NoOp", "Assert", "Print", "PrintV2",
    "RandomUniform", "RandomStandardNormal", "TruncatedNormal", "RandomUniformInt", "Multinomial",
    "HashTable", "HashTableV2", "MutableHashTableV2", "LookupTableImport", "LookupTableImportV2",
    "InitializeTable", "InitializeTableV2", "TensorArrayV3", "EmptyTensorList", "TensorListReserve",
    "Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond", "While", "If",
    "StatefulPartitionedCall", "VarHandleOp", "VariableV2",
})
_MAX_CONST_BYTES = 1 << 20  # bigger Consts are weights, duplicates of those are rare


def _freeze(value: Any) -> Any:
    """A hashable stand-in for an attr value."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, hashlib.sha1(value.tobytes()).hexdigest())
    if isinstance(value, FuncAttr):
        return ("func", value.name, _freeze([v for _, v in value.attrs]), tuple(k for k, _ in value.attrs))
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def _const_key(node: Node) -> Optional[tuple]:
    value = node.attrs["value"]
    if isinstance(value, LazyArray):
        return None
    if value.nbytes > _MAX_CONST_BYTES or value.dtype == object:
        return None
    return ("Const", node.attrs["dtype"], value.dtype.str, value.shape,
            hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest())


def _key(node: Node) -> Optional[tuple]:
    if node.op in _UNIQUE or not node.outputs:
        return None
    if node.op == "Const":
        return _const_key(node)
    attrs = tuple(sorted((k, _freeze(v)) for k, v in node.attrs.items()))
    inputs = tuple((id(v.producer), v.index) for v in node.inputs)
    controls = tuple(sorted(id(c) for c in node.control_inputs))
    return (node.op, inputs, controls, attrs, len(node.outputs))


@register_pass
class EliminateCommonSubexpressions(GraphPass):
    name = "eliminate_common_subexpressions"

    def run_body(self, graph: Graph, ctx: PassContext, *, is_main: bool) -> bool:
        seen: dict[tuple, Node] = {}
        changed = False
        ed = Editor(graph)
        graph.toposort()  # a node's inputs are merged before the node itself is keyed
        for node in list(graph.nodes):
            if is_main and any(is_output(graph, v) for v in node.outputs):
                continue  # output nodes keep their own names
            key = _key(node)
            if key is None:
                continue
            kept = seen.get(key)
            if kept is None:
                seen[key] = node
                continue
            if node.op == "Const" and not np.array_equal(kept.attrs["value"], node.attrs["value"]):
                continue
            ed.replace(node, kept.outputs)
            changed = True
        return ed.finish() or changed
