"""ONNX Pad: constant, reflect, edge and wrap modes, negative pads (cropping), run-time pads.

TF.js's PadV2 and MirrorPad read their paddings when they run, so pads computed at run time stay a
tensor: ONNX's flat ``[b1..bn, e1..en]`` becomes TF's ``(rank, 2)`` with a Reshape and a Transpose.
Negative pads crop: the model pads by ``max(p, 0)`` and then slices ``max(-p, 0)`` off.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType, Shape
from . import OnnxContext, OnnxNode, normalize_axis, onnx_op, wrap_negative
from .common import dim_size
from .nn import text_attr


def _static_pads(ctx: OnnxContext, node: OnnxNode, rank: int) -> Optional[list[tuple[int, int]]]:
    if ctx.opset >= 11:
        pads_v, axes_v = ctx.required(node, 1), ctx.input(node, 3)
        if ctx.const_value(pads_v) is None or (axes_v is not None and ctx.const_value(axes_v) is None):
            return None
        raw = ctx.const_ints(pads_v, "pads")
        axes = list(range(rank)) if axes_v is None else [normalize_axis(a, rank)
                                                          for a in ctx.const_ints(axes_v, "axes")]
    else:
        raw = [int(p) for p in node.attr("pads", node.attr("paddings", []))]
        axes = list(range(rank))
    n = len(axes)
    pads = [(0, 0)] * rank
    for i, a in enumerate(axes):
        pads[a] = (raw[i], raw[i + n])
    return pads


def _runtime_pairs(ctx: OnnxContext, node: OnnxNode, rank: int) -> Value:
    """The (rank, 2) int32 paddings of run-time ONNX pads (and axes)."""
    pads = ctx.cast(ctx.required(node, 1), DType.INT32)
    axes_v = ctx.input(node, 3)
    n = rank if axes_v is None else (ctx.dims(axes_v) or (None,))[0]
    if n is None:
        raise ctx.refuse("axes of unknown length computed at run time")
    pairs = ctx.transpose(
        ctx.op("Reshape", [pads, ctx.int_const([2, n], "shape")], {"T": DType.INT32}, dtype=DType.INT32,
               shape=Shape((2, n))),
        [1, 0],
    )
    if axes_v is None:
        return pairs
    if ctx.const_value(axes_v) is not None:
        axes = ctx.int_const([normalize_axis(a, rank) for a in ctx.const_ints(axes_v, "axes")], "axes")
    else:
        axes = wrap_negative(ctx, axes_v, ctx.const(np.asarray(rank, np.int32), "rank"))
    index = ctx.op("ExpandDims", [axes, ctx.int_const([1], "dim")], {"T": DType.INT32, "Tdim": DType.INT32},
                   dtype=DType.INT32, shape=Shape((n, 1)))
    return ctx.op("ScatterNd", [index, pairs, ctx.int_const([rank, 2], "shape")],
                  {"T": DType.INT32, "Tindices": DType.INT32}, dtype=DType.INT32, shape=Shape((rank, 2)))


def _fill(ctx: OnnxContext, node: OnnxNode, x: Value) -> Value:
    if ctx.opset >= 11:
        value = ctx.input(node, 2)
        fill = ctx.cast(value, x.dtype) if value is not None else ctx.scalar(0, x)
    else:
        fill = ctx.scalar(float(node.attr("value", 0.0)), x)
    return ctx.reshape(fill, [])


def _apply(ctx: OnnxContext, x: Value, mode: str, pairs: Value, fill: Value, shape: Optional[Shape]) -> Value:
    if mode == "constant":
        return ctx.op("PadV2", [x, pairs, fill], {"T": x.dtype, "Tpaddings": DType.INT32}, dtype=x.dtype,
                      shape=shape)
    return ctx.op("MirrorPad", [x, pairs], {"T": x.dtype, "Tpaddings": DType.INT32, "mode": b"REFLECT"},
                  dtype=x.dtype, shape=shape)


@onnx_op("Pad", since=1)
def pad(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    rank = ctx.rank(x)
    mode = text_attr(node, "mode", "constant")
    if mode not in ("constant", "reflect", "edge", "wrap"):
        raise ctx.refuse(f"Pad mode {mode!r}")
    out_shape = Shape.of(ctx.out_dims(node, 0))
    fill = _fill(ctx, node, x) if mode == "constant" else x
    pads = _static_pads(ctx, node, rank)
    if pads is None:
        pairs = _runtime_pairs(ctx, node, rank)
        if mode in ("edge", "wrap"):
            return [_runtime_gather_pad(ctx, x, pairs, mode, out_shape)]
        zero = ctx.const(np.zeros((), np.int32), "zero")
        grown = ctx.binary("Maximum", pairs, zero)
        cut = ctx.binary("Maximum", ctx.unary("Neg", pairs), zero)
        padded = _apply(ctx, x, mode, grown, fill, None)
        cut_before = ctx.op("StridedSlice", [cut, ctx.int_const([0, 0], "b"), ctx.int_const([0, 1], "e"),
                                             ctx.int_const([1, 1], "s")],
                            {"T": DType.INT32, "Index": DType.INT32, "begin_mask": 1, "end_mask": 1,
                             "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 2},
                            dtype=DType.INT32, shape=Shape((rank,)))
        total_cut = ctx.op("Sum", [cut, ctx.int_const([1], "axis")],
                           {"T": DType.INT32, "Tidx": DType.INT32, "keep_dims": False},
                           dtype=DType.INT32, shape=Shape((rank,)))
        size = ctx.binary("Sub", ctx.shape_of(padded), total_cut)
        return [ctx.op("Slice", [padded, cut_before, size], {"T": x.dtype, "Index": DType.INT32},
                       dtype=x.dtype, shape=out_shape)]
    if any(b < 0 or e < 0 for b, e in pads):  # crop first, then pad what is left to pad
        x = _crop(ctx, x, [(max(-b, 0), max(-e, 0)) for b, e in pads])
        pads = [(max(b, 0), max(e, 0)) for b, e in pads]
    if all(p == (0, 0) for p in pads):
        return [ctx.unary("Identity", x)]
    if mode in ("edge", "wrap"):
        return [_gather_pad(ctx, x, pads, mode)]
    flat = [p for pair in pads for p in pair]
    pairs = ctx.const(np.asarray(flat, np.int32).reshape(rank, 2), "paddings")
    return [_apply(ctx, x, mode, pairs, fill, out_shape)]


def _crop(ctx: OnnxContext, x: Value, cuts: list[tuple[int, int]]) -> Value:
    rank = len(cuts)
    end_mask = sum(1 << i for i, (_, e) in enumerate(cuts) if e == 0)
    return ctx.op(
        "StridedSlice",
        [x, ctx.int_const([b for b, _ in cuts], "begin"), ctx.int_const([-e for _, e in cuts], "end"),
         ctx.int_const([1] * rank, "strides")],
        {"T": x.dtype, "Index": DType.INT32, "begin_mask": 0, "end_mask": end_mask, "ellipsis_mask": 0,
         "new_axis_mask": 0, "shrink_axis_mask": 0},
        dtype=x.dtype,
    )


def _gather_pad(ctx: OnnxContext, x: Value, pads: list[tuple[int, int]], mode: str) -> Value:
    """edge (repeat the border) and wrap (continue from the other side): one gather per padded axis."""
    out = x
    dims = list(ctx.dims(x) or [])
    for axis, (before, after) in enumerate(pads):
        if before == 0 and after == 0:
            continue
        if dims[axis] is None:
            raise ctx.refuse(f"{mode} padding of a dynamic dimension")
        size = int(dims[axis])  # type: ignore[arg-type]
        span = np.arange(-before, size + after)
        index = (np.clip(span, 0, size - 1) if mode == "edge" else np.mod(span, size)).astype(np.int32)
        dims[axis] = size + before + after
        out = ctx.op(
            "GatherV2",
            [out, ctx.const(index, "pad_index"), ctx.int_const([axis], "axis")],
            {"Tparams": x.dtype, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
            dtype=x.dtype,
            shape=Shape(tuple(dims)),
        )
    return out


def _runtime_gather_pad(ctx: OnnxContext, x: Value, pairs: Value, mode: str, shape: Optional[Shape]) -> Value:
    """edge / wrap padding by run-time pads: per axis, gather ``range(-before, dim + after)`` clamped
    (edge) or taken modulo the dim (wrap)."""
    out = x
    for axis in range(ctx.rank(x)):
        dim = dim_size(ctx, x, axis)
        row = ctx.op("StridedSlice", [pairs, ctx.int_const([axis, 0], "b"), ctx.int_const([axis + 1, 2], "e"),
                                      ctx.int_const([1, 1], "s")],
                     {"T": DType.INT32, "Index": DType.INT32, "begin_mask": 0, "end_mask": 0,
                      "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 1},
                     dtype=DType.INT32, shape=Shape((2,)))
        before, after = (ctx.slice_1d(row, i, i + 1, shrink=True) for i in (0, 1))
        span = ctx.op("Range", [ctx.unary("Neg", before), ctx.binary("AddV2", dim, after),
                                ctx.const(np.asarray(1, np.int32), "delta")],
                      {"Tidx": DType.INT32}, dtype=DType.INT32, shape=Shape((None,)))
        if mode == "edge":
            last = ctx.binary("Sub", dim, ctx.const(np.asarray(1, np.int32), "one"))
            index = ctx.op("ClipByValue", [span, ctx.const(np.asarray(0, np.int32), "zero"), last],
                           {"T": DType.INT32}, dtype=DType.INT32, shape=span.shape)
        else:
            index = ctx.binary("FloorMod", span, dim)
        out = ctx.op("GatherV2", [out, index, ctx.int_const([axis], "axis")],
                     {"Tparams": x.dtype, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                     dtype=x.dtype)
    out.shape = shape
    return out
