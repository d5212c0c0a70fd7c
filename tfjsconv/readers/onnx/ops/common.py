"""Lowering helpers shared by several ONNX op families (a leaf: it imports no family module)."""

from __future__ import annotations

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType
from . import OnnxContext


def dim_size(ctx: OnnxContext, x: Value, axis: int) -> Value:
    """The size of ``x`` along ``axis`` as an int32 scalar (a Const when static)."""
    dims = ctx.dims(x)
    if dims is not None and dims[axis] is not None:
        return ctx.const(np.asarray(int(dims[axis]), np.int32), "dim")  # type: ignore[arg-type]
    return ctx.slice_1d(ctx.shape_of(x), axis, axis + 1, shrink=True)


def scatter_replace(ctx: OnnxContext, data: Value, coords: Value, updates: Value) -> Value:
    """``data`` with the elements at ``coords`` replaced by ``updates``.

    Not TensorScatterUpdate: TF.js's cpu kernel writes into its input's buffer, so a weight (or any
    tensor read again later) would be changed for the next run.  ScatterNd builds a new tensor."""
    shape = ctx.shape_of(data)
    attrs = {"T": DType.INT32, "Tindices": DType.INT32}
    ones = ctx.op("OnesLike", [ctx.cast(updates, DType.INT32)], {"T": DType.INT32}, dtype=DType.INT32)
    hit = ctx.op("ScatterNd", [coords, ones, shape], attrs, dtype=DType.INT32)
    placed_dtype = DType.INT32 if data.dtype == DType.BOOL else data.dtype
    placed = ctx.op("ScatterNd", [coords, ctx.cast(updates, placed_dtype), shape],
                    {"T": placed_dtype, "Tindices": DType.INT32}, dtype=placed_dtype)
    placed = ctx.cast(placed, data.dtype) if placed_dtype != data.dtype else placed
    out = ctx.select(ctx.binary("Greater", hit, ctx.const(np.asarray(0, np.int32), "zero")), placed, data)
    out.shape = data.shape
    return out
