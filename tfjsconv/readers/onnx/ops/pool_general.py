"""Pooling of any spatial rank as strided slices, for what TF.js's MaxPool / AvgPool cannot say:
3-D windows, dilations, ceil_mode with partial windows, count_include_pad=0 with explicit pads,
LpPool, and MaxPool's Indices output.

The input (NCHW..., static spatial dims) is padded once; each kernel tap is one StridedSlice of it
(begin = tap * dilation, step = stride), and the taps are combined with Maximum or AddV2.  An
average divides by a constant count of the window elements it must count (padding included or
not, as ONNX says), computed here with numpy.
"""

from __future__ import annotations

import itertools
from typing import Optional

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType, Shape
from ..problems import NodeRefusal
from . import OnnxContext, OnnxNode, onnx_op
from .nn import native_pool, spatial_pads


def _output_size(size: int, kernel: int, stride: int, dilation: int, pads: tuple[int, int],
                 ceil: bool) -> int:
    span = size + pads[0] + pads[1] - ((kernel - 1) * dilation + 1)
    count = (-(-span // stride) if ceil else span // stride) + 1
    if ceil and (count - 1) * stride >= size + pads[0]:
        count -= 1  # a window may not start in the end padding
    return max(count, 0)


def _pool_geometry(ctx: OnnxContext, node: OnnxNode, dims: tuple[int, ...]) -> tuple[
        list[int], list[int], list[int], list[tuple[int, int]], list[int]]:
    spatial = list(dims[2:])
    n = len(spatial)
    kernel = [int(k) for k in node.attr("kernel_shape")]
    strides = [int(s) for s in node.attr("strides", [1] * n)]
    dilations = [int(d) for d in node.attr("dilations", [1] * n)]
    padding, pads = spatial_pads(ctx, node, spatial, kernel, strides, dilations)
    if padding == "VALID":
        pads = [(0, 0)] * n
    if not pads:
        raise ctx.refuse("padding needs static spatial dimensions")
    ceil = bool(int(node.attr("ceil_mode", 0)))
    outs = [_output_size(spatial[i], kernel[i], strides[i], dilations[i], pads[i], ceil) for i in range(n)]
    return kernel, strides, dilations, pads, outs


def _pad(ctx: OnnxContext, x: Value, pads: list[tuple[int, int]], fill: float) -> Value:
    flat = [0, 0, 0, 0] + [p for pair in pads for p in pair]
    if not any(flat):
        return x
    paddings = ctx.const(np.asarray(flat, np.int32).reshape(-1, 2), "paddings")
    return ctx.op("PadV2", [x, paddings, ctx.scalar(fill, x)], {"T": x.dtype, "Tpaddings": DType.INT32},
                  dtype=x.dtype)


MAX_POOL_TAPS = 4096  # a window this lowering writes out tap by tap (7x7x7 pools have 343)


def _tap(ctx: OnnxContext, xp: Value, offsets: tuple[int, ...], strides: list[int], outs: list[int]) -> Value:
    n = len(offsets)
    begin = [0, 0, *offsets]
    end = [0, 0, *[o + (c - 1) * s + 1 for o, c, s in zip(offsets, outs, strides)]]
    return ctx.op(
        "StridedSlice",
        [xp, ctx.int_const(begin, "begin"), ctx.int_const(end, "end"), ctx.int_const([1, 1, *strides], "s")],
        {"T": xp.dtype, "Index": DType.INT32, "begin_mask": 3, "end_mask": 3, "ellipsis_mask": 0,
         "new_axis_mask": 0, "shrink_axis_mask": 0},
        dtype=xp.dtype,
        shape=Shape(((ctx.dims(xp) or (None, None))[0], (ctx.dims(xp) or (None, None))[1], *outs))
        if n else None,
    )


def general_pool(ctx: OnnxContext, node: OnnxNode, kind: str) -> list[Optional[Value]]:
    """kind: "max", "avg" or "lp"."""
    x = ctx.required(node, 0)
    dims = ctx.dims(x)
    if dims is None or any(d is None for d in dims[2:]):
        raise ctx.refuse("pooling of this kind needs static spatial dimensions")
    kernel, strides, dilations, pads, outs = _pool_geometry(ctx, node, dims)  # type: ignore[arg-type]
    spatial = [int(d) for d in dims[2:]]  # type: ignore[arg-type]
    # End padding that ceil_mode windows reach beyond the explicit pads.
    reach = [max(pads[i][1], (outs[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1
                 - spatial[i] - pads[i][0]) for i in range(len(spatial))]
    full = [(pads[i][0], reach[i]) for i in range(len(spatial))]
    fill = float(np.finfo(np.float32).min) if kind == "max" else 0.0
    work = x if kind != "lp" else _lp_power(ctx, x, int(node.attr("p", 2)))
    xp = _pad(ctx, work, full, fill)
    tap_count = int(np.prod(kernel, dtype=np.int64))
    # Found by fuzzing: a zero-sized kernel left no window at all, and a kernel of millions of taps
    # emitted one slice per tap for minutes.
    if tap_count < 1:
        raise ctx.refuse(f"kernel_shape {list(kernel)} has a dimension below 1")
    if tap_count > MAX_POOL_TAPS:
        raise ctx.refuse(f"a pooling window of {tap_count} taps is too large to lower to TF ops (at most "
                         f"{MAX_POOL_TAPS})")
    taps = list(itertools.product(*[range(k) for k in kernel]))
    want_indices = kind == "max" and len(node.outputs) > 1 and bool(node.outputs[1])
    best: Optional[Value] = None
    best_index: Optional[Value] = None
    for tap in taps:
        offsets = tuple(t * d for t, d in zip(tap, dilations))
        piece = _tap(ctx, xp, offsets, strides, outs)
        if best is None:
            best = piece
            if want_indices:
                best_index = _tap_index(ctx, offsets, strides, outs, pads, spatial, node)
            continue
        if kind == "max":
            if want_indices:
                better = ctx.binary("Greater", piece, best)
                best_index = ctx.select(better, _tap_index(ctx, offsets, strides, outs, pads, spatial, node),
                                        best_index)  # type: ignore[arg-type]
            best = ctx.binary("Maximum", best, piece)
        else:
            best = ctx.binary("AddV2", best, piece)
    assert best is not None
    out_shape = Shape((dims[0], dims[1], *outs))
    if kind == "avg":
        counts = _window_counts(spatial, kernel, strides, dilations, pads, full, outs,
                                bool(int(node.attr("count_include_pad", 0))))
        best = ctx.binary("RealDiv", best, ctx.const(counts.astype(np.float32), "counts"))
    elif kind == "lp":
        p = int(node.attr("p", 2))
        best = ctx.unary("Sqrt", best) if p == 2 else ctx.binary("Pow", best, ctx.scalar(1.0 / p, best))
    best.shape = out_shape
    results: list[Optional[Value]] = [best]
    if want_indices:
        assert best_index is not None
        results.append(_with_batch_offsets(ctx, best_index, dims, spatial, outs))
    return results


def _lp_power(ctx: OnnxContext, x: Value, p: int) -> Value:
    magnitude = ctx.unary("Abs", x)
    if p == 1:
        return magnitude
    if p == 2:
        return ctx.unary("Square", x)
    return ctx.binary("Pow", magnitude, ctx.scalar(float(p), x))


def _window_counts(spatial: list[int], kernel: list[int], strides: list[int], dilations: list[int],
                   pads: list[tuple[int, int]], full: list[tuple[int, int]], outs: list[int],
                   include_pad: bool) -> np.ndarray:
    """How many elements each average window divides by: the input's, plus the explicit padding's
    with count_include_pad (never the end padding only ceil_mode adds)."""
    n = len(spatial)
    inside = np.ones(spatial, np.float64)
    if include_pad:
        inside = np.pad(inside, pads, constant_values=1.0)
        extra = [(0, full[i][1] - pads[i][1]) for i in range(n)]
        inside = np.pad(inside, extra, constant_values=0.0)
    else:
        inside = np.pad(inside, full, constant_values=0.0)
    counts = np.zeros(outs, np.float64)
    for tap in itertools.product(*[range(k) for k in kernel]):
        index = tuple(slice(t * d, t * d + (c - 1) * s + 1, s)
                      for t, d, c, s in zip(tap, dilations, outs, strides))
        counts += inside[index]
    return np.maximum(counts, 1.0).reshape((1, 1, *outs))


def _tap_index(ctx: OnnxContext, offsets: tuple[int, ...], strides: list[int], outs: list[int],
               pads: list[tuple[int, int]], spatial: list[int], node: OnnxNode) -> Value:
    """The flat spatial index (row- or column-major, as storage_order says) each output reads at a tap."""
    grids = np.meshgrid(*[np.arange(c) * s + o - p[0] for c, s, o, p in zip(outs, strides, offsets, pads)],
                        indexing="ij")
    coords = [np.clip(g, 0, size - 1) for g, size in zip(grids, spatial)]
    order = list(range(len(spatial)))
    if int(node.attr("storage_order", 0)):
        order = order[::-1]
    flat = np.zeros(outs, np.int64)
    for axis in order:
        flat = flat * spatial[axis] + coords[axis]
    return ctx.const(flat.reshape((1, 1, *outs)).astype(np.int64), "tap_index", DType.INT64)


def _with_batch_offsets(ctx: OnnxContext, index: Value, dims: tuple, spatial: list[int],
                        outs: list[int]) -> Value:
    """ONNX's Indices count from the start of the whole NCHW tensor."""
    if dims[0] is None or dims[1] is None:
        raise ctx.refuse("MaxPool Indices need static batch and channel dimensions")
    per = int(np.prod(spatial))
    offsets = (np.arange(int(dims[0]) * int(dims[1]), dtype=np.int64) * per).reshape(
        int(dims[0]), int(dims[1]), *([1] * len(spatial)))
    out = ctx.binary("AddV2", ctx.op("BroadcastTo", [index, ctx.int_const([int(dims[0]), int(dims[1]), *outs],
                                                                        "shape")],
                                     {"T": DType.INT64, "Tidx": DType.INT32}, dtype=DType.INT64),
                     ctx.const(offsets, "batch_offsets", DType.INT64))
    out.shape = Shape((dims[0], dims[1], *outs))
    return out


def uses_general_pool(node: OnnxNode, rank: int) -> bool:
    """True when the slice form is needed whatever the input: 3-D, dilations, LpPool, Indices."""
    n = rank - 2
    dilated = any(int(d) != 1 for d in node.attr("dilations", [1] * n))
    indices = len(node.outputs) > 1 and bool(node.outputs[1])
    return rank == 5 or dilated or node.op_type == "LpPool" or indices


def _pool(ctx: OnnxContext, node: OnnxNode, kind: str) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    if not uses_general_pool(node, ctx.rank(x)):
        try:
            return native_pool(ctx, node, kind == "max")
        except NodeRefusal:
            pass  # e.g. count_include_pad=0 with explicit pads: the slice form computes it
    return general_pool(ctx, node, kind)


@onnx_op("MaxPool", since=1)
def max_pool(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return _pool(ctx, node, "max")


@onnx_op("AveragePool", since=1)
def average_pool(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return _pool(ctx, node, "avg")


@onnx_op("LpPool", since=2)
def lp_pool(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return general_pool(ctx, node, "lp")


__all__ = ["general_pool", "uses_general_pool"]
