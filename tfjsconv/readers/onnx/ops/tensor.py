"""ONNX data-movement ops: Transpose, Split, Slice, Gather, Pad, Depth/SpaceToDepth, TopK, CumSum."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType, Shape
from . import OnnxContext, OnnxNode, normalize_axis, onnx_op, wrap_negative
from .common import dim_size, scatter_replace
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
        if given is not None and ctx.const_value(given) is None:  # SplitV reads sizes when it runs
            outs = ctx.op_outputs(
                "SplitV",
                [x, ctx.cast(given, DType.INT32), ctx.int_const([axis], "axis")],
                {"T": x.dtype, "num_split": count, "Tlen": DType.INT32},
                dtype=x.dtype,
                num_outputs=count,
            )
            for i, out in enumerate(outs):
                out.shape = Shape.of(ctx.out_dims(node, i))
            return list(outs)
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


def _runtime_slice(ctx: OnnxContext, node: OnnxNode) -> Optional[Value]:
    """Slice with starts/ends/axes/steps computed at run time: TF.js's StridedSlice reads begin, end and
    strides when it runs; each is built as a full-rank vector (untouched axes: 0, dim, 1)."""
    inputs = [ctx.input(node, i) for i in range(1, 5)]
    if all(v is None or ctx.const_value(v) is not None for v in inputs):
        return None
    x = ctx.required(node, 0)
    rank = ctx.rank(x)
    starts, ends, axes, steps = (None if v is None else ctx.cast(v, DType.INT32) for v in inputs)
    assert starts is not None and ends is not None
    count = (ctx.dims(starts) or (None,))[0]
    if axes is None:
        if count is None:
            raise ctx.refuse("starts of unknown length computed at run time, without axes")
        axes = ctx.int_const(list(range(count)), "axes")
    elif ctx.const_value(axes) is not None:
        axes = ctx.int_const([normalize_axis(a, rank) for a in ctx.const_ints(axes, "axes")], "axes")
    else:
        axes = wrap_negative(ctx, axes, ctx.const(np.asarray(rank, np.int32), "rank"))
    index = ctx.op("ExpandDims", [axes, ctx.int_const([1], "dim")], {"T": DType.INT32, "Tdim": DType.INT32},
                   dtype=DType.INT32, shape=Shape((count, 1)))

    def scatter(default: Value, updates: Value) -> Value:
        return scatter_replace(ctx, default, index, updates)

    begin = scatter(ctx.int_const([0] * rank, "zeros"), starts)
    end = scatter(ctx.shape_of(x), ends)
    ones = ctx.int_const([1] * rank, "ones")
    strides = ones if steps is None else scatter(ones, steps)
    return ctx.op("StridedSlice", [x, begin, end, strides], _strided_attrs(x.dtype, 0, 0), dtype=x.dtype,
                  shape=Shape.of(ctx.out_dims(node, 0)))


def _strided_attrs(dtype: Optional[DType], begin_mask: int, end_mask: int) -> dict:
    return {"T": dtype, "Index": DType.INT32, "begin_mask": begin_mask, "end_mask": end_mask,
            "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0}


@onnx_op("Slice", since=1)
def slice_(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    if ctx.opset >= 10:
        runtime = _runtime_slice(ctx, node)
        if runtime is not None:
            return [runtime]
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
        indices = wrap_negative(ctx, indices, dim_size(ctx, x, axis), keep_int64=True)
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
    if k_value is None:
        raise ctx.refuse("input K is missing")
    k = ctx.reshape(ctx.cast(k_value, DType.INT32), [], "k")  # TopKV2 reads k when it runs
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
        [src, k],
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


def _cumulative(ctx: OnnxContext, node: OnnxNode, tf_op: str) -> list[Optional[Value]]:
    x, axis = ctx.required(node, 0), ctx.required(node, 1)
    if ctx.const_value(axis) is not None:
        axis_value = ctx.int_const([normalize_axis(ctx.const_ints(axis, "axis")[0], ctx.rank(x))], "axis")
    else:  # Cumsum / Cumprod read their axis when they run (but not a negative one)
        rank = ctx.const(np.asarray(ctx.rank(x), np.int32), "rank")
        axis_value = ctx.reshape(wrap_negative(ctx, axis, rank), [], "axis")
    attrs = {"T": x.dtype, "Tidx": DType.INT32, "exclusive": bool(node.attr("exclusive", 0)),
             "reverse": bool(node.attr("reverse", 0))}
    return [ctx.op(tf_op, [x, axis_value], attrs, dtype=x.dtype, shape=x.shape)]


@onnx_op("CumSum", since=11)
def cumsum(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return _cumulative(ctx, node, "Cumsum")


@onnx_op("CumProd", since=26)
def cumprod(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return _cumulative(ctx, node, "Cumprod")
