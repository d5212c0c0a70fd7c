"""ONNX element-indexing ops: GatherElements, GatherND, ScatterElements / Scatter, ScatterND, OneHot.

TF.js has GatherNd and ScatterNd on full coordinates, so the per-axis ONNX
forms build their coordinates: every position of ``indices`` paired with its own coordinates on the
other axes (Range + BroadcastTo, folded to Consts when shapes are static).  Negative indices are
counted from the end first, as ONNX defines them; TF.js would read them out of bounds.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType, Shape
from . import OnnxContext, OnnxNode, normalize_axis, onnx_op, wrap_negative
from .common import dim_size, scatter_replace
from .nn import text_attr


def _int(ctx: OnnxContext, value: int) -> Value:
    return ctx.const(np.asarray(value, np.int32), "i")


def coordinate(ctx: OnnxContext, like: Value, d: int) -> Value:
    """int32 tensor shaped like ``like`` holding each element's coordinate on axis ``d``."""
    rank = ctx.rank(like)
    line = ctx.op("Range", [_int(ctx, 0), dim_size(ctx, like, d), _int(ctx, 1)], {"Tidx": DType.INT32},
                  dtype=DType.INT32, shape=Shape(((ctx.dims(like) or [None] * rank)[d],)))
    dims = [1] * rank
    dims[d] = -1
    line = ctx.reshape(line, dims, "coord")
    return ctx.op("BroadcastTo", [line, ctx.shape_of(like)], {"T": DType.INT32, "Tidx": DType.INT32},
                  dtype=DType.INT32, shape=like.shape)


def _pack_last(ctx: OnnxContext, parts: list[Value], like: Value) -> Value:
    dims = None if like.shape is None or like.shape.dims is None else like.shape.dims + (len(parts),)
    return ctx.op("Pack", parts, {"T": DType.INT32, "N": len(parts), "axis": -1}, dtype=DType.INT32,
                  shape=Shape.of(dims))


def axis_coordinates(ctx: OnnxContext, indices: Value, axis: int) -> Value:
    """int32 [*indices.shape, rank]: the coordinates of each element, with ``indices`` on ``axis``."""
    parts = [indices if d == axis else coordinate(ctx, indices, d) for d in range(ctx.rank(indices))]
    return _pack_last(ctx, parts, indices)


def _axis_indices(ctx: OnnxContext, data: Value, indices: Value, axis: int) -> Value:
    wrapped = wrap_negative(ctx, indices, dim_size(ctx, data, axis))
    wrapped.shape = indices.shape
    return wrapped


