"""NCHW neural-network ONNX ops lowered to TF.js's NHWC ops inside Transpose pairs.

Every layout-bound op (convolutions, pooling) reads ``Transpose(x, NCHW->NHWC)`` and returns
``Transpose(y, NHWC->NCHW)``; the ``sink_transposes`` pass later cancels the pairs between
consecutive layers, so a CNN keeps only the transposes at its input and output.  Global pooling
is written as an NCHW reduction, which that pass renumbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np

from ....ir.attrs import attr_text
from ....ir.graph import Value
from ....ir.types import DType, Shape
from . import OnnxContext, OnnxNode, onnx_op

TO_NHWC = (0, 2, 3, 1)
TO_NCHW = (0, 3, 1, 2)


def text_attr(node: OnnxNode, key: str, default: str) -> str:
    return attr_text(node.attr(key, default))


def nhwc_shape(dims: Optional[Sequence[Optional[int]]]) -> Optional[Shape]:
    if dims is None or len(dims) != 4:
        return None
    return Shape(tuple(dims[p] for p in TO_NHWC))


def _same_pads(size: int, k: int, stride: int, dilation: int, upper: bool) -> tuple[int, int]:
    eff = (k - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + eff - size, 0)
    small, big = total // 2, total - total // 2
    return (small, big) if upper else (big, small)


def spatial_pads(
    ctx: OnnxContext,
    node: OnnxNode,
    in_hw: Sequence[Optional[int]],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
) -> tuple[str, list[tuple[int, int]]]:
    """("VALID" | "SAME" | "EXPLICIT", [(before, after) per spatial dim]) for ONNX pads / auto_pad."""
    n = len(kernel)
    auto_pad = text_attr(node, "auto_pad", "NOTSET")
    if auto_pad == "VALID":
        return "VALID", [(0, 0)] * n
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        if any(s is None for s in in_hw):
            if auto_pad == "SAME_UPPER":
                return "SAME", []
            raise ctx.refuse("auto_pad SAME_LOWER needs static spatial dimensions")
        pads = [
            _same_pads(
                int(in_hw[i]),
                kernel[i],
                strides[i],
                dilations[i],  # type: ignore[arg-type]
                auto_pad == "SAME_UPPER",
            )
            for i in range(n)
        ]
        if auto_pad == "SAME_UPPER":
            return "SAME", pads
        return "EXPLICIT", pads
    raw = [int(p) for p in node.attr("pads", [0] * (2 * n))]
    pads = [(raw[i], raw[i + n]) for i in range(n)]
    if all(p == (0, 0) for p in pads):
        return "VALID", pads
    if all(s is not None for s in in_hw):
        same = [
            _same_pads(int(in_hw[i]), kernel[i], strides[i], dilations[i], True)  # type: ignore[arg-type]
            for i in range(n)
        ]
        if same == pads:
            return "SAME", pads
    return "EXPLICIT", pads


def _window_attrs(node: OnnxNode, n: int) -> tuple[list[int], list[int]]:
    strides = [int(s) for s in node.attr("strides", [1] * n)]
    dilations = [int(d) for d in node.attr("dilations", [1] * n)]
    return strides, dilations


def _as_2d(ctx: OnnxContext, x: Value) -> tuple[Value, bool]:
    """A rank-3 (N, C, L) tensor as (N, C, 1, L): 1-D ops run as 2-D ops of height 1.

    The ExpandDims added here only describes the 4-D shape; ``to_nhwc`` reads the rank-3 tensor."""
    rank = ctx.rank(x)
    if rank == 4:
        return x, False
    if rank != 3:
        raise ctx.refuse(f"only 1-D and 2-D spatial inputs are supported, got rank {rank}")
    dims = ctx.dims(x)
    assert dims is not None
    shape = Shape((dims[0], dims[1], 1, dims[2]))
    return ctx.op(
        "ExpandDims",
        [x, ctx.int_const([2], "axis")],
        {"T": x.dtype},
        dtype=x.dtype,
        shape=shape,
        suffix="expand_1d",
    ), True


def to_nhwc(ctx: OnnxContext, x4: Value, squeeze: bool) -> Value:
    """The NHWC input of a lowered op; a 1-D (N, C, L) input becomes (N, 1, L, C) as
    ``ExpandDims(Transpose(x, [0, 2, 1]), 1)``, so consecutive 1-D layers cancel their transposes too."""
    if not squeeze or x4.producer.op != "ExpandDims":
        return ctx.transpose(x4, TO_NHWC, "to_nhwc")
    moved = ctx.transpose(x4.producer.inputs[0], (0, 2, 1), "to_nlc")
    dims = ctx.dims(moved)
    shape = None if dims is None else Shape((dims[0], 1, dims[1], dims[2]))
    return ctx.op(
        "ExpandDims",
        [moved, ctx.int_const([1], "axis")],
        {"T": moved.dtype},
        dtype=moved.dtype,
        shape=shape,
        suffix="expand_1d",
    )


def to_nchw(ctx: OnnxContext, y: Value, squeeze: bool) -> Value:
    """The NCHW (or, for 1-D ops, (N, C, L)) output of a lowered NHWC op."""
    if not squeeze:
        return ctx.transpose(y, TO_NCHW, "to_nchw")
    dims = ctx.dims(y)
    shape = None if dims is None else Shape((dims[0], dims[2], dims[3]))
    squeezed = ctx.op(
        "Squeeze", [y], {"T": y.dtype, "squeeze_dims": [1]}, dtype=y.dtype, shape=shape, suffix="squeeze_1d"
    )
    return ctx.transpose(squeezed, (0, 2, 1), "to_ncl")


def _out_nhwc(ctx: OnnxContext, node: OnnxNode, squeeze: bool) -> Optional[Shape]:
    dims = ctx.out_dims(node, 0)
    if dims is None:
        return None
    if squeeze and len(dims) == 3:
        dims = (dims[0], dims[1], 1, dims[2])
    return nhwc_shape(dims)


def _conv_attrs(
    strides: Sequence[int],
    dilations: Sequence[int],
    padding: str,
    pads: Sequence[tuple[int, int]],
    dtype: Optional[DType],
) -> dict:
    attrs = {
        "T": dtype,
        "strides": [1, strides[0], strides[1], 1],
        "padding": padding.encode(),
        "data_format": b"NHWC",
        "dilations": [1, dilations[0], dilations[1], 1],
    }
    attrs["explicit_paddings"] = (
        [0, 0, pads[0][0], pads[0][1], pads[1][0], pads[1][1], 0, 0] if padding == "EXPLICIT" else []
    )
    return attrs


def conv2d(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    """1-D and 2-D Conv as TF.js's NHWC Conv2D / DepthwiseConv2dNative (conv_more.py dispatches)."""
    x, squeeze = _as_2d(ctx, ctx.required(node, 0))
    w, bias = ctx.required(node, 1), ctx.input(node, 2)
    if squeeze:
        wd = ctx.static_dims(w, "weight")
        w = ctx.op(
            "ExpandDims",
            [w, ctx.int_const([2], "axis")],
            {"T": w.dtype},
            dtype=w.dtype,
            shape=Shape((wd[0], wd[1], 1, wd[2])),
        )
    m, cg, kh, kw = ctx.static_dims(w, "weight")
    group = int(node.attr("group", 1))
    strides, dilations = _window_attrs(node, 2 if not squeeze else 1)
    if squeeze:
        strides, dilations = [1, strides[0]], [1, dilations[0]]
    # TF.js takes strides > 1 or dilations > 1, not both: a dilated stride-1 convolution, then every
    # stride-th output (the same windows, with the padding the strided one would have).
    subsample = list(strides) if max(strides) > 1 and max(dilations) > 1 else None
    if squeeze and node.attr("pads") is not None:
        raw = [int(p) for p in node.attr("pads")]
        node = OnnxNode(
            node.op_type, node.name, node.inputs, node.outputs, {**node.attrs, "pads": [0, raw[0], 0, raw[1]]}
        )
    dims = ctx.dims(x)
    assert dims is not None
    padding, pads = spatial_pads(ctx, node, dims[2:], [kh, kw], strides, dilations)
    xt = to_nhwc(ctx, x, squeeze)
    out_shape = _out_nhwc(ctx, node, squeeze)
    final_shape = out_shape
    if subsample is not None:
        if padding == "SAME":
            if not pads:
                raise ctx.refuse("a strided, dilated convolution with SAME padding needs static spatial dims")
            padding = "EXPLICIT"
        strides, out_shape = [1, 1], None
    attrs = _conv_attrs(strides, dilations, padding, pads, x.dtype)
    channels = cg * group
    if group == 1:
        filt = ctx.transpose(w, (2, 3, 1, 0), "filter")
        y = ctx.op("Conv2D", [xt, filt], {**attrs, "use_cudnn_on_gpu": True}, dtype=x.dtype, shape=out_shape)
    elif cg == 1 and m % group == 0:
        multiplier = m // channels
        filt = ctx.op(
            "Reshape",
            [w, ctx.int_const([channels, multiplier, kh, kw], "shape")],
            {"T": w.dtype},
            dtype=w.dtype,
            shape=Shape((channels, multiplier, kh, kw)),
        )
        filt = ctx.transpose(filt, (2, 3, 0, 1), "filter")
        y = ctx.op("DepthwiseConv2dNative", [xt, filt], attrs, dtype=x.dtype, shape=out_shape)
    else:
        y = _grouped_conv(ctx, xt, w, group, attrs, out_shape)
    if subsample is not None:
        y = ctx.op(
            "StridedSlice",
            [y, ctx.int_const([0] * 4, "begin"), ctx.int_const([0] * 4, "end"),
             ctx.int_const([1, subsample[0], subsample[1], 1], "strides")],
            {"T": y.dtype, "Index": DType.INT32, "begin_mask": 15, "end_mask": 15, "ellipsis_mask": 0,
             "new_axis_mask": 0, "shrink_axis_mask": 0},
            dtype=y.dtype,
            shape=final_shape,
        )
    if bias is not None:
        y = ctx.op(
            "BiasAdd", [y, bias], {"T": y.dtype, "data_format": b"NHWC"}, dtype=y.dtype, shape=final_shape
        )
    return [to_nchw(ctx, y, squeeze)]


