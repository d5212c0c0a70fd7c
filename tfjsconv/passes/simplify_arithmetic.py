"""Arithmetic with constants, simplified: ``x*1``, ``x+0``, ``x-0``, ``x/1`` and a zero BiasAdd go;
chains of constant multiplies and adds compose into at most one Mul then one Add.

Identities are dropped only when broadcasting the constant cannot change ``x``'s shape or dtype.
A chain step is ``Mul`` / ``RealDiv`` (a multiply by ``1/c``, floats only) / ``Add`` / ``AddV2`` /
``Sub`` (an add of ``-c``) / ``BiasAdd`` with one Const operand, read only by the next step:

    (x * a) * b -> x * (a*b)        (x + a) + b -> x + (a+b)        (x + a) * b -> x*b + a*b

The last keeps two nodes but moves the Mul first, so a following add (or a contraction before it,
see ``fold_affine``) composes too.  A composed constant must not be larger than the ones it
replaces (no new broadcast), so a bias stays a bias for the fusion passes.  Float results may
differ from the original order of operations by rounding only.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir.attrs import attr_text
from ..ir.graph import Node, Value
from ..ir.types import DType
from ..registry import Registry
from .base import Editor, Rule, RuleTablePass, add, add_const, const_of, register_pass
from .fusion_util import sole_use
from .simplify_util import forward, keeps_shape

RULES: Registry[str, Rule] = Registry("simplify_arithmetic rule")
_BIASED_CONTRACTIONS = frozenset({"Conv2D", "DepthwiseConv2dNative", "MatMul"})


class Step:
    """One chain step ``y -> y * c`` (kind "mul") or ``y -> y + c`` (kind "add")."""

    def __init__(self, node: Node, var: Value, kind: str, c: np.ndarray) -> None:
        self.node, self.var, self.kind, self.c = node, var, kind, c


def as_step(node: Node) -> Optional[Step]:
    """``node`` as a chain step, or None (no single Const operand, unsupported dtype or op)."""
    if node.op not in RULES or len(node.inputs) != 2:
        return None
    consts = [const_of(v) for v in node.inputs]
    if (consts[0] is None) == (consts[1] is None):
        return None
    position = 0 if consts[1] is not None else 1  # of the variable operand
    var, c = node.inputs[position], consts[1 - position]
    assert c is not None
    if c.dtype.kind not in "fi" or not np.all(np.isfinite(c)):
        return None
    if var.dtype not in (None, DType.from_numpy(c.dtype)):
        return None
    is_float = c.dtype.kind == "f"
    if node.op == "Mul":
        return Step(node, var, "mul", c)
    if node.op in ("Add", "AddV2"):
        return Step(node, var, "add", c)
    if node.op == "Sub" and position == 0:
        return Step(node, var, "add", -c.astype(np.float64) if is_float else -c.astype(np.int64))
    if node.op == "RealDiv" and position == 0 and is_float and np.all(c != 0):
        return Step(node, var, "mul", 1.0 / c.astype(np.float64))
    if node.op == "BiasAdd" and position == 0 and c.ndim == 1 \
            and attr_text(node.attrs.get("data_format", b"NHWC")) == "NHWC":
        return Step(node, var, "add", c)
    return None


def _identity(ed: Editor, step: Step) -> bool:
    """``x * 1`` / ``x + 0`` (and ``x - 0``, ``x / 1``, a zero bias) -> ``x``."""
    neutral = 1 if step.kind == "mul" else 0
    if not np.all(step.c == neutral) or not keeps_shape(step.var, step.c):
        return False
    if step.kind == "add" and step.var.producer.op in _BIASED_CONTRACTIONS:
        # A zero bias right after a convolution or matmul costs nothing once fused, and without it
        # a following activation cannot fuse (TF.js fused ops start with BiasAdd): keep it.
        return False
    out = step.node.outputs[0]
    if out.dtype is not None and step.var.dtype is not None and out.dtype != step.var.dtype:
        return False
    return forward(ed, step.node, step.var)


def _combined(a: np.ndarray, b: np.ndarray, op: str, dtype: np.dtype) -> Optional[np.ndarray]:
    """``a op b`` in float64 (int64 for integers: wrap-around equals int32's), cast back; None when it
    would broadcast to a shape larger than both."""
    shape = np.broadcast_shapes(a.shape, b.shape)
    if shape not in (a.shape, b.shape):
        return None
    wide = np.float64 if np.dtype(dtype).kind == "f" else np.int64
    x, y = a.astype(wide), b.astype(wide)
    return (x * y if op == "mul" else x + y).astype(dtype)


def _compose(ed: Editor, outer: Step) -> bool:
    graph = ed.graph
    inner_node = outer.var.producer
    if sole_use(graph, outer.var, ed.is_main) is not outer.node:
        return False
    inner = as_step(inner_node)
    if inner is None or const_of(inner.var) is not None:
        return False
    node = outer.node
    out = node.outputs[0]
    dtype_t: DType = out.dtype or inner_node.outputs[0].dtype or DType.from_numpy(outer.c.dtype)
    try:
        np_dtype = dtype_t.numpy
    except ValueError:  # found by fuzzing: DT_QUINT8 arithmetic has no numpy type to fold in
        return False
    if inner.kind == outer.kind:  # (x*a)*b, (x+a)+b
        c = _combined(inner.c, outer.c, outer.kind, np_dtype)
        if c is None:
            return False
        op = "Mul" if outer.kind == "mul" else "AddV2"
        const = add_const(graph, c, f"{node.name}/composed", dtype_t)
        result = ed.replace_with(node, op, [inner.var, const], {"T": dtype_t})
    elif inner.kind == "add" and outer.kind == "mul":  # (x+a)*b -> x*b + a*b
        scaled = _combined(inner.c, outer.c, "mul", np_dtype)
        if scaled is None or scaled.shape != inner.c.shape:
            return False  # the add constant would grow: a bias would stop being one
        scale = add_const(graph, np.asarray(outer.c).astype(np_dtype), f"{node.name}/scale", dtype_t)
        name = graph.unique_name(f"{node.name}/mul")
        mul = add(graph, "Mul", [inner.var, scale], {"T": dtype_t}, name=name, like=inner_node.outputs[0])
        offset = add_const(graph, scaled, f"{node.name}/offset", dtype_t)
        result = ed.replace_with(node, "AddV2", [mul, offset], {"T": dtype_t})
    else:  # x*a + b is the canonical order already
        return False
    ed.replace(inner_node, [result], keep_controls=True)
    return True


def _simplify(ed: Editor, node: Node) -> bool:
    step = as_step(node)
    if step is None:
        return False
    return _identity(ed, step) or _compose(ed, step)


for _op in ("Mul", "Add", "AddV2", "Sub", "RealDiv", "BiasAdd"):
    RULES.add(_op, _simplify)


@register_pass
class SimplifyArithmetic(RuleTablePass):
    name = "simplify_arithmetic"
    rules = RULES
    sweeps = 8  # a composed node composes again with the one before it on the next sweep
