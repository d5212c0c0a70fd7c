"""ONNX data-movement ops: Transpose, Split, Slice, Gather, Pad, Depth/SpaceToDepth, TopK, CumSum."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType, Shape
from . import OnnxContext, OnnxNode, normalize_axis, onnx_op
from .nn import TO_NCHW, TO_NHWC, text_attr
from .shape import reshape_to, shape_source

_INT32_MAX = 2**31 - 1


@onnx_op("Transpose", since=1)
def transpose(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    perm = node.attr("perm")
    perm = list(range(ctx.rank(x)))[::-1] if perm is None else [int(p) for p in perm]
    return [ctx.transpose(x, perm)]


@onnx_op("Split", since=1)
def split(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    rank = ctx.rank(x)
    axis = normalize_axis(int(node.attr("axis", 0)), rank)
    count = len(node.outputs)
    if ctx.opset >= 13:
        given = ctx.input(node, 1)
        sizes = None if given is None else ctx.const_ints(given, "split")
    else:
        sizes = None if node.attr("split") is None else [int(s) for s in node.attr("split")]
    dims = ctx.dims(x)
    dim = dims[axis] if dims is not None else None
    if sizes is None and node.attr("num_outputs") is not None and dim is not None:
        chunk = -(-int(dim) // count)  # opset 18: the last piece may be smaller
        sizes = [chunk] * (count - 1) + [int(dim) - chunk * (count - 1)]
    if sizes is None or len(set(sizes)) == 1:
        outs = ctx.op_outputs(
            "Split",
            [ctx.int_const([axis], "axis"), x],
            {"T": x.dtype, "num_split": count},
            dtype=x.dtype,
            num_outputs=count,
        )
    else:
        outs = ctx.op_outputs(
            "SplitV",
            [x, ctx.int_const(sizes, "sizes"), ctx.int_const([axis], "axis")],
            {"T": x.dtype, "num_split": count, "Tlen": DType.INT32},
            dtype=x.dtype,
            num_outputs=count,
        )
    for i, out in enumerate(outs):
        out.shape = Shape.of(ctx.out_dims(node, i))
    return list(outs)


def _slice_spec(ctx: OnnxContext, node: OnnxNode) -> tuple[list[int], list[int], list[int], list[int]]:
    if ctx.opset >= 10:
        starts = ctx.const_ints(ctx.required(node, 1), "starts")
        ends = ctx.const_ints(ctx.required(node, 2), "ends")
        axes_v, steps_v = ctx.input(node, 3), ctx.input(node, 4)
        axes = list(range(len(starts))) if axes_v is None else ctx.const_ints(axes_v, "axes")
        steps = [1] * len(starts) if steps_v is None else ctx.const_ints(steps_v, "steps")
    else:
        starts = [int(v) for v in node.attr("starts")]
        ends = [int(v) for v in node.attr("ends")]
        axes = [int(v) for v in node.attr("axes", list(range(len(starts))))]
        steps = [1] * len(starts)
    return starts, ends, axes, steps


@onnx_op("Slice", since=1)
def slice_(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    starts, ends, axes, steps = _slice_spec(ctx, node)
    rank = ctx.rank(x)
    known = shape_source(x)
    if known is not None and rank == 1 and axes in ([0], [-1]):  # a slice of a partly static shape
        picked = list(known)[slice(starts[0], ends[0] if abs(ends[0]) < _INT32_MAX else None, steps[0])]
        if all(d is not None for d in picked):
            return [ctx.const(np.asarray(picked, dtype=np.int64), "shape_slice", x.dtype)]
    begin, end, strides = [0] * rank, [0] * rank, [1] * rank
    begin_mask = end_mask = (1 << rank) - 1
    for start, stop, axis, step in zip(starts, ends, axes, steps):
        if step == 0:
            raise ctx.refuse("Slice with a zero step")
        a = normalize_axis(axis, rank)
        strides[a] = step
        bit = 1 << a
        # The extremes ONNX uses for "to the end" do not fit int32: they become masks.
        if not ((step > 0 and start <= -_INT32_MAX) or (step < 0 and start >= _INT32_MAX)):
            begin[a] = int(np.clip(start, -_INT32_MAX, _INT32_MAX))
            begin_mask &= ~bit
        if not ((step > 0 and stop >= _INT32_MAX) or (step < 0 and stop <= -_INT32_MAX)):
            end[a] = int(np.clip(stop, -_INT32_MAX, _INT32_MAX))
            end_mask &= ~bit
    return [
        ctx.op(
            "StridedSlice",
            [x, ctx.int_const(begin, "begin"), ctx.int_const(end, "end"), ctx.int_const(strides, "strides")],
            {
                "T": x.dtype,
                "Index": DType.INT32,
                "begin_mask": begin_mask,
                "end_mask": end_mask,
                "ellipsis_mask": 0,
                "new_axis_mask": 0,
                "shrink_axis_mask": 0,
            },
            dtype=x.dtype,
            shape=Shape.of(ctx.out_dims(node, 0)),
        )
    ]


@onnx_op("Gather", since=1)
def gather(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x, indices = ctx.required(node, 0), ctx.required(node, 1)
    rank = ctx.rank(x)
    axis = normalize_axis(int(node.attr("axis", 0)), rank)
    index_data = ctx.const_value(indices)
    dims = ctx.dims(x)
    if index_data is not None and dims is not None and dims[axis] is not None:
        index_data = np.where(index_data < 0, index_data + int(dims[axis]), index_data)  # type: ignore[arg-type]
        indices = ctx.const(index_data.astype(np.int32), "indices")
    elif index_data is None or np.any(index_data < 0):
        indices = wrap_negative(ctx, indices, dim_size(ctx, x, axis))
    known = shape_source(x)
    if known is not None and index_data is not None:  # a dim of a partly static shape
        picked = np.asarray(known, dtype=object)[index_data]
        if all(d is not None for d in np.asarray(picked).reshape(-1)):
            return [ctx.const(np.asarray(picked, dtype=np.int64), "shape_dim", x.dtype)]
    return [
        ctx.op(
            "GatherV2",
            [x, indices, ctx.int_const([axis], "axis")],
            {"Tparams": x.dtype, "Tindices": indices.dtype, "Taxis": DType.INT32, "batch_dims": 0},
            dtype=x.dtype,
            shape=Shape.of(ctx.out_dims(node, 0)),
        )
    ]


def dim_size(ctx: OnnxContext, x: Value, axis: int) -> Value:
    """The size of ``x`` along ``axis`` as an int32 scalar (a Const when static)."""
    dims = ctx.dims(x)
    if dims is not None and dims[axis] is not None:
        return ctx.const(np.asarray(int(dims[axis]), np.int32), "dim")  # type: ignore[arg-type]
    return ctx.slice_1d(ctx.shape_of(x), axis, axis + 1, shrink=True)


def wrap_negative(ctx: OnnxContext, indices: Value, size: Value) -> Value:
    """``indices`` with negative entries counted from the end (``i + size``), as int32."""
    idx = ctx.cast(indices, DType.INT32)
    negative = ctx.binary("Less", idx, ctx.const(np.asarray(0, np.int32), "zero"))
    wrapped = ctx.binary("AddV2", idx, size)
    return ctx.select(negative, wrapped, idx)


def _pad_spec(
    ctx: OnnxContext, node: OnnxNode, rank: int
) -> tuple[list[tuple[int, int]], str, Optional[Value]]:
    mode = text_attr(node, "mode", "constant")
    if ctx.opset >= 11:
        raw = ctx.const_ints(ctx.required(node, 1), "pads")
        value = ctx.input(node, 2)
        axes_v = ctx.input(node, 3)
        axes = (
            list(range(rank))
            if axes_v is None
            else [normalize_axis(a, rank) for a in ctx.const_ints(axes_v, "axes")]
        )
    else:
        raw = [int(p) for p in node.attr("pads", node.attr("paddings", []))]
        fill = float(node.attr("value", 0.0))
        value = ctx.const(np.asarray(fill, dtype=np.float32), "value")
        axes = list(range(rank))
    n = len(axes)
    pads = [(0, 0)] * rank
    for i, a in enumerate(axes):
        pads[a] = (raw[i], raw[i + n])
    if any(b < 0 or e < 0 for b, e in pads):
        raise ctx.refuse("negative pads (cropping) are not supported")
    return pads, mode, value


@onnx_op("Pad", since=1)
def pad(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    rank = ctx.rank(x)
    pads, mode, value = _pad_spec(ctx, node, rank)
    out_shape = Shape.of(ctx.out_dims(node, 0))
    flat = [p for pair in pads for p in pair]
    paddings = ctx.op(
        "Reshape",
        [ctx.int_const(flat, "pads"), ctx.int_const([rank, 2], "shape")],
        {"T": DType.INT32},
        dtype=DType.INT32,
        shape=Shape((rank, 2)),
    )
    if mode == "constant":
        fill = ctx.cast(value, x.dtype) if value is not None else ctx.scalar(0, x)
        fill = ctx.op(
            "Reshape", [fill, ctx.int_const([], "scalar")], {"T": x.dtype}, dtype=x.dtype, shape=Shape(())
        )
        return [
            ctx.op(
                "PadV2",
                [x, paddings, fill],
                {"T": x.dtype, "Tpaddings": DType.INT32},
                dtype=x.dtype,
                shape=out_shape,
            )
        ]
    if mode == "reflect":
        return [
            ctx.op(
                "MirrorPad",
                [x, paddings],
                {"T": x.dtype, "Tpaddings": DType.INT32, "mode": b"REFLECT"},
                dtype=x.dtype,
                shape=out_shape,
            )
        ]
    if mode == "edge":  # repeat the border: gather clamped indices along each padded axis
        out = x
        dims = list(ctx.dims(x) or [])
        for axis, (before, after) in enumerate(pads):
            if before == 0 and after == 0:
                continue
            if dims[axis] is None:
                raise ctx.refuse("edge padding of a dynamic dimension")
            size = int(dims[axis])  # type: ignore[arg-type]
            index = np.clip(np.arange(-before, size + after), 0, size - 1).astype(np.int32)
            dims[axis] = size + before + after
            out = ctx.op(
                "GatherV2",
                [out, ctx.const(index, "edge_index"), ctx.int_const([axis], "axis")],
                {"Tparams": x.dtype, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                dtype=x.dtype,
                shape=Shape(tuple(dims)),
            )
        return [out]
    raise ctx.refuse(f"Pad mode {mode!r} (supported: constant, reflect, edge)")


@onnx_op("DepthToSpace", since=1)
def depth_to_space(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    bs = int(node.attr("blocksize"))
    if text_attr(node, "mode", "DCR") == "DCR":  # TF's DepthToSpace is the DCR ordering in NHWC
        xt = ctx.transpose(x, TO_NHWC, "to_nhwc")
        y = ctx.op(
            "DepthToSpace", [xt], {"T": x.dtype, "block_size": bs, "data_format": b"NHWC"}, dtype=x.dtype
        )
        return [ctx.transpose(y, TO_NCHW, "to_nchw")]
    n, c, h, w = ctx.dims(x) or (None,) * 4
    if c is None or h is None or w is None:
        raise ctx.refuse("CRD DepthToSpace needs static C, H, W")
    tmp = reshape_to(ctx, x, [n, c // (bs * bs), bs, bs, h, w])
    tmp = ctx.transpose(tmp, (0, 1, 4, 2, 5, 3))
    return [reshape_to(ctx, tmp, [n, c // (bs * bs), h * bs, w * bs])]


@onnx_op("SpaceToDepth", since=1)
def space_to_depth(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    bs = int(node.attr("blocksize"))
    n, c, h, w = ctx.dims(x) or (None,) * 4
    if c is None or h is None or w is None:
        raise ctx.refuse("SpaceToDepth needs static C, H, W (TF.js has no SpaceToDepth op)")
    tmp = reshape_to(ctx, x, [n, c, h // bs, bs, w // bs, bs])
    crd = text_attr(node, "mode", "DCR") == "CRD"  # opset 28: channels first, then the block offsets
    tmp = ctx.transpose(tmp, (0, 1, 3, 5, 2, 4) if crd else (0, 3, 5, 1, 2, 4))
    return [reshape_to(ctx, tmp, [n, c * bs * bs, h // bs, w // bs])]


@onnx_op("TopK", since=1)
def top_k(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    k_value = ctx.input(node, 1) if ctx.opset >= 10 else ctx.const(np.asarray([int(node.attr("k"))]), "k")
    k = ctx.const_ints(k_value, "K")[0]
    rank = ctx.rank(x)
    axis = normalize_axis(int(node.attr("axis", -1)), rank)
    largest = bool(node.attr("largest", 1))
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    src = x if axis == rank - 1 else ctx.transpose(x, perm, "topk_axis")
    if not largest:
        src = ctx.unary("Neg", src)
    values, indices = ctx.op_outputs(
        "TopKV2",
        [src, ctx.const(np.asarray(k, dtype=np.int32), "k")],
        {"T": x.dtype, "sorted": True},
        dtype=x.dtype,
        num_outputs=2,
    )
    indices.dtype = DType.INT32
    if not largest:
        values = ctx.unary("Neg", values)
    if axis != rank - 1:
        values, indices = ctx.transpose(values, perm, "topk_back"), ctx.transpose(indices, perm, "topk_back")
    values.shape, indices.shape = Shape.of(ctx.out_dims(node, 0)), Shape.of(ctx.out_dims(node, 1))
    return [values, indices]


@onnx_op("CumSum", since=11)
def cumsum(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x, axis = ctx.required(node, 0), ctx.required(node, 1)
    a = normalize_axis(ctx.const_ints(axis, "axis")[0], ctx.rank(x))
    return [
        ctx.op(
            "Cumsum",
            [x, ctx.int_const([a], "axis")],
            {
                "T": x.dtype,
                "Tidx": DType.INT32,
                "exclusive": bool(node.attr("exclusive", 0)),
                "reverse": bool(node.attr("reverse", 0)),
            },
            dtype=x.dtype,
            shape=x.shape,
        )
    ]
