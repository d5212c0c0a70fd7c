"""Layout no-ops removed and layout chains shortened:

* ``Reshape`` to the shape its input already has goes; ``Reshape`` of a Reshape / Squeeze /
  ExpandDims reads the inner op's input (a reshape only reinterprets the flat element order);
* ``Transpose`` by the identity goes; ``Transpose(Transpose(x, p1), p2)`` is ``Transpose(x, p1[p2])``;
* ``Cast`` to the dtype its input has goes (Keras' Tensordot wraps every Dense on 3-D inputs in
  identity transposes and same-type casts);
* a zero ``Pad`` / ``PadV2`` of H and W before a VALID (or EXPLICIT) ``Conv2D`` / ``_FusedConv2D``
  becomes the conv's explicit padding (TF.js reads ``explicit_paddings`` for those two ops only;
  its DepthwiseConv2dNative executors ignore it, so a Pad before a depthwise conv stays).

A rule leaves an inner node alone when it has control inputs (bypassing it would lose ordering).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir.attrs import attr_text
from ..ir.graph import Node, Value
from ..ir.types import DType
from ..registry import Registry
from .base import Editor, Rule, RuleTablePass, add_const, const_of, register_pass
from .fusion_util import sole_use
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


def _zero_pad(node: Node) -> Optional[np.ndarray]:
    """The (4, 2) paddings of a zero Pad/PadV2 that pads H and W only, else None."""
    if node.op == "PadV2":
        value = const_of(node.inputs[2])
        if value is None or value.size != 1 or value.reshape(()) != 0:
            return None
    elif node.op != "Pad":
        return None
    pads = const_of(node.inputs[1])
    if pads is None or pads.shape != (4, 2) or np.any(pads < 0) or np.any(pads[[0, 3]] != 0):
        return None
    return pads.astype(np.int64)


@RULES.register("Conv2D", "_FusedConv2D")
def pad_into_conv(ed: Editor, node: Node) -> bool:
    pad = node.inputs[0].producer
    if attr_text(node.attrs.get("data_format", b"NHWC")) != "NHWC" or pad.control_inputs:
        return False
    padding = attr_text(node.attrs.get("padding", b""))
    pads = _zero_pad(pad)
    if pads is None or padding not in ("VALID", "EXPLICIT"):
        return False
    if sole_use(ed.graph, node.inputs[0], ed.is_main) is not node:
        return False
    explicit = np.zeros(8, np.int64)
    if padding == "EXPLICIT":
        old = list(node.attrs.get("explicit_paddings", []))
        if len(old) != 8:
            return False
        explicit += np.array(old, np.int64)
    explicit += pads.reshape(-1)
    attrs = dict(node.attrs, padding=b"EXPLICIT", explicit_paddings=[int(p) for p in explicit])
    ed.replace_with(node, node.op, [pad.inputs[0], *node.inputs[1:]], attrs, device=node.device)
    return True


@register_pass
class SimplifyShapes(RuleTablePass):
    name = "simplify_shapes"
    rules = RULES
