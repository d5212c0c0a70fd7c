"""Merges nodes that compute the same thing: same op, same inputs, same attrs (and equal Consts)."""

from __future__ import annotations

import hashlib
from typing import Any, Optional

import numpy as np

from ..ir.graph import LazyArray, Node
from ..ir.types import FuncAttr
from ..ops.traits import UNIQUE
from .base import Editor, RewritePass, is_output, register_pass

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
    if node.op in UNIQUE or not node.outputs:  # each run makes something new: never merged
        return None
    if node.op == "Const":
        return _const_key(node)
    attrs = tuple(sorted((k, _freeze(v)) for k, v in node.attrs.items()))
    inputs = tuple((id(v.producer), v.index) for v in node.inputs)
    controls = tuple(sorted(id(c) for c in node.control_inputs))
    return (node.op, inputs, controls, attrs, len(node.outputs))


@register_pass
class EliminateCommonSubexpressions(RewritePass):
    name = "eliminate_common_subexpressions"

    def start(self, ed: Editor) -> None:
        self._seen: dict[tuple, Node] = {}  # key -> the first node computing it, in this body
        ed.graph.toposort()  # a node's inputs are merged before the node itself is keyed

    def rewrite(self, ed: Editor, node: Node) -> bool:
        if ed.is_main and any(is_output(ed.graph, v) for v in node.outputs):
            return False  # output nodes keep their own names
        key = _key(node)
        if key is None:
            return False
        kept = self._seen.get(key)
        if kept is None:
            self._seen[key] = node
            return False
        if node.op == "Const" and not np.array_equal(kept.attrs["value"], node.attrs["value"]):
            return False
        ed.replace(node, kept.outputs)
        return True