def _grouped_conv(
    ctx: OnnxContext, xt: Value, w: Value, group: int, attrs: dict, out_shape: Optional[Shape]
) -> Value:
    m, cg, kh, kw = ctx.static_dims(w, "weight")
    pieces = ctx.op_outputs(
        "Split",
        [ctx.int_const([3], "axis"), xt],
        {"T": xt.dtype, "num_split": group},
        dtype=xt.dtype,
        num_outputs=group,
    )
    per_group = m // group
    outs = []
    for g in range(group):
        begin = ctx.int_const([g * per_group, 0, 0, 0], "begin")
        size = ctx.int_const([per_group, cg, kh, kw], "size")
        wg = ctx.op(
            "Slice",
            [w, begin, size],
            {"T": w.dtype, "Index": DType.INT32},
            dtype=w.dtype,
            shape=Shape((per_group, cg, kh, kw)),
        )
        filt = ctx.transpose(wg, (2, 3, 1, 0), "filter")
        outs.append(ctx.op("Conv2D", [pieces[g], filt], {**attrs, "use_cudnn_on_gpu": True}, dtype=xt.dtype))
    return ctx.op(
        "ConcatV2",
        [*outs, ctx.int_const([3], "axis")],
        {"T": xt.dtype, "N": group, "Tidx": DType.INT32},
        dtype=xt.dtype,
        shape=out_shape,
    )


