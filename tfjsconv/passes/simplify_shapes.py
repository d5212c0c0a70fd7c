"""Layout no-ops removed and layout chains shortened:

* ``Reshape`` to the shape its input already has goes; ``Reshape`` of a Reshape / Squeeze /
  ExpandDims reads the inner op's input (a reshape only reinterprets the flat element order);
* ``Transpose`` by the identity goes; ``Transpose(Transpose(x, p1), p2)`` is ``Transpose(x, p1[p2])``;
* ``Cast`` to the dtype its input has goes (Keras' Tensordot wraps every Dense on 3-D inputs in
  identity transposes and same-type casts).

A zero ``Pad`` before a VALID conv stays as it is (the official converter's form): folding it into
the conv's EXPLICIT padding saved one node but no time on wasm (ResNet50: 289.7 ms either way) and
measured slower on TF.js's cpu backend (benchmarks/RESULTS.md, issue 8).

A rule leaves an inner node alone when it has control inputs (bypassing it would lose ordering).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir.graph import Node, Value
from ..ir.types import DType
from ..registry import Registry
from .base import Editor, Rule, RuleTablePass, add_const, const_of, register_pass
from .simplify_util import dims, forward

RULES: Registry[str, Rule] = Registry("simplify_shapes rule")
_RESHAPES = frozenset({"Reshape", "Squeeze", "ExpandDims"})


def _same_shape(value: Value, target: np.ndarray) -> bool:
    """True when reshaping ``value`` to ``target`` cannot change its shape."""
    known = dims(value)
    if known is None or target.ndim != 1 or len(known) != target.size:
        return False
    if sum(d is None for d in known) > 1:
        return False
    return all((t == -1) if d is None else (t == d) for t, d in zip(target.tolist(), known))


@RULES.register("Reshape")
def reshape(ed: Editor, node: Node) -> bool:
    src = node.inputs[0].producer
    if src.op in _RESHAPES and not src.control_inputs and src.inputs:
        ed.graph.set_input(node, 0, src.inputs[0])
        return True
    target = const_of(node.inputs[1])
    return target is not None and _same_shape(node.inputs[0], target) and forward(ed, node, node.inputs[0])


def _perm(value: Value) -> Optional[list[int]]:
    p = const_of(value)
    return None if p is None or p.ndim != 1 else [int(i) for i in p]


@RULES.register("Transpose")
def transpose(ed: Editor, node: Node) -> bool:
    perm = _perm(node.inputs[1])
    if perm is None:
        return False
    if perm == list(range(len(perm))):
        return forward(ed, node, node.inputs[0])
    src = node.inputs[0].producer
    inner = _perm(src.inputs[1]) if src.op == "Transpose" and not src.control_inputs else None
    if inner is None or len(inner) != len(perm):
        return False
    composed = [inner[i] for i in perm]  # out axis i is inner axis perm[i], which is x axis inner[...]
    if composed == list(range(len(composed))):
        return forward(ed, node, src.inputs[0])
    graph = ed.graph
    ptype = node.attrs.get("Tperm", DType.INT32)
    graph.set_input(node, 1, add_const(graph, np.array(composed, ptype.numpy), f"{node.name}/perm", ptype))
    graph.set_input(node, 0, src.inputs[0])
    return True


@RULES.register("Cast")
def cast(ed: Editor, node: Node) -> bool:
    dst = node.attrs.get("DstT")
    src = node.attrs.get("SrcT", node.inputs[0].dtype)
    if dst is None or src != dst or node.inputs[0].dtype not in (None, dst):
        return False
    return forward(ed, node, node.inputs[0])


@register_pass
class SimplifyShapes(RuleTablePass):
    name = "simplify_shapes"
    rules = RULES
