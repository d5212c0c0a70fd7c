"""Merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot (with the
Keras masks they combine)."""

from __future__ import annotations

from typing import Optional

from ....ir.graph import Value
from ....ir.types import DType
from ...builder import Builder, dims
from ..registry import LayerCall, Lowered, Refusal, lower_layer, static_dims
from .core import scalar


def _and_masks(b: Builder, masks: list[Optional[Value]]) -> Optional[Value]:
    """Keras's merge mask: the AND of the inputs' masks (None when no input has one)."""
    present = [m for m in masks if m is not None]
    if not present:
        return None
    out = present[0]
    for mask in present[1:]:
        out = b.binary("LogicalAnd", out, mask)
    return out


def _chain(call: LayerCall, op: str) -> Value:
    if len(call.inputs) < 2:
        raise Refusal("a merge layer needs at least two inputs")
    out = call.inputs[0]
    for other in call.inputs[1:]:
        out = call.builder.binary(op, out, other)
    return out


def _merge(op: str, post: Optional[str] = None):  # type: ignore[no-untyped-def]
    def lower(call: LayerCall) -> Lowered:
        out = _chain(call, op)
        if post == "average":
            out = call.builder.binary("Mul", out, scalar(call.builder, out, 1.0 / len(call.inputs)))
        return Lowered([out], [_and_masks(call.builder, call.masks)])
    return lower


lower_layer("Add", mask="custom")(_merge("AddV2"))
lower_layer("Multiply", mask="custom")(_merge("Mul"))
lower_layer("Maximum", mask="custom")(_merge("Maximum"))
lower_layer("Minimum", mask="custom")(_merge("Minimum"))
lower_layer("Average", mask="custom")(_merge("AddV2", "average"))


@lower_layer("Subtract", mask="custom")
def subtract(call: LayerCall) -> Lowered:
    if len(call.inputs) != 2:
        raise Refusal("Subtract needs exactly two inputs")
    out = call.builder.binary("Sub", call.inputs[0], call.inputs[1])
    return Lowered([out], [_and_masks(call.builder, call.masks)])


@lower_layer("Concatenate", mask="custom")
def concatenate(call: LayerCall) -> Lowered:
    b = call.builder
    rank = len(static_dims(call, call.inputs[0]))
    axis = int(call.get("axis", -1))
    out = b.concat(list(call.inputs), axis % rank)
    mask = None
    if any(m is not None for m in call.masks):
        # Keras: missing masks count as all-true, masks are broadcast to the inputs, concatenated
        # along the axis and reduced with any() over the last axis.
        parts = []
        for value, m in zip(call.inputs, call.masks):
            if m is None:
                m = b.cast(b.op("OnesLike", [value]), DType.BOOL)
            elif (len(dims(m) or ())) < rank:
                m = b.binary("LogicalAnd", b.expand_dims(m, -1),
                             b.cast(b.op("OnesLike", [value]), DType.BOOL))
            parts.append(m)
        mask = b.reduce("Any", b.concat(parts, axis % rank), [rank - 1])
    return Lowered([out], [mask])


@lower_layer("Dot", mask="custom")
def dot(call: LayerCall) -> Lowered:
    b = call.builder
    if len(call.inputs) != 2:
        raise Refusal("Dot needs exactly two inputs")
    x, y = call.inputs
    rx, ry = len(static_dims(call, x)), len(static_dims(call, y))
    axes = call.config.get("axes", -1)
    ax, ay = (axes, axes) if isinstance(axes, int) else (int(axes[0]), int(axes[1]))
    ax, ay = ax % rx, ay % ry
    if call.get("normalize", False):
        x, y = _l2_normalize(b, x, ax), _l2_normalize(b, y, ay)
    if rx == 2 and ry == 2:
        out = b.reduce("Sum", b.binary("Mul", x, y), [1], keep_dims=True)
    elif rx == 3 and ry == 3 and ax in (1, 2) and ay in (1, 2):
        left = x if ax == 2 else b.transpose(x, [0, 2, 1])
        right = y if ay == 1 else b.transpose(y, [0, 2, 1])
        out = b.op("BatchMatMulV2", [left, right], {"adj_x": False, "adj_y": False})
    else:
        raise Refusal(f"Dot of rank-{rx} and rank-{ry} inputs over axes {axes} is not lowered")
    return Lowered([out], [None])


def _l2_normalize(b: Builder, x: Value, axis: int) -> Value:
    total = b.reduce("Sum", b.unary("Square", x), [axis], keep_dims=True)
    return b.binary("Mul", x, b.unary("Rsqrt", b.binary("Maximum", total, scalar(b, x, 1e-12))))
