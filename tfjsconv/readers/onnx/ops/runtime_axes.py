"""Squeeze / Unsqueeze with axes computed at run time, as a Reshape to a shape computed at run time.

TF.js's Squeeze takes its axes as an attribute and ExpandDims one axis at a time, so the target
shape is built instead: a OneHot of the (wrapped) axes marks the new or removed positions, and the
other positions take the input's dims in order."""

from __future__ import annotations

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType, Shape
from . import OnnxContext, OnnxNode, wrap_negative


def _marks(ctx: OnnxContext, axes: Value, rank: int) -> Value:
    """int32 [rank]: 1 at every position named by ``axes`` (negative ones wrapped), else 0."""
    wrapped = wrap_negative(ctx, axes, ctx.const(np.asarray(rank, np.int32), "rank"))
    one, zero = (ctx.const(np.asarray(v, np.int32), n) for v, n in ((1, "on"), (0, "off")))
    hot = ctx.op("OneHot", [wrapped, ctx.const(np.asarray(rank, np.int32), "depth"), one, zero],
                 {"T": DType.INT32, "TI": DType.INT32, "axis": -1}, dtype=DType.INT32)
    return ctx.op("Max", [hot, ctx.int_const([0], "axis")], {"T": DType.INT32, "Tidx": DType.INT32,
                                                             "keep_dims": False},
                  dtype=DType.INT32, shape=Shape((rank,)))


def _count(ctx: OnnxContext, axes: Value) -> int:
    dims = ctx.dims(axes)
    if dims is None or len(dims) != 1 or dims[0] is None:
        raise ctx.refuse("axes computed at run time, of unknown length")
    return int(dims[0])


def unsqueeze_runtime(ctx: OnnxContext, node: OnnxNode, x: Value, axes: Value) -> Value:
    rank = ctx.rank(x)
    out_rank = rank + _count(ctx, axes)
    out_shape = Shape.of(ctx.out_dims(node, 0))
    if rank == 0:
        return ctx.reshape(x, [1] * out_rank)
    new = _marks(ctx, axes, out_rank)
    keep = ctx.binary("Sub", ctx.const(np.asarray(1, np.int32), "one"), new)
    source = ctx.op("Cumsum", [keep, ctx.int_const([0], "axis")],
                    {"T": DType.INT32, "Tidx": DType.INT32, "exclusive": True, "reverse": False},
                    dtype=DType.INT32, shape=Shape((out_rank,)))
    source = ctx.binary("Minimum", source, ctx.const(np.asarray(rank - 1, np.int32), "last"))
    dims = ctx.op("GatherV2", [ctx.shape_of(x), source, ctx.int_const([0], "axis")],
                  {"Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                  dtype=DType.INT32, shape=Shape((out_rank,)))
    target = ctx.select(ctx.binary("Greater", new, ctx.const(np.asarray(0, np.int32), "zero")),
                        ctx.const(np.ones(out_rank, np.int32), "ones"), dims)
    return ctx.op("Reshape", [x, target], {"T": x.dtype, "Tshape": DType.INT32}, dtype=x.dtype,
                  shape=out_shape)


def squeeze_runtime(ctx: OnnxContext, node: OnnxNode, x: Value, axes: Value) -> Value:
    rank = ctx.rank(x)
    out_rank = rank - _count(ctx, axes)
    out_shape = Shape.of(ctx.out_dims(node, 0))
    if out_rank == 0:
        return ctx.reshape(x, [])
    gone = _marks(ctx, axes, rank)
    # Kept positions first, in order: the smallest keys of position + rank * removed.
    key = ctx.binary("AddV2", ctx.const(np.arange(rank, dtype=np.int32), "positions"),
                     ctx.binary("Mul", gone, ctx.const(np.asarray(rank, np.int32), "rank")))
    _, order = ctx.op_outputs("TopKV2", [ctx.unary("Neg", key), ctx.const(np.asarray(rank, np.int32), "k")],
                              {"T": DType.INT32, "sorted": True}, dtype=DType.INT32, num_outputs=2)
    kept = ctx.slice_1d(order, 0, out_rank)
    target = ctx.op("GatherV2", [ctx.shape_of(x), kept, ctx.int_const([0], "axis")],
                    {"Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                    dtype=DType.INT32, shape=Shape((out_rank,)))
    return ctx.op("Reshape", [x, target], {"T": x.dtype, "Tshape": DType.INT32}, dtype=x.dtype,
                  shape=out_shape)
