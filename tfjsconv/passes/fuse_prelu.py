"""PReLU: ``Relu(x) + (-a) * Relu(-x)`` (or ``Relu(x) - a * Relu(-x)``) -> ``Prelu(x, a)``, then a
Prelu right after a fused contraction that has only BiasAdd fused joins it: ``fused_ops`` gets
``Prelu`` appended, ``a`` becomes the last input and ``num_args`` grows to 2 (TF.js's rule).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir.attrs import attr_text
from ..ir.graph import Node, Value
from ..ir.types import DType
from .base import Editor, RewritePass, add_const, const_of, register_pass
from .fusion_util import sole_use

_FUSED = frozenset({"_FusedConv2D", "_FusedMatMul", "FusedDepthwiseConv2dNative"})


def _relu_of_neg(value: Value) -> Optional[Value]:
    """x when ``value`` is Relu(Neg(x))."""
    relu = value.producer
    if relu.op != "Relu" or relu.inputs[0].producer.op != "Neg":
        return None
    return relu.inputs[0].producer.inputs[0]


def _scaled_negative_part(value: Value) -> Optional[tuple[np.ndarray, Value]]:
    """(c, x) when ``value`` is Mul(c, Relu(Neg(x))) with a Const c (either operand order)."""
    mul = value.producer
    if mul.op != "Mul":
        return None
    for a, b in ((0, 1), (1, 0)):
        c = const_of(mul.inputs[a])
        x = _relu_of_neg(mul.inputs[b])
        if c is not None and x is not None:
            return c, x
    return None


def _match(node: Node) -> Optional[tuple[Value, np.ndarray]]:
    """(x, alpha) when ``node`` computes prelu(x, alpha) in the expanded form."""
    if node.op in ("Add", "AddV2"):
        pairs = ((0, 1), (1, 0))
        sign = -1.0
    elif node.op == "Sub":
        pairs = ((0, 1),)
        sign = 1.0
    else:
        return None
    for a, b in pairs:
        pos = node.inputs[a].producer
        neg = _scaled_negative_part(node.inputs[b])
        if pos.op == "Relu" and neg is not None and neg[1] is pos.inputs[0]:
            return pos.inputs[0], (sign * neg[0]).astype(neg[0].dtype)
    return None


def _into_fused(ed: Editor, prelu: Node) -> bool:
    graph = ed.graph
    y = prelu.inputs[0]
    fused = y.producer
    if fused.op not in _FUSED or sole_use(graph, y, ed.is_main) is not prelu:
        return False
    ops = [attr_text(o) for o in fused.attrs.get("fused_ops", [])]
    if ops != ["BiasAdd"] or int(fused.attrs.get("num_args", 0)) != 1:
        return False
    attrs = dict(fused.attrs)
    attrs["fused_ops"] = [b"BiasAdd", b"Prelu"]
    attrs["num_args"] = 2
    merged = ed.replace_with(prelu, fused.op, list(fused.inputs) + [prelu.inputs[1]], attrs,
                             device=fused.device)
    ed.replace(fused, [merged], keep_controls=True)
    return True


@register_pass
class FusePrelu(RewritePass):
    name = "fuse_prelu"
    ops = frozenset({"Prelu", "Add", "AddV2", "Sub"})

    def rewrite(self, ed: Editor, node: Node) -> bool:
        if node.op == "Prelu":
            return _into_fused(ed, node)
        match = _match(node)
        if match is None:
            return False
        x, alpha = match
        dtype = node.attrs.get("T", DType.FLOAT)
        alpha_value = add_const(ed.graph, alpha, f"{node.name}/alpha", dtype)
        ed.replace_with(node, "Prelu", [x, alpha_value], {"T": dtype})
        return True
