"""ONNX reductions (axes as an attribute or, from opset 13 / 18, as an input) and ArgMax/ArgMin."""

from __future__ import annotations

from typing import Optional

from ....ir.graph import Value
from ....ir.types import DType, Shape
from . import Handler, OnnxContext, OnnxNode, normalize_axis, onnx_op

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
    "ReduceLogSumExp": ("Sum", 18, "Exp", "Log"),
}


def _reduce_axes(ctx: OnnxContext, node: OnnxNode, since_input: int, rank: int) -> Optional[list[int]]:
    if ctx.opset >= since_input:
        given = ctx.input(node, 1)
        axes = [] if given is None else ctx.const_ints(given, "axes")
    else:
        axes = [int(a) for a in node.attr("axes", [])]
    if not axes:
        return None if int(node.attr("noop_with_empty_axes", 0)) else list(range(rank))
    return sorted({normalize_axis(a, rank) for a in axes})


def _handler(onnx_name: str) -> Handler:
    tf_op, since_input, pre, post = _REDUCTIONS[onnx_name]

    def handle(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
        x = ctx.required(node, 0)
        rank = ctx.rank(x)
        axes = _reduce_axes(ctx, node, since_input, rank)
        if axes is None:
            return [x]
        keep = bool(node.attr("keepdims", 1))
        src = ctx.unary(pre, x) if pre else x
        out = ctx.op(
            tf_op,
            [src, ctx.int_const(axes, "axes")],
            {"T": x.dtype, "Tidx": DType.INT32, "keep_dims": keep},
            dtype=x.dtype,
            shape=Shape.of(ctx.out_dims(node, 0)),
        )
        return [ctx.unary(post, out) if post else out]

    return handle


for _name in _REDUCTIONS:
    onnx_op(_name, since=1)(_handler(_name))


def _arg(ctx: OnnxContext, node: OnnxNode, tf_op: str) -> list[Optional[Value]]:
    if int(node.attr("select_last_index", 0)):
        raise ctx.refuse("select_last_index=1 (TF.js returns the first extreme index)")
    x = ctx.required(node, 0)
    rank = ctx.rank(x)
    axis = normalize_axis(int(node.attr("axis", 0)), rank)
    dims = ctx.dims(x)
    reduced = None if dims is None else Shape(tuple(d for i, d in enumerate(dims) if i != axis))
    out = ctx.op(
        tf_op,
        [x, ctx.int_const([axis], "axis")],
        {"T": x.dtype, "Tidx": DType.INT32, "output_type": DType.INT64},
        dtype=DType.INT64,
        shape=reduced,
    )
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
    return _arg(ctx, node, "ArgMax")


@onnx_op("ArgMin", since=1)
def arg_min(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return _arg(ctx, node, "ArgMin")
