"""ONNX quantization ops as float arithmetic TF.js runs: QuantizeLinear, DequantizeLinear,
QLinearMatMul, MatMulInteger.

TF.js holds int8/uint8 tensors as int32, so the quantized values are plain integers: dequantizing
is ``(x - zero_point) * scale`` and quantizing ``clip(round_half_even(x / scale) + zero_point)``.
With constant weights every dequantization folds into a float32 constant while reading.  Integer
matrix products are exact: an operand whose products could pass 2**24 (where float32 stops
counting every integer) is split into a high and a low part, each product cast to int32.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType, Shape
from . import OnnxContext, OnnxNode, normalize_axis, onnx_op
from .math import matmul_values
from .onnx_types import compute_dtype, onnx_dtype, onnx_elem_type

_RANGES = {
    DType.UINT8: (0, 255), DType.INT8: (-128, 127), DType.UINT16: (0, 65535), DType.INT16: (-32768, 32767),
    DType.INT32: (-(2**31), 2**31 - 1),
}
_EXACT = 2**24


def _along_axis(ctx: OnnxContext, param: Value, x: Value, axis: int, block: int) -> Value:
    """A scale / zero point shaped to broadcast against ``x`` (per-tensor, per-axis or blocked)."""
    dims = ctx.dims(param)
    if dims is None or len(dims) == 0 or (len(dims) == 1 and dims[0] == 1):
        return param if not dims else ctx.reshape(param, [], "scalar")
    rank = ctx.rank(x)
    if not block:
        shape = [1] * rank
        shape[axis] = -1
        return ctx.reshape(param, shape, "per_axis")
    size = (ctx.dims(x) or (None,) * rank)[axis]
    if size is None:
        raise ctx.refuse("blocked quantization along a dimension that is not static")
    repeat = ctx.const((np.arange(int(size)) // block).astype(np.int32), "blocks")
    return ctx.op("GatherV2", [param, repeat, ctx.int_const([axis], "axis")],
                  {"Tparams": param.dtype, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                  dtype=param.dtype, shape=x.shape)


def _axis(ctx: OnnxContext, node: OnnxNode, x: Value) -> tuple[int, int]:
    rank = ctx.rank(x)
    return normalize_axis(int(node.attr("axis", 1)), max(rank, 1)), int(node.attr("block_size", 0) or 0)


def dequantize(ctx: OnnxContext, x: Value, scale: Value, zero: Optional[Value], axis: int,
               block: int) -> Value:
    scale_b = _along_axis(ctx, scale, x, axis, block)
    value = ctx.cast(x, scale.dtype or DType.FLOAT)
    if zero is not None:
        value = ctx.binary("Sub", value, ctx.cast(_along_axis(ctx, zero, x, axis, block), value.dtype))
    out = ctx.binary("Mul", value, scale_b)
    out.shape = x.shape
    return out


def quantize(ctx: OnnxContext, x: Value, scale: Value, zero: Optional[Value], axis: int, block: int,
             elem: int) -> Value:
    exact = onnx_dtype(elem, ctx)
    if exact not in _RANGES:
        raise ctx.refuse(f"quantizing to {exact.name.lower()} (TF.js holds integers of up to 32 bits)")
    low, high = _RANGES[exact]
    value = ctx.cast(x, DType.FLOAT)
    value = ctx.unary("Round", ctx.binary("RealDiv", value, ctx.cast(_along_axis(ctx, scale, x, axis, block),
                                                                      DType.FLOAT)))
    if zero is not None:
        value = ctx.binary("AddV2", value, ctx.cast(_along_axis(ctx, zero, x, axis, block), DType.FLOAT))
    value = ctx.op("ClipByValue", [value, ctx.scalar(float(low), value), ctx.scalar(float(high), value)],
                   {"T": DType.FLOAT}, dtype=DType.FLOAT, shape=x.shape)
    return ctx.cast(value, compute_dtype(elem, ctx))


@onnx_op("DequantizeLinear", since=10)
def dequantize_linear(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x, scale, zero = ctx.required(node, 0), ctx.required(node, 1), ctx.input(node, 2)
    axis, block = _axis(ctx, node, x)
    out = dequantize(ctx, x, scale, zero, axis, block)
    if node.attr("output_dtype"):
        out = ctx.cast(out, compute_dtype(int(node.attr("output_dtype")), ctx))
    return [out]


@onnx_op("QuantizeLinear", since=10)
def quantize_linear(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x, scale, zero = ctx.required(node, 0), ctx.required(node, 1), ctx.input(node, 2)
    elem = 2  # uint8, ONNX's default
    if zero is not None:
        elem = ctx.inferred_types.get(node.inputs[2]) or onnx_elem_type(zero.dtype) or elem
    elif node.attr("output_dtype"):
        elem = int(node.attr("output_dtype"))
    axis, block = _axis(ctx, node, x)
    return [quantize(ctx, x, scale, zero, axis, block, elem)]


def _centered(ctx: OnnxContext, x: Value, zero: Optional[Value]) -> Value:
    """int32 ``x - zero_point`` (a per-row or per-column zero point broadcast as ONNX does)."""
    value = ctx.cast(x, DType.INT32)
    if zero is None:
        return value
    z = ctx.cast(zero, DType.INT32)
    zd = ctx.dims(z)
    if zd and len(zd) == 1 and zd[0] not in (None, 1):  # per-row (a) / per-column (b): caller reshapes
        return ctx.binary("Sub", value, z)
    return ctx.binary("Sub", value, ctx.reshape(z, []) if zd else z)


def integer_matmul(ctx: OnnxContext, a: Value, b: Value, a_zero: Optional[Value],
                   b_zero: Optional[Value]) -> Value:
    """Exact int32 ``(a - a_zero) @ (b - b_zero)`` for 8-bit inputs."""
    if a_zero is not None and len(ctx.dims(a_zero) or ()) == 1 and (ctx.dims(a_zero) or (1,))[0] != 1:
        a_zero = ctx.reshape(a_zero, [-1, 1], "row_zero")
    ca, cb = _centered(ctx, a, a_zero), _centered(ctx, b, b_zero)
    depth = (ctx.dims(a) or (None,))[-1]
    if depth is None:
        raise ctx.refuse("the inner dimension of an integer MatMul must be static")
    fa, fb = ctx.cast(ca, DType.FLOAT), ctx.cast(cb, DType.FLOAT)
    if int(depth) * 255 * 255 < _EXACT:
        return ctx.cast(matmul_values(ctx, fa, fb), DType.INT32)
    if int(depth) * 255 * 16 >= _EXACT:
        raise ctx.refuse("an integer MatMul this deep cannot be computed exactly in float32")
    # b = 16 * high + low with |high| <= 16, |low| < 16: each product stays below 2**24.
    sixteen = ctx.const(np.asarray(16, np.int32), "sixteen")
    high = ctx.binary("FloorDiv", cb, sixteen)
    low = ctx.binary("Sub", cb, ctx.binary("Mul", high, sixteen))
    part_high = ctx.cast(matmul_values(ctx, fa, ctx.cast(high, DType.FLOAT)), DType.INT32)
    part_low = ctx.cast(matmul_values(ctx, fa, ctx.cast(low, DType.FLOAT)), DType.INT32)
    return ctx.binary("AddV2", ctx.binary("Mul", part_high, sixteen), part_low)


@onnx_op("MatMulInteger", since=10)
def matmul_integer(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    a, b = ctx.required(node, 0), ctx.required(node, 1)
    out = integer_matmul(ctx, a, b, ctx.input(node, 2), ctx.input(node, 3))
    out.shape = Shape.of(ctx.out_dims(node, 0))
    return [out]


@onnx_op("QLinearMatMul", since=10)
def qlinear_matmul(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero = (ctx.input(node, i) for i in range(8))
    assert a is not None and b is not None and a_scale is not None and b_scale is not None
    assert y_scale is not None
    acc = integer_matmul(ctx, a, b, a_zero, b_zero)
    a_dims = ctx.dims(a_scale) or ()
    if not a_dims:
        a_s = a_scale
    elif a_dims[0] != 1:
        a_s = ctx.reshape(a_scale, [-1, 1], "row_scale")  # per row of a
    else:
        a_s = ctx.reshape(a_scale, [], "scale")
    scales = ctx.binary("Mul", ctx.cast(a_s, DType.FLOAT), ctx.cast(b_scale, DType.FLOAT))
    factor = ctx.binary("RealDiv", scales, ctx.cast(y_scale, DType.FLOAT))
    value = ctx.unary("Round", ctx.binary("Mul", ctx.cast(acc, DType.FLOAT), factor))
    elem = (ctx.inferred_types.get(node.inputs[7]) if y_zero is not None else None) or \
        ctx.inferred_types.get(node.inputs[0]) or 2
    if y_zero is not None:
        value = ctx.binary("AddV2", value, ctx.cast(y_zero, DType.FLOAT))
    low, high = _RANGES.get(onnx_dtype(elem, ctx), (0, 255))
    value = ctx.op("ClipByValue", [value, ctx.scalar(float(low), value), ctx.scalar(float(high), value)],
                   {"T": DType.FLOAT}, dtype=DType.FLOAT)
    out = ctx.cast(value, compute_dtype(elem, ctx))
    out.shape = Shape.of(ctx.out_dims(node, 0))
    return [out]
