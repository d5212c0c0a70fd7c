"""More ONNX element-wise and per-axis ops: ThresholdedRelu, Shrink, Celu, Swish, Mish, Hardmax,
LpNormalization, LRN, Trilu, EyeLike."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType, Shape
from . import OnnxContext, OnnxNode, normalize_axis, onnx_op
from .common import dim_size
from .nn import TO_NCHW, TO_NHWC


def _zeros_like(ctx: OnnxContext, x: Value) -> Value:
    return ctx.op("ZerosLike", [x], {"T": x.dtype}, dtype=x.dtype, shape=x.shape)


@onnx_op("ThresholdedRelu", since=10)
def thresholded_relu(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    above = ctx.binary("Greater", x, ctx.scalar(float(node.attr("alpha", 1.0)), x))
    return [ctx.select(above, x, _zeros_like(ctx, x))]


@onnx_op("Shrink", since=9)
def shrink(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    lambd, bias = float(node.attr("lambd", 0.5)), float(node.attr("bias", 0.0))
    low = ctx.binary("AddV2", x, ctx.scalar(bias, x))
    high = ctx.binary("Sub", x, ctx.scalar(bias, x))
    zeros = _zeros_like(ctx, x)
    out = ctx.select(ctx.binary("Less", x, ctx.scalar(-lambd, x)), low, zeros)
    return [ctx.select(ctx.binary("Greater", x, ctx.scalar(lambd, x)), high, out)]


@onnx_op("Celu", since=12)
def celu(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    alpha = float(node.attr("alpha", 1.0))
    scaled = ctx.binary("Mul", x, ctx.scalar(1.0 / alpha, x))
    negative = ctx.binary("Mul", ctx.unary("Expm1", ctx.binary("Minimum", scaled, ctx.scalar(0.0, x))),
                          ctx.scalar(alpha, x))
    return [ctx.binary("AddV2", ctx.unary("Relu", x), negative)]


@onnx_op("Swish", since=24)
def swish(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    alpha = float(node.attr("alpha", 1.0))
    gate = x if alpha == 1.0 else ctx.binary("Mul", x, ctx.scalar(alpha, x))
    return [ctx.binary("Mul", x, ctx.unary("Sigmoid", gate))]


@onnx_op("Mish", since=18)
def mish(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    return [ctx.binary("Mul", x, ctx.unary("Tanh", ctx.unary("Softplus", x)))]


@onnx_op("Hardmax", since=1)
def hardmax(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    rank = ctx.rank(x)
    if ctx.opset < 13:  # the input is coerced to 2-D at axis: one max over all trailing dims
        axis = normalize_axis(int(node.attr("axis", 1)), rank)
        dims = ctx.dims(x) or ()
        inner = dims[axis:]
        if any(d is None for d in inner):
            raise ctx.refuse("opset < 13 Hardmax over dynamic trailing dimensions")
        flat = ctx.reshape(x, [-1, int(np.prod(inner))])  # type: ignore[arg-type]
        hot = _hardmax_axis(ctx, flat, 1)
        shape = ctx.shape_of(x)
        return [ctx.op("Reshape", [hot, shape], {"T": x.dtype, "Tshape": DType.INT32}, dtype=x.dtype,
                       shape=x.shape)]
    return [_hardmax_axis(ctx, x, normalize_axis(int(node.attr("axis", -1)), rank))]


def _hardmax_axis(ctx: OnnxContext, x: Value, axis: int) -> Value:
    rank = ctx.rank(x)
    index = ctx.op("ArgMax", [x, ctx.int_const([axis], "axis")],
                   {"T": x.dtype, "Tidx": DType.INT32, "output_type": DType.INT32}, dtype=DType.INT32)
    one, zero = ctx.scalar(1.0, x), ctx.scalar(0.0, x)
    hot = ctx.op("OneHot", [index, ctx.reshape(dim_size(ctx, x, axis), []), one, zero],
                 {"T": x.dtype, "TI": DType.INT32, "axis": -1}, dtype=x.dtype)
    if axis != rank - 1:
        perm = list(range(rank - 1))
        perm.insert(axis, rank - 1)
        hot = ctx.transpose(hot, perm, "hardmax_axis")
    hot.shape = x.shape
    return hot


@onnx_op("LpNormalization", since=1)
def lp_normalization(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    axis = normalize_axis(int(node.attr("axis", -1)), ctx.rank(x))
    p = int(node.attr("p", 2))
    if p not in (1, 2):
        raise ctx.refuse(f"p={p} (ONNX defines 1 and 2)")
    attrs = {"T": x.dtype, "Tidx": DType.INT32, "keep_dims": True}
    if p == 1:
        norm = ctx.op("Sum", [ctx.unary("Abs", x), ctx.int_const([axis], "axis")], attrs, dtype=x.dtype)
    else:
        norm = ctx.unary("Sqrt", ctx.op("Sum", [ctx.unary("Square", x), ctx.int_const([axis], "axis")], attrs,
                                        dtype=x.dtype))
    out = ctx.binary("DivNoNan", x, norm)  # a zero norm gives 0, as ONNX's reference does
    out.shape = x.shape
    return [out]


@onnx_op("LRN", since=1)
def lrn(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    size = int(node.attr("size"))
    if size % 2 == 0:
        raise ctx.refuse("an even LRN size (its window is asymmetric; TF.js's is symmetric)")
    if ctx.rank(x) != 4:
        raise ctx.refuse("LRN of a tensor that is not 4-D (N, C, H, W)")
    xt = ctx.transpose(x, TO_NHWC, "to_nhwc")
    attrs = {"T": x.dtype, "depth_radius": (size - 1) // 2, "bias": float(node.attr("bias", 1.0)),
             "alpha": float(node.attr("alpha", 1e-4)) / size, "beta": float(node.attr("beta", 0.75))}
    y = ctx.op("LRN", [xt], attrs, dtype=x.dtype, shape=xt.shape)
    return [ctx.transpose(y, TO_NCHW, "to_nchw")]


def _offsets(ctx: OnnxContext, x: Value) -> Value:
    """int32 [rows, cols]: column index minus row index over the last two axes of ``x``."""
    rank = ctx.rank(x)
    rows, cols = dim_size(ctx, x, rank - 2), dim_size(ctx, x, rank - 1)
    zero, one = ctx.const(np.asarray(0, np.int32), "zero"), ctx.const(np.asarray(1, np.int32), "one")
    r = ctx.op("Range", [zero, rows, one], {"Tidx": DType.INT32}, dtype=DType.INT32)
    c = ctx.op("Range", [zero, cols, one], {"Tidx": DType.INT32}, dtype=DType.INT32)
    return ctx.binary("Sub", ctx.reshape(c, [1, -1]), ctx.reshape(r, [-1, 1]))


@onnx_op("Trilu", since=14)
def trilu(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    k_value = ctx.input(node, 1)
    k = ctx.const(np.asarray(0, np.int32), "k") if k_value is None else ctx.reshape(
        ctx.cast(k_value, DType.INT32), [], "k")
    upper = bool(int(node.attr("upper", 1)))
    keep = ctx.binary("GreaterEqual" if upper else "LessEqual", _offsets(ctx, x), k)
    return [ctx.select(keep, x, _zeros_like(ctx, x))]


@onnx_op("EyeLike", since=9)
def eye_like(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    from .onnx_types import compute_dtype

    dtype = compute_dtype(int(node.attr("dtype")), ctx) if node.attr("dtype") is not None else x.dtype
    k = int(node.attr("k", 0))
    dims = ctx.dims(x)
    if dims is not None and None not in dims and len(dims) == 2:
        eye = np.eye(int(dims[0]), int(dims[1]), k, dtype=(dtype or DType.FLOAT).numpy)  # type: ignore[arg-type]
        return [ctx.const(eye, "eye", dtype)]
    diagonal = ctx.binary("Equal", _offsets(ctx, x), ctx.const(np.asarray(k, np.int32), "k"))
    out = ctx.cast(diagonal, dtype or DType.FLOAT)
    out.shape = Shape.of(dims)
    return [out]
