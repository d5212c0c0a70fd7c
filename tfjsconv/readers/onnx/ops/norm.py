"""Normalizations, softmax and dropout (inference semantics).

Batch norm on 4-D inputs becomes an NHWC ``FusedBatchNormV3`` inside a Transpose pair, so that
``fold_batch_norm`` can fold it into the convolution before it once the pairs cancel.  Instance and
layer norm are written with plain NCHW reductions; ``sink_transposes`` moves layout transposes
through them.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType, Shape
from . import OnnxContext, OnnxNode, normalize_axis, onnx_op
from .nn import TO_NCHW, TO_NHWC


def _channel_shaped(ctx: OnnxContext, v: Value, rank: int) -> Value:
    """A per-channel (C,) vector reshaped to (C, 1, ..., 1) so that it broadcasts over NC..."""
    dims = ctx.dims(v)
    c = dims[0] if dims else None
    shape = [-1] + [1] * (rank - 2)
    return ctx.op(
        "Reshape",
        [v, ctx.int_const(shape, "shape")],
        {"T": v.dtype},
        dtype=v.dtype,
        shape=Shape((c,) + (1,) * (rank - 2)),
    )


@onnx_op("BatchNormalization", since=1)
def batch_norm(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    if int(node.attr("training_mode", 0)) or any(node.outputs[1:]):
        raise ctx.refuse("training-mode batch normalization (running statistics outputs)")
    x = ctx.required(node, 0)
    scale, offset, mean, var = (ctx.required(node, i) for i in range(1, 5))
    eps = float(node.attr("epsilon", 1e-5))
    rank = ctx.rank(x)
    if rank == 4:
        xt = ctx.transpose(x, TO_NHWC, "to_nhwc")
        y = ctx.op(
            "FusedBatchNormV3",
            [xt, scale, offset, mean, var],
            {"T": x.dtype, "U": DType.FLOAT, "epsilon": eps, "data_format": b"NHWC", "is_training": False},
            dtype=x.dtype,
            shape=xt.shape,
            num_outputs=6,
        )
        return [ctx.transpose(y, TO_NCHW, "to_nchw")]
    factor = ctx.binary("Mul", scale, ctx.unary("Rsqrt", ctx.binary("AddV2", var, ctx.scalar(eps, var))))
    shift = ctx.binary("Sub", offset, ctx.binary("Mul", mean, factor))
    if rank > 2:
        factor, shift = _channel_shaped(ctx, factor, rank), _channel_shaped(ctx, shift, rank)
    y = ctx.binary("AddV2", ctx.binary("Mul", x, factor), shift)
    y.shape = x.shape
    return [y]


def _normalize(ctx: OnnxContext, x: Value, axes: list[int], eps: float) -> Value:
    axes_value = ctx.int_const(axes, "axes")
    attrs = {"T": x.dtype, "Tidx": DType.INT32, "keep_dims": True}
    mean = ctx.op("Mean", [x, axes_value], attrs, dtype=x.dtype)
    centered = ctx.binary("Sub", x, mean)
    centered.shape = x.shape
    var = ctx.op("Mean", [ctx.binary("Mul", centered, centered), axes_value], attrs, dtype=x.dtype)
    inv = ctx.unary("Rsqrt", ctx.binary("AddV2", var, ctx.scalar(eps, var)))
    out = ctx.binary("Mul", centered, inv)
    out.shape = x.shape
    return out


@onnx_op("InstanceNormalization", since=1)
def instance_norm(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x, scale, bias = ctx.required(node, 0), ctx.required(node, 1), ctx.required(node, 2)
    rank = ctx.rank(x)
    y = _normalize(ctx, x, list(range(2, rank)), float(node.attr("epsilon", 1e-5)))
    y = ctx.binary("Mul", y, _channel_shaped(ctx, scale, rank))
    y = ctx.binary("AddV2", y, _channel_shaped(ctx, bias, rank))
    y.shape = x.shape
    return [y]


@onnx_op("LayerNormalization", since=17)
def layer_norm(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    if any(node.outputs[1:]):
        raise ctx.refuse("the Mean / InvStdDev outputs of LayerNormalization are not supported")
    x, scale, bias = ctx.required(node, 0), ctx.required(node, 1), ctx.input(node, 2)
    rank = ctx.rank(x)
    axis = normalize_axis(int(node.attr("axis", -1)), rank)
    if not 0 <= axis < rank:  # range(-2**62, rank) below ran out of memory (found by fuzzing)
        raise ctx.refuse(f"axis {node.attr('axis', -1)} is out of range for an input of rank {rank}")
    y = _normalize(ctx, x, list(range(axis, rank)), float(node.attr("epsilon", 1e-5)))
    y = ctx.binary("Mul", y, scale)
    if bias is not None:
        y = ctx.binary("AddV2", y, bias)
    y.shape = x.shape
    return [y]


def _softmax_last(ctx: OnnxContext, x: Value, op: str, axis: int) -> Value:
    rank = ctx.rank(x)
    if axis == rank - 1:
        return ctx.unary(op, x)
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    moved = ctx.transpose(x, perm, "softmax_axis")
    return ctx.transpose(ctx.unary(op, moved), perm, "softmax_axis_back")


def _softmax(ctx: OnnxContext, node: OnnxNode, op: str) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    rank = ctx.rank(x)
    if ctx.opset >= 13:
        return [_softmax_last(ctx, x, op, normalize_axis(int(node.attr("axis", -1)), rank))]
    axis = normalize_axis(int(node.attr("axis", 1)), rank)
    if axis == rank - 1:
        return [ctx.unary(op, x)]
    # Before opset 13 the input is coerced to 2-D at ``axis``: softmax over all trailing dims.
    dims = ctx.dims(x)
    assert dims is not None
    inner = dims[axis:]
    if any(d is None for d in inner):
        raise ctx.refuse("opset < 13 softmax over dynamic trailing dimensions")
    flat = ctx.op(
        "Reshape",
        [x, ctx.int_const([-1, int(math.prod(inner))], "shape")],  # type: ignore[arg-type]
        {"T": x.dtype},
        dtype=x.dtype,
    )
    out = ctx.unary(op, flat)
    shape = ctx.op("Shape", [x], {"T": x.dtype, "out_type": DType.INT32}, dtype=DType.INT32)
    return [ctx.op("Reshape", [out, shape], {"T": x.dtype}, dtype=x.dtype, shape=x.shape)]


@onnx_op("Softmax", since=1)
def softmax(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return _softmax(ctx, node, "Softmax")


@onnx_op("LogSoftmax", since=1)
def log_softmax(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return _softmax(ctx, node, "LogSoftmax")


@onnx_op("Dropout", since=1)
def dropout(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    training = bool(node.attr("is_test", 1) == 0) if ctx.opset < 7 else False
    if ctx.opset >= 12:
        flag = ctx.input(node, 2)
        if flag is not None:
            value = ctx.const_value(flag)
            if value is None:
                raise ctx.refuse("training_mode is computed at run time (training-mode Dropout is random)")
            training = bool(np.asarray(value).reshape(-1)[0])
        if training:
            ratio = ctx.input(node, 1)
            ratio_value = 0.5 if ratio is None else ctx.const_value(ratio)
            if ratio_value is None or float(np.asarray(ratio_value).reshape(-1)[0]) != 0.0:
                raise ctx.refuse("training_mode=true drops random elements, which a converted model cannot "
                                 "reproduce")
    elif training:
        raise ctx.refuse("is_test=0 (training-mode Dropout) drops random elements")
    out = ctx.unary("Identity", x)
    mask = None
    if len(node.outputs) > 1 and node.outputs[1]:  # inference keeps every element
        keep = ctx.const(np.asarray(True), "keep") if ctx.opset >= 10 else ctx.scalar(1.0, x, "keep")
        dims = ctx.op("Shape", [x], {"T": x.dtype, "out_type": DType.INT32}, dtype=DType.INT32,
                      shape=Shape((ctx.rank(x),)))
        mask = ctx.op("Fill", [dims, keep], {"T": keep.dtype, "index_type": DType.INT32}, dtype=keep.dtype,
                      shape=x.shape)
    return [out, mask]