@onnx_op("GatherElements", since=11)
def gather_elements(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    data, indices = ctx.required(node, 0), ctx.required(node, 1)
    axis = normalize_axis(int(node.attr("axis", 0)), ctx.rank(data))
    coords = axis_coordinates(ctx, _axis_indices(ctx, data, indices, axis), axis)
    return [ctx.op("GatherNd", [data, coords], {"Tparams": data.dtype, "Tindices": DType.INT32},
                   dtype=data.dtype, shape=indices.shape)]


def _scatter(ctx: OnnxContext, node: OnnxNode, data: Value, coords: Value, updates: Value) -> Value:
    reduction = text_attr(node, "reduction", "none")
    if reduction == "none":
        return scatter_replace(ctx, data, coords, updates)
    if reduction == "add":  # ScatterNd sums the updates that land on one element
        added = ctx.op("ScatterNd", [coords, updates, ctx.shape_of(data)],
                       {"T": data.dtype, "Tindices": DType.INT32}, dtype=data.dtype, shape=data.shape)
        return ctx.binary("AddV2", data, added)
    raise ctx.refuse(f"reduction={reduction!r} (TF.js scatters only replace or add)")


@onnx_op("ScatterElements", "Scatter", since=9)
def scatter_elements(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    data, indices, updates = (ctx.required(node, i) for i in range(3))
    axis = normalize_axis(int(node.attr("axis", 0)), ctx.rank(data))
    coords = axis_coordinates(ctx, _axis_indices(ctx, data, indices, axis), axis)
    return [_scatter(ctx, node, data, coords, updates)]


def _nd_indices(ctx: OnnxContext, data: Value, indices: Value) -> Value:
    """ScatterND / GatherND indices with negative entries counted from the end of their axis."""
    depth = (ctx.dims(indices) or (None,))[-1]
    if depth is None:
        raise ctx.refuse("the last dimension of indices must be static")
    sizes = ctx.slice_1d(ctx.shape_of(data), 0, int(depth))
    idx = ctx.cast(indices, DType.INT32)
    negative = ctx.binary("Less", idx, _int(ctx, 0))
    out = ctx.select(negative, ctx.binary("AddV2", idx, sizes), idx)
    out.shape = indices.shape
    return out


@onnx_op("ScatterND", since=11)
def scatter_nd(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    data, indices, updates = (ctx.required(node, i) for i in range(3))
    return [_scatter(ctx, node, data, _nd_indices(ctx, data, indices), updates)]


@onnx_op("GatherND", since=11)
def gather_nd(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    data, indices = ctx.required(node, 0), ctx.required(node, 1)
    batch = int(node.attr("batch_dims", 0))
    coords = _nd_indices(ctx, data, indices)
    if batch:  # prepend each position's batch coordinates: a plain GatherNd on full coordinates
        rank = ctx.rank(indices)
        if batch >= rank:
            raise ctx.refuse("batch_dims must be smaller than the rank of indices")
        ends = ctx.int_const([0] * (rank - 1) + [1], "e")
        positions = ctx.op("StridedSlice", [coords, ctx.int_const([0] * rank, "b"), ends,
                                            ctx.int_const([1] * rank, "s")],
                           {"T": DType.INT32, "Index": DType.INT32, "begin_mask": (1 << (rank - 1)) - 1,
                            "end_mask": (1 << (rank - 1)) - 1, "ellipsis_mask": 0, "new_axis_mask": 0,
                            "shrink_axis_mask": 1 << (rank - 1)},
                           dtype=DType.INT32, shape=Shape.of((ctx.dims(indices) or (None,) * rank)[:-1]))
        lead = _pack_last(ctx, [coordinate(ctx, positions, d) for d in range(batch)], positions)
        coords = ctx.op("ConcatV2", [lead, coords, ctx.int_const([-1], "axis")],
                        {"T": DType.INT32, "N": 2, "Tidx": DType.INT32}, dtype=DType.INT32)
    return [ctx.op("GatherNd", [data, coords], {"Tparams": data.dtype, "Tindices": DType.INT32},
                   dtype=data.dtype, shape=Shape.of(ctx.out_dims(node, 0)))]


@onnx_op("OneHot", since=9)
def one_hot(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    indices, depth, values = (ctx.required(node, i) for i in range(3))
    depth32 = ctx.reshape(ctx.cast(ctx.unary("Floor", ctx.cast(depth, DType.FLOAT))
                                   if depth.dtype not in (DType.INT32, DType.INT64) else depth, DType.INT32),
                          [], "depth")
    idx = ctx.cast(indices, DType.INT32)
    if idx.dtype != indices.dtype and indices.dtype not in (DType.INT64, DType.INT32):
        idx = ctx.cast(ctx.unary("Floor", ctx.cast(indices, DType.FLOAT)), DType.INT32)
    idx = ctx.select(ctx.binary("Less", idx, _int(ctx, 0)), ctx.binary("AddV2", idx, depth32), idx)
    off = ctx.slice_1d(values, 0, 1, shrink=True)
    on = ctx.slice_1d(values, 1, 2, shrink=True)
    out_rank = ctx.rank(indices) + 1
    axis = normalize_axis(int(node.attr("axis", -1)), out_rank)
    # TF.js's OneHot ignores its axis attribute: the new axis is last, then moved.
    hot = ctx.op("OneHot", [idx, depth32, on, off], {"T": values.dtype, "TI": DType.INT32, "axis": -1},
                 dtype=values.dtype)
    if axis != out_rank - 1:
        perm = list(range(out_rank - 1))
        perm.insert(axis, out_rank - 1)
        hot = ctx.transpose(hot, perm, "onehot_axis")
    hot.shape = Shape.of(ctx.out_dims(node, 0))
    return [hot]