def _pool(ctx: OnnxContext, node: OnnxNode, is_max: bool) -> list[Optional[Value]]:
    if len(node.outputs) > 1 and node.outputs[1]:
        raise ctx.refuse("the Indices output of MaxPool has no TF.js equivalent")
    x, squeeze = _as_2d(ctx, ctx.required(node, 0))
    kernel = [int(k) for k in node.attr("kernel_shape")]
    strides, dilations = _window_attrs(node, len(kernel))
    if squeeze:
        kernel, strides, dilations = [1] + kernel, [1] + strides, [1] + dilations
        if node.attr("pads") is not None:
            raw = [int(p) for p in node.attr("pads")]
            node = OnnxNode(
                node.op_type,
                node.name,
                node.inputs,
                node.outputs,
                {**node.attrs, "pads": [0, raw[0], 0, raw[1]]},
            )
    if dilations != [1, 1]:
        raise ctx.refuse("dilated pooling is not supported by TF.js MaxPool/AvgPool")
    dims = ctx.dims(x)
    assert dims is not None
    padding, pads = spatial_pads(ctx, node, dims[2:], kernel, strides, dilations)
    include_pad = bool(node.attr("count_include_pad", 0))
    if int(node.attr("ceil_mode", 0)):
        pads, changed = _ceil_pads(ctx, dims[2:], kernel, strides, pads)
        if changed:
            if not is_max:
                raise ctx.refuse("ceil_mode=1 AveragePool whose last window is partial is not exact in TF.js")
            padding = "EXPLICIT"
    xt = to_nhwc(ctx, x, squeeze)
    if padding == "EXPLICIT" or (
        padding == "SAME" and not is_max and include_pad and any(p != (0, 0) for p in pads)
    ):
        if not is_max and not include_pad:
            raise ctx.refuse("AveragePool with count_include_pad=0 and padding other than SAME_UPPER")
        if not pads:
            raise ctx.refuse("padding needs static spatial dimensions")
        fill = np.finfo(np.float32).min if is_max else 0.0
        paddings = ctx.int_const([0, 0, pads[0][0], pads[0][1], pads[1][0], pads[1][1], 0, 0], "paddings")
        paddings = ctx.op(
            "Reshape",
            [paddings, ctx.int_const([4, 2], "shape")],
            {"T": DType.INT32},
            dtype=DType.INT32,
            shape=Shape((4, 2)),
        )
        padded_dims = None
        if xt.shape is not None and xt.shape.dims is not None:
            d = xt.shape.dims
            padded_dims = Shape(
                (
                    d[0],
                    None if d[1] is None else d[1] + sum(pads[0]),
                    None if d[2] is None else d[2] + sum(pads[1]),
                    d[3],
                )
            )
        xt = ctx.op(
            "PadV2",
            [xt, paddings, ctx.scalar(fill, xt)],
            {"T": xt.dtype, "Tpaddings": DType.INT32},
            dtype=xt.dtype,
            shape=padded_dims,
        )
        padding = "VALID"
    attrs = {
        "T": x.dtype,
        "ksize": [1, kernel[0], kernel[1], 1],
        "strides": [1, strides[0], strides[1], 1],
        "padding": padding.encode(),
        "data_format": b"NHWC",
    }
    y = ctx.op(
        "MaxPool" if is_max else "AvgPool", [xt], attrs, dtype=x.dtype, shape=_out_nhwc(ctx, node, squeeze)
    )
    return [to_nchw(ctx, y, squeeze)]


