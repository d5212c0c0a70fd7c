"""ONNX bit operations on integers, NonMaxSuppression, ReverseSequence, Compress and NonZero.

TF.js holds every integer as int32, so bit operations are exact integer arithmetic: a shift is a
multiplication or a floored division by a power of two, wrapped to the ONNX type's width; Or and Xor
are computed bit by bit.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType, Shape
from . import OnnxContext, OnnxNode, normalize_axis, onnx_op
from .nn import text_attr

# ONNX element type -> (bits, signed)
_INT_TYPES = {2: (8, False), 3: (8, True), 4: (16, False), 5: (16, True), 6: (32, True), 7: (64, True),
              12: (32, False), 13: (64, False)}


def _int_type(ctx: OnnxContext, node: OnnxNode, index: int = 0) -> tuple[int, bool]:
    elem = ctx.inferred_types.get(node.inputs[index])
    if elem not in _INT_TYPES:
        raise ctx.refuse("the input's integer type is not known")
    return _INT_TYPES[elem]


def _i(ctx: OnnxContext, value: int) -> Value:
    return ctx.const(np.asarray(value, np.int32), "i")


def _wrap(ctx: OnnxContext, z: Value, bits: int, signed: bool) -> Value:
    """``z`` reduced to the value range of a ``bits``-wide integer, as the hardware would."""
    if bits >= 32:
        return z
    modulus = _i(ctx, 1 << bits)
    if not signed:
        return ctx.binary("FloorMod", z, modulus)
    half = _i(ctx, 1 << (bits - 1))
    return ctx.binary("Sub", ctx.binary("FloorMod", ctx.binary("AddV2", z, half), modulus), half)


def _power_of_two(ctx: OnnxContext, y: Value, top: int) -> Value:
    """int32 2**clip(y, 0, top) (exact: top <= 30)."""
    clipped = ctx.op("ClipByValue", [y, _i(ctx, 0), _i(ctx, top)], {"T": DType.INT32}, dtype=DType.INT32)
    power = ctx.binary("Pow", ctx.const(np.asarray(2.0, np.float32), "two"), ctx.cast(clipped, DType.FLOAT))
    return ctx.cast(power, DType.INT32)


@onnx_op("BitShift", since=11)
def bit_shift(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    bits, signed = _int_type(ctx, node)
    x_in = ctx.required(node, 0)
    x, y = ctx.cast(x_in, DType.INT32), ctx.cast(ctx.required(node, 1), DType.INT32)
    in_range = ctx.binary("Less", y, _i(ctx, bits))
    valid = ctx.binary("LogicalAnd", ctx.binary("GreaterEqual", y, _i(ctx, 0)), in_range)
    zero = ctx.op("ZerosLike", [ctx.binary("AddV2", x, y)], {"T": DType.INT32}, dtype=DType.INT32)
    direction = text_attr(node, "direction", "RIGHT")
    if direction == "LEFT":
        if bits == 32 and signed:
            out = _left_shift_int32(ctx, x, y, zero)
        elif bits > 16:
            raise ctx.refuse(f"a left shift of {'' if signed else 'u'}int{bits} (results pass TF.js's int32)")
        else:
            out = _wrap(ctx, ctx.binary("Mul", x, _power_of_two(ctx, y, bits - 1)), bits, signed)
        out = ctx.select(valid, out, zero)
    else:
        # An arithmetic shift is a floored division; shifts of 31 and more leave only the sign.
        fill = ctx.select(ctx.binary("Less", x, _i(ctx, 0)), ctx.binary("Sub", zero, _i(ctx, 1)), zero) \
            if signed else zero
        short = ctx.binary("LogicalAnd", valid, ctx.binary("Less", y, _i(ctx, 31)))
        out = ctx.select(short, ctx.binary("FloorDiv", x, _power_of_two(ctx, y, 30)), fill)
    out = ctx.cast(out, x_in.dtype or DType.INT32)
    out.shape = Shape.of(ctx.out_dims(node, 0))
    return [out]


def _left_shift_int32(ctx: OnnxContext, x: Value, y: Value, zero: Value) -> Value:
    """int32 ``x << y`` bit by bit: bit k moves to k + y; bits past 31 are dropped, bit 31 is the sign."""
    out = zero
    for k in range(32):
        step = _i(ctx, 1 << k) if k < 31 else None
        if k < 31:
            bit = ctx.binary("FloorMod", ctx.binary("FloorDiv", x, step), _i(ctx, 2))  # type: ignore[arg-type]
        else:
            bit = ctx.cast(ctx.binary("Less", x, _i(ctx, 0)), DType.INT32)
        target = ctx.binary("AddV2", y, _i(ctx, k))
        weight = ctx.select(ctx.binary("Less", target, _i(ctx, 31)), _power_of_two(ctx, target, 30),
                            ctx.select(ctx.binary("Equal", target, _i(ctx, 31)),
                                       ctx.binary("AddV2", zero, _i(ctx, -(1 << 31))), zero))
        out = ctx.binary("AddV2", out, ctx.binary("Mul", bit, weight))
    return out


def _combine(ctx: OnnxContext, a: Value, b: Value, kind: str) -> Value:
    """One bit (0 or 1 in int32) of And / Or / Xor."""
    if kind == "and":
        return ctx.binary("Mul", a, b)
    total = ctx.binary("AddV2", a, b)
    if kind == "or":
        return ctx.binary("Sub", total, ctx.binary("Mul", a, b))
    return ctx.binary("FloorMod", total, _i(ctx, 2))


def _bitwise(ctx: OnnxContext, node: OnnxNode, kind: str) -> list[Optional[Value]]:
    """Bit by bit (TF.js 4.22's BitwiseAnd reads inputs it never gets): bit k of a two's-complement
    int32 is floor(a / 2**k) mod 2, and the top (sign) bit weighs -2**(w-1)."""
    bits, signed = _int_type(ctx, node)
    a_in = ctx.required(node, 0)
    a = ctx.cast(a_in, DType.INT32)
    if kind == "not":
        if not signed and bits >= 32:
            raise ctx.refuse(f"BitwiseNot of uint{bits} (its results pass TF.js's int32)")
        out = ctx.binary("Sub", _i(ctx, (1 << bits) - 1), a) if not signed else \
            ctx.binary("Sub", ctx.unary("Neg", a), _i(ctx, 1))
    else:
        b = ctx.cast(ctx.required(node, 1), DType.INT32)
        width = min(bits, 32)
        top = signed or bits >= 32  # the top bit is the sign of the int32 TF.js holds
        out = None
        for k in range(width - 1 if top else width):
            step = _i(ctx, 1 << k)
            ak, bk = (ctx.binary("FloorMod", ctx.binary("FloorDiv", v, step), _i(ctx, 2)) for v in (a, b))
            term = ctx.binary("Mul", _combine(ctx, ak, bk, kind), step)
            out = term if out is None else ctx.binary("AddV2", out, term)
        if top:
            sa, sb = (ctx.cast(ctx.binary("Less", v, _i(ctx, 0)), DType.INT32) for v in (a, b))
            term = ctx.binary("Mul", _combine(ctx, sa, sb, kind), _i(ctx, -(1 << (width - 1))))
            out = term if out is None else ctx.binary("AddV2", out, term)
        assert out is not None
    out = ctx.cast(out, a_in.dtype or DType.INT32)
    out.shape = Shape.of(ctx.out_dims(node, 0))
    return [out]


@onnx_op("BitwiseAnd", since=18)
def bitwise_and(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return _bitwise(ctx, node, "and")


@onnx_op("BitwiseOr", since=18)
def bitwise_or(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return _bitwise(ctx, node, "or")


@onnx_op("BitwiseXor", since=18)
def bitwise_xor(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return _bitwise(ctx, node, "xor")


@onnx_op("BitwiseNot", since=18)
def bitwise_not(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return _bitwise(ctx, node, "not")


# ------------------------------------------------------------------------- NonMaxSuppression


def _take(ctx: OnnxContext, v: Value, index: int, axis: int) -> Value:
    return ctx.op("GatherV2", [v, _i(ctx, index), ctx.int_const([axis], "axis")],
                  {"Tparams": v.dtype, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                  dtype=v.dtype)


def _scalar(ctx: OnnxContext, v: Optional[Value], default: float, dtype: DType) -> Value:
    if v is None:
        return ctx.const(np.asarray(default, dtype.numpy), "default")
    return ctx.reshape(ctx.cast(v, dtype), [], "scalar")


@onnx_op("NonMaxSuppression", since=10)
def non_max_suppression(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    boxes, scores = ctx.required(node, 0), ctx.required(node, 1)
    bdims, sdims = ctx.dims(boxes), ctx.dims(scores)
    if bdims is None or sdims is None or bdims[0] is None or sdims[1] is None:
        raise ctx.refuse("the batch and class counts must be static (one TF.js NMS runs per pair)")
    batches, classes = int(bdims[0]), int(sdims[1])
    limit = _scalar(ctx, ctx.input(node, 2), 0, DType.INT32)
    iou = _scalar(ctx, ctx.input(node, 3), 0.0, DType.FLOAT)
    # TF.js keeps boxes whose score is above the threshold; with no threshold ONNX keeps them all.
    floor = _scalar(ctx, ctx.input(node, 4), float(np.finfo(np.float32).min), DType.FLOAT)
    rows = []
    for b in range(batches):
        box = _take(ctx, boxes, b, 0)  # [N, 4]
        if int(node.attr("center_point_box", 0)):  # (x_center, y_center, w, h) -> (y1, x1, y2, x2)
            xc, yc, w, h = (_take(ctx, box, k, 1) for k in range(4))
            half_w, half_h = (ctx.binary("Mul", v, ctx.scalar(0.5, v)) for v in (w, h))
            box = ctx.op("Pack", [ctx.binary("Sub", yc, half_h), ctx.binary("Sub", xc, half_w),
                                  ctx.binary("AddV2", yc, half_h), ctx.binary("AddV2", xc, half_w)],
                         {"T": box.dtype, "N": 4, "axis": 1}, dtype=box.dtype)
        for c in range(classes):
            score = _take(ctx, _take(ctx, scores, b, 0), c, 0)  # [N]
            picked = ctx.op("NonMaxSuppressionV3", [box, score, limit, iou, floor],
                            {"T": DType.FLOAT, "T_threshold": DType.FLOAT}, dtype=DType.INT32)
            count = ctx.slice_1d(ctx.shape_of(picked), 0, 1)
            ids = ctx.op("Fill", [count, _i(ctx, b)], {"T": DType.INT32, "index_type": DType.INT32},
                         dtype=DType.INT32)
            cls = ctx.op("Fill", [count, _i(ctx, c)], {"T": DType.INT32, "index_type": DType.INT32},
                         dtype=DType.INT32)
            rows.append(ctx.op("Pack", [ids, cls, picked], {"T": DType.INT32, "N": 3, "axis": 1},
                               dtype=DType.INT32))
    out = rows[0] if len(rows) == 1 else ctx.op(
        "ConcatV2", [*rows, ctx.int_const([0], "axis")],
        {"T": DType.INT32, "N": len(rows), "Tidx": DType.INT32}, dtype=DType.INT32)
    out = ctx.cast(out, DType.INT64)
    out.shape = Shape((None, 3))
    return [out]


# ------------------------------------------------------------ ReverseSequence, Compress, NonZero


@onnx_op("ReverseSequence", since=10)
def reverse_sequence(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x, lengths = ctx.required(node, 0), ctx.cast(ctx.required(node, 1), DType.INT32)
    rank = ctx.rank(x)
    batch_axis = normalize_axis(int(node.attr("batch_axis", 1)), rank)
    time_axis = normalize_axis(int(node.attr("time_axis", 0)), rank)
    from .common import dim_size

    steps = dim_size(ctx, x, time_axis)
    t = ctx.op("Range", [_i(ctx, 0), steps, _i(ctx, 1)], {"Tidx": DType.INT32}, dtype=DType.INT32)
    t_col = ctx.reshape(t, [1, -1], "time")  # [1, T]
    len_col = ctx.reshape(lengths, [-1, 1], "lengths")  # [B, 1]
    # Within each entry's length the time index runs backwards; past it, it stays.
    flipped = ctx.binary("Sub", ctx.binary("Sub", len_col, _i(ctx, 1)), t_col)
    stay = ctx.binary("AddV2", t_col, ctx.binary("Mul", len_col, _i(ctx, 0)))  # t, broadcast to [B, T]
    source = ctx.select(ctx.binary("Less", t_col, len_col), flipped, stay)
    b = ctx.op("Range", [_i(ctx, 0), dim_size(ctx, x, batch_axis), _i(ctx, 1)], {"Tidx": DType.INT32},
               dtype=DType.INT32)
    b_grid = ctx.op("BroadcastTo", [ctx.reshape(b, [-1, 1], "batch"), ctx.shape_of(source)],
                    {"T": DType.INT32, "Tidx": DType.INT32}, dtype=DType.INT32)
    coords = ctx.op("Pack", [b_grid, source], {"T": DType.INT32, "N": 2, "axis": -1}, dtype=DType.INT32)
    rest = [a for a in range(rank) if a not in (batch_axis, time_axis)]
    perm = [batch_axis, time_axis, *rest]
    moved = x if perm == list(range(rank)) else ctx.transpose(x, perm, "batch_time")
    gathered = ctx.op("GatherNd", [moved, coords], {"Tparams": x.dtype, "Tindices": DType.INT32},
                      dtype=x.dtype)  # [B, T, ...]
    back = [perm.index(a) for a in range(rank)]
    out = gathered if perm == list(range(rank)) else ctx.transpose(gathered, back, "restore")
    out.shape = x.shape
    return [out]


def _true_positions(ctx: OnnxContext, mask: Value) -> Value:
    """int32 [k, rank] coordinates of the true elements (TF's Where)."""
    return ctx.cast(ctx.op("Where", [ctx.cast(mask, DType.BOOL)], {"T": DType.BOOL}, dtype=DType.INT64),
                    DType.INT32)


@onnx_op("Compress", since=9)
def compress(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x, condition = ctx.required(node, 0), ctx.required(node, 1)
    axis = node.attr("axis")
    if axis is None:
        x = ctx.reshape(x, [-1], "flat")
        axis = 0
    axis = normalize_axis(int(axis), ctx.rank(x))
    picked = ctx.reshape(_true_positions(ctx, condition), [-1], "picked")
    out = ctx.op("GatherV2", [x, picked, ctx.int_const([axis], "axis")],
                 {"Tparams": x.dtype, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                 dtype=x.dtype, shape=Shape.of(ctx.out_dims(node, 0)))
    return [out]


@onnx_op("NonZero", since=9)
def non_zero(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    mask = ctx.binary("NotEqual", x, ctx.const(np.zeros((), (x.dtype or DType.FLOAT).numpy), "zero"))
    positions = ctx.op("Where", [mask], {"T": DType.BOOL}, dtype=DType.INT64)
    return [ctx.transpose(positions, [1, 0], "by_axis")]
