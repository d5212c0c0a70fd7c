"""ONNX reductions (axes as an attribute or, from opset 13 / 18, as an input) and ArgMax/ArgMin.

Axes computed at run time stay a tensor input: TF.js reads a reduction's axes when it runs.  Only
an axes input of unknown length is refused, because ONNX gives an empty list its own meaning
(every axis, unless ``noop_with_empty_axes``)."""

from __future__ import annotations

from typing import Optional, Union

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType, Shape
from . import Handler, OnnxContext, OnnxNode, normalize_axis, onnx_op
from .common import dim_size

# ONNX op -> (TF op, first opset that passes axes as an input, pre-op, post-op)
_REDUCTIONS = {
    "ReduceMean": ("Mean", 18, None, None),
    "ReduceSum": ("Sum", 13, None, None),
    "ReduceMax": ("Max", 18, None, None),
    "ReduceMin": ("Min", 18, None, None),
    "ReduceProd": ("Prod", 18, None, None),
    "ReduceSumSquare": ("Sum", 18, "Square", None),
    "ReduceL1": ("Sum", 18, "Abs", None),
    "ReduceL2": ("Sum", 18, "Square", "Sqrt"),
    "ReduceLogSum": ("Sum", 18, None, "Log"),
    "ReduceLogSumExp": ("Sum", 18, "Exp", "Log"),
}
Axes = Union[list[int], Value]


def reduce_axes(ctx: OnnxContext, node: OnnxNode, since_input: int, rank: int) -> Optional[Axes]:
    """Sorted static axes, a run-time axes Value, or None for "no reduction" (noop_with_empty_axes)."""
    noop = bool(int(node.attr("noop_with_empty_axes", 0)))
    if ctx.opset >= since_input:
        given = ctx.input(node, 1)
        if given is not None and ctx.const_value(given) is None:
            length = (ctx.dims(given) or (None,))[0]
            if length is None and not noop:
                raise ctx.refuse("axes computed at run time, of unknown length (an empty list would mean "
                                 "every axis)")
            if length != 0:
                return ctx.cast(given, DType.INT32)
            axes: list[int] = []
        else:
            axes = [] if given is None else ctx.const_ints(given, "axes")
    else:
        axes = [int(a) for a in node.attr("axes", [])]
    if not axes:
        return None if noop else list(range(rank))
    return sorted({normalize_axis(a, rank) for a in axes})


def reduce(ctx: OnnxContext, tf_op: str, x: Value, axes: Axes, keep: bool,
           shape: Optional[Shape] = None) -> Value:
    axes_value = axes if isinstance(axes, Value) else ctx.int_const(axes, "axes")
    return ctx.op(tf_op, [x, axes_value], {"T": x.dtype, "Tidx": DType.INT32, "keep_dims": keep},
                  dtype=x.dtype, shape=shape)


def _handler(onnx_name: str) -> Handler:
    tf_op, since_input, pre, post = _REDUCTIONS[onnx_name]

    def handle(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
        x = ctx.required(node, 0)
        rank = ctx.rank(x)
        axes = reduce_axes(ctx, node, since_input, rank)
        if axes is None:
            return [x]
        keep = bool(node.attr("keepdims", 1))
        shape = Shape.of(ctx.out_dims(node, 0))
        if tf_op in ("Max", "Min") and 0 in (ctx.dims(x) or ()) and shape.dims is not None \
                and None not in shape.dims:
            # Over an empty set ONNX gives -inf / +inf (the identity); TF.js gives NaN.
            np_dtype = (x.dtype or DType.FLOAT).numpy
            if np_dtype == np.bool_:
                fill: object = tf_op == "Min"
            elif np_dtype.kind in "iu":
                fill = np.iinfo(np_dtype).min if tf_op == "Max" else np.iinfo(np_dtype).max
            else:
                fill = -np.inf if tf_op == "Max" else np.inf
            return [ctx.const(np.full(shape.dims, fill, dtype=np_dtype), "empty")]
        if onnx_name == "ReduceLogSumExp":  # log(sum(exp(x - max))) + max: no overflow for large x
            peak = reduce(ctx, "Max", x, axes, True)
            finite = ctx.select(ctx.unary("IsFinite", peak), peak, ctx.scalar(0.0, peak))
            total = reduce(ctx, "Sum", ctx.unary("Exp", ctx.binary("Sub", x, finite)), axes, keep)
            shift = finite if keep else reduce(ctx, "Max", finite, axes, False)
            out = ctx.binary("AddV2", ctx.unary("Log", total), shift)
            out.shape = shape
            return [out]
        src = ctx.unary(pre, x) if pre else x
        out = reduce(ctx, tf_op, src, axes, keep, shape)
        return [ctx.unary(post, out) if post else out]

    return handle


for _name in _REDUCTIONS:
    onnx_op(_name, since=1)(_handler(_name))


def _arg(ctx: OnnxContext, node: OnnxNode, tf_op: str) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    rank = ctx.rank(x)
    axis = normalize_axis(int(node.attr("axis", 0)), rank)
    dims = ctx.dims(x)
    reduced = None if dims is None else Shape(tuple(d for i, d in enumerate(dims) if i != axis))
    last = bool(int(node.attr("select_last_index", 0)))
    src = x
    if last:  # the last extreme is the first one of the reversed axis
        src = ctx.op("ReverseV2", [x, ctx.int_const([axis], "axis")], {"T": x.dtype, "Tidx": DType.INT32},
                     dtype=x.dtype, shape=x.shape)
    out = ctx.op(
        tf_op,
        [src, ctx.int_const([axis], "axis")],
        {"T": x.dtype, "Tidx": DType.INT32, "output_type": DType.INT64},
        dtype=DType.INT64,
        shape=reduced,
    )
    if last:
        top = ctx.binary("Sub", ctx.cast(dim_size(ctx, x, axis), DType.INT64),
                         ctx.const(np.asarray(1, np.int64), "one"))
        out = ctx.binary("Sub", top, out)
        out.shape = reduced
    if int(node.attr("keepdims", 1)):
        out = ctx.op(
            "ExpandDims",
            [out, ctx.int_const([axis], "axis")],
            {"T": DType.INT64, "Tdim": DType.INT32},
            dtype=DType.INT64,
            shape=Shape.of(ctx.out_dims(node, 0)),
        )
    return [out]


@onnx_op("ArgMax", since=1)
def arg_max(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return [*_arg(ctx, node, "ArgMax")]


@onnx_op("ArgMin", since=1)
def arg_min(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return [*_arg(ctx, node, "ArgMin")]