def _ceil_pads(
    ctx: OnnxContext,
    in_hw: Sequence[Optional[int]],
    kernel: Sequence[int],
    strides: Sequence[int],
    pads: list[tuple[int, int]],
) -> tuple[list[tuple[int, int]], bool]:
    """Extra end padding that makes floor-mode windows equal ONNX ceil-mode ones."""
    if any(s is None for s in in_hw) or not pads:
        raise ctx.refuse("ceil_mode=1 needs static spatial dimensions")
    out: list[tuple[int, int]] = []
    changed = False
    for i, size in enumerate(in_hw):
        before, after = pads[i]
        span = int(size) + before + after - kernel[i]  # type: ignore[arg-type]
        floor_n = span // strides[i] + 1
        ceil_n = -(-span // strides[i]) + 1
        if (ceil_n - 1) * strides[i] >= int(size) + before:  # type: ignore[arg-type]
            ceil_n -= 1  # ONNX drops a window that would start in the end padding
        extra = (ceil_n - 1) * strides[i] + kernel[i] - (int(size) + before + after)  # type: ignore[arg-type]
        if ceil_n != floor_n and extra > 0:
            changed = True
            after += extra
        out.append((before, after))
    return out, changed


def native_pool(ctx: OnnxContext, node: OnnxNode, is_max: bool) -> list[Optional[Value]]:
    """MaxPool / AveragePool as TF.js's NHWC pooling ops (refuses what they cannot express)."""
    return _pool(ctx, node, is_max)


def _global(ctx: OnnxContext, node: OnnxNode, op: str) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    axes = list(range(2, ctx.rank(x)))
    return [
        ctx.op(
            op,
            [x, ctx.int_const(axes, "axes")],
            {"T": x.dtype, "Tidx": DType.INT32, "keep_dims": True},
            dtype=x.dtype,
            shape=Shape.of(ctx.out_dims(node, 0)),
        )
    ]


@onnx_op("GlobalAveragePool", since=1)
def global_average_pool(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return _global(ctx, node, "Mean")


@onnx_op("GlobalMaxPool", since=1)
def global_max_pool(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return _global(ctx, node, "Max")
