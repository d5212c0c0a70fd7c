"""ONNX Conv (dispatch; 3-D as TF.js's Conv3D) and ConvTranspose of every spatial rank.

ConvTranspose: 1-D and 2-D run as TF.js's Conv2DBackpropInput, one per group, with a dilated
kernel written out with zeros; 3-D (TF.js has no 3-D transposed convolution) is the equivalent
direct convolution: the input spread by the strides with zeros, padded by the kernel extent, and
convolved with the spatially flipped kernel.  ONNX's pads, output_padding, output_shape and
auto_pad then crop (or, where they ask for more, zero-extend) the full result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType, Shape
from . import OnnxContext, OnnxNode, onnx_op
from .nn import conv2d, spatial_pads, text_attr

_TO_CHANNELS_LAST = {3: (0, 2, 1), 4: (0, 2, 3, 1), 5: (0, 2, 3, 4, 1)}
_TO_CHANNELS_FIRST = {3: (0, 2, 1), 4: (0, 3, 1, 2), 5: (0, 4, 1, 2, 3)}


@onnx_op("Conv", since=1)
def conv(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    if ctx.rank(ctx.required(node, 0)) == 5:
        return [_conv3d(ctx, node)]
    return conv2d(ctx, node)


def _split(ctx: OnnxContext, v: Value, axis: int, parts: int) -> list[Value]:
    if parts == 1:
        return [v]
    attrs = {"T": v.dtype, "num_split": parts}
    outs = list(ctx.op_outputs("Split", [ctx.int_const([axis], "axis"), v], attrs, dtype=v.dtype,
                               num_outputs=parts))
    dims = ctx.dims(v)
    if dims is not None and dims[axis] is not None:
        piece = list(dims)
        piece[axis] = int(dims[axis]) // parts  # type: ignore[arg-type]
        for out in outs:
            out.shape = Shape(tuple(piece))
    return outs


def _concat(ctx: OnnxContext, values: list[Value], axis: int) -> Value:
    if len(values) == 1:
        return values[0]
    return ctx.op("ConcatV2", [*values, ctx.int_const([axis], "axis")],
                  {"T": values[0].dtype, "N": len(values), "Tidx": DType.INT32}, dtype=values[0].dtype)


def _pad_spatial(ctx: OnnxContext, x: Value, pads: Sequence[tuple[int, int]], rank: int) -> Value:
    """Zero padding of the spatial axes of a channels-last tensor."""
    if all(p == (0, 0) for p in pads):
        return x
    flat = [0, 0, *[q for p in pads for q in p], 0, 0]
    return ctx.op("PadV2", [x, ctx.const(np.asarray(flat, np.int32).reshape(rank, 2), "paddings"),
                            ctx.scalar(0.0, x)], {"T": x.dtype, "Tpaddings": DType.INT32}, dtype=x.dtype)


def _conv3d_valid(ctx: OnnxContext, xt: Value, filt: Value, strides: Sequence[int],
                  dilations: Sequence[int]) -> Value:
    attrs = {"T": xt.dtype, "strides": [1, *strides, 1], "padding": b"VALID", "data_format": b"NDHWC",
             "dilations": [1, *dilations, 1]}
    return ctx.op("Conv3D", [xt, filt], attrs, dtype=xt.dtype)


def _conv3d(ctx: OnnxContext, node: OnnxNode) -> Value:
    x, w, bias = ctx.required(node, 0), ctx.required(node, 1), ctx.input(node, 2)
    m, _, *kernel = ctx.static_dims(w, "weight")
    dims = ctx.dims(x)
    assert dims is not None
    group = int(node.attr("group", 1))
    strides = [int(s) for s in node.attr("strides", [1] * 3)]
    dilations = [int(d) for d in node.attr("dilations", [1] * 3)]
    padding, pads = spatial_pads(ctx, node, dims[2:], kernel, strides, dilations)
    if padding == "SAME" and not pads:
        raise ctx.refuse("SAME padding of a 3-D convolution needs static spatial dimensions")
    xt = _pad_spatial(ctx, ctx.transpose(x, _TO_CHANNELS_LAST[5], "to_ndhwc"),
                      [(0, 0)] * 3 if padding == "VALID" else pads, 5)
    # TF.js takes strides > 1 or dilations > 1, not both: stride 1, then every stride-th output.
    subsample = list(strides) if max(strides) > 1 and max(dilations) > 1 else None
    run_strides = [1, 1, 1] if subsample else strides
    pieces = []
    for xg, wg in zip(_split(ctx, xt, 4, group), _split(ctx, w, 0, group)):
        filt = ctx.transpose(wg, (2, 3, 4, 1, 0), "filter")
        pieces.append(_conv3d_valid(ctx, xg, filt, run_strides, dilations))
    y = _concat(ctx, pieces, 4)
    if subsample:
        y = ctx.op("StridedSlice", [y, ctx.int_const([0] * 5, "b"), ctx.int_const([0] * 5, "e"),
                                    ctx.int_const([1, *subsample, 1], "s")],
                   {"T": y.dtype, "Index": DType.INT32, "begin_mask": 31, "end_mask": 31, "ellipsis_mask": 0,
                    "new_axis_mask": 0, "shrink_axis_mask": 0}, dtype=y.dtype)
    if bias is not None:
        y = ctx.binary("AddV2", y, bias)
    out = ctx.transpose(y, _TO_CHANNELS_FIRST[5], "to_ncdhw")
    out.shape = Shape.of(ctx.out_dims(node, 0))
    del m
    return out


# ------------------------------------------------------------------------------ ConvTranspose


def _transpose_geometry(
    ctx: OnnxContext, node: OnnxNode, spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
    dilations: Sequence[int],
) -> tuple[list[int], list[tuple[int, int]]]:
    """(full size per axis, (begin, end) crop per axis; a negative crop extends with zeros)."""
    n = len(spatial)
    out_pad = [int(p) for p in node.attr("output_padding", [0] * n)]
    full = [strides[i] * (spatial[i] - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1 for i in range(n)]
    auto_pad = text_attr(node, "auto_pad", "NOTSET")
    output_shape = node.attr("output_shape")
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        wanted = [int(s) for s in output_shape][-n:] if output_shape is not None else \
            [spatial[i] * strides[i] for i in range(n)]
        crops = []
        for i in range(n):
            total = full[i] - wanted[i]
            small, big = total // 2, total - total // 2
            crops.append((small, big) if auto_pad == "SAME_UPPER" else (big, small))
        return full, crops
    raw = [int(p) for p in node.attr("pads", [0] * (2 * n))]
    return full, [(raw[i], raw[i + n]) for i in range(n)]


def _crop(ctx: OnnxContext, y: Value, full: Sequence[int], crops: Sequence[tuple[int, int]]) -> Value:
    """Channels-last ``y`` of spatial size ``full`` cut by ``crops`` (negative: zeros added)."""
    rank = len(full) + 2
    if any(b > 0 or e > 0 for b, e in crops):
        begin = [0, *[max(b, 0) for b, _ in crops], 0]
        size = [-1, *[f - max(b, 0) - max(e, 0) for f, (b, e) in zip(full, crops)], -1]
        y = ctx.op("Slice", [y, ctx.int_const(begin, "begin"), ctx.int_const(size, "size")],
                   {"T": y.dtype, "Index": DType.INT32}, dtype=y.dtype)
    extend = [(max(-b, 0), max(-e, 0)) for b, e in crops]
    return _pad_spatial(ctx, y, extend, rank)


def _dilated_kernel(ctx: OnnxContext, w: Value, dilations: Sequence[int]) -> Value:
    if all(d == 1 for d in dilations):
        return w
    data = ctx.const_value(w)
    if data is None:  # weights computed at run time: zeros inserted by the model
        kernel = ctx.static_dims(w, "weight")[2:]
        for i, (k, d) in enumerate(zip(kernel, dilations)):
            w = _spread(ctx, w, 2 + i, d, k)
        return w
    kernel = data.shape[2:]
    spread = np.zeros(data.shape[:2] + tuple((k - 1) * d + 1 for k, d in zip(kernel, dilations)), data.dtype)
    spread[(slice(None), slice(None), *[slice(None, None, d) for d in dilations])] = data
    return ctx.const(spread, "dilated_kernel", w.dtype)


def _batch_dim(ctx: OnnxContext, x: Value) -> Value:
    dims = ctx.dims(x)
    if dims is not None and dims[0] is not None:
        return ctx.int_const([int(dims[0])], "batch")
    return ctx.slice_1d(ctx.shape_of(x), 0, 1)


def _backprop_2d(ctx: OnnxContext, xt: Value, w: Value, full: Sequence[int], strides: Sequence[int]) -> Value:
    """One group's full transposed convolution with TF.js's Conv2DBackpropInput (NHWC)."""
    c_out = ctx.static_dims(w, "weight")[1]
    filt = ctx.transpose(w, (2, 3, 1, 0), "filter")  # (kh, kw, out, in), as TF wants
    sizes = ctx.op("ConcatV2", [_batch_dim(ctx, xt), ctx.int_const([full[0], full[1], c_out], "hwc"),
                                ctx.int_const([0], "axis")],
                   {"T": DType.INT32, "N": 2, "Tidx": DType.INT32}, dtype=DType.INT32, shape=Shape((4,)))
    attrs = {"T": xt.dtype, "strides": [1, strides[0], strides[1], 1], "padding": b"VALID",
             "data_format": b"NHWC", "dilations": [1, 1, 1, 1], "explicit_paddings": [],
             "use_cudnn_on_gpu": True}
    return ctx.op("Conv2DBackpropInput", [sizes, filt, xt], attrs, dtype=xt.dtype)


def _spread(ctx: OnnxContext, x: Value, axis: int, stride: int, size: int) -> Value:
    """``x`` with stride-1 zeros between its elements along ``axis`` (all dims but the first static)."""
    if stride == 1:
        return x
    dims = list(ctx.dims(x) or ())
    if any(d is None for d in dims[1:]):
        raise ctx.refuse("a 3-D ConvTranspose needs static spatial dimensions")
    grown = ctx.op("ExpandDims", [x, ctx.int_const([axis + 1], "axis")], {"T": x.dtype, "Tdim": DType.INT32},
                   dtype=x.dtype)
    flat = [0, 0] * len(dims) + [0, 0]
    flat[2 * (axis + 1) + 1] = stride - 1
    grown = ctx.op("PadV2", [grown, ctx.const(np.asarray(flat, np.int32).reshape(-1, 2), "paddings"),
                             ctx.scalar(0.0, x)], {"T": x.dtype, "Tpaddings": DType.INT32}, dtype=x.dtype)
    merged = [-1 if i == 0 else int(d) for i, d in enumerate(dims)]  # type: ignore[arg-type]
    merged[axis] = size * stride
    grown = ctx.reshape(grown, merged, "spread")
    begin, length = [0] * len(dims), [-1] * len(dims)
    length[axis] = (size - 1) * stride + 1
    shape = list(dims)
    shape[axis] = length[axis]
    return ctx.op("Slice", [grown, ctx.int_const(begin, "begin"), ctx.int_const(length, "size")],
                  {"T": x.dtype, "Index": DType.INT32}, dtype=x.dtype, shape=Shape(tuple(shape)))


def _direct_3d(ctx: OnnxContext, xt: Value, w: Value, spatial: Sequence[int], kernel: Sequence[int],
               strides: Sequence[int], dilations: Sequence[int], out_pad: Sequence[int]) -> Value:
    """One group's full 3-D transposed convolution as a direct Conv3D (NDHWC)."""
    for axis in range(3):
        xt = _spread(ctx, xt, axis + 1, strides[axis], spatial[axis])
    extent = [(k - 1) * d for k, d in zip(kernel, dilations)]
    xt = _pad_spatial(ctx, xt, [(e, e + p) for e, p in zip(extent, out_pad)], 5)
    flipped = ctx.op("ReverseV2", [w, ctx.int_const([2, 3, 4], "axes")], {"T": w.dtype, "Tidx": DType.INT32},
                     dtype=w.dtype)
    filt = ctx.transpose(flipped, (2, 3, 4, 0, 1), "filter")  # (kd, kh, kw, in, out)
    return _conv3d_valid(ctx, xt, filt, [1, 1, 1], dilations)


@onnx_op("ConvTranspose", since=1)
def conv_transpose(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x, w, bias = ctx.required(node, 0), ctx.required(node, 1), ctx.input(node, 2)
    rank = ctx.rank(x)
    if rank not in (3, 4, 5):
        raise ctx.refuse(f"ConvTranspose of a rank-{rank} input")
    n = rank - 2
    dims = ctx.dims(x)
    assert dims is not None
    if any(d is None for d in dims[2:]):
        raise ctx.refuse("ConvTranspose needs static spatial input dimensions")
    spatial = [int(d) for d in dims[2:]]  # type: ignore[arg-type]
    kernel = list(ctx.static_dims(w, "weight")[2:])
    strides = [int(s) for s in node.attr("strides", [1] * n)]
    dilations = [int(d) for d in node.attr("dilations", [1] * n)]
    group = int(node.attr("group", 1))
    full, crops = _transpose_geometry(ctx, node, spatial, kernel, strides, dilations)
    xt = ctx.transpose(x, _TO_CHANNELS_LAST[rank], "channels_last")
    pieces = []
    if n == 3:
        out_pad = [int(p) for p in node.attr("output_padding", [0] * n)]
        for xg, wg in zip(_split(ctx, xt, 4, group), _split(ctx, w, 0, group)):
            pieces.append(_direct_3d(ctx, xg, wg, spatial, kernel, strides, dilations, out_pad))
    else:
        w2 = _dilated_kernel(ctx, w, dilations)
        if n == 1:  # (N, L, C) -> (N, 1, L, C), kernel (Cin, Cout, k) -> (Cin, Cout, 1, k)
            xt = ctx.op("ExpandDims", [xt, ctx.int_const([1], "axis")], {"T": x.dtype, "Tdim": DType.INT32},
                        dtype=x.dtype)
            w2 = ctx.op("ExpandDims", [w2, ctx.int_const([2], "axis")], {"T": w.dtype, "Tdim": DType.INT32},
                        dtype=w.dtype, shape=Shape((*ctx.static_dims(w2, "weight")[:2], 1,
                                                    ctx.static_dims(w2, "weight")[2])))
        full2, strides2 = ([1, full[0]], [1, strides[0]]) if n == 1 else (full, strides)
        for xg, wg in zip(_split(ctx, xt, 3, group), _split(ctx, w2, 0, group)):
            pieces.append(_backprop_2d(ctx, xg, wg, full2, strides2))
    y = _concat(ctx, pieces, rank - 1 if n != 1 else 3)
    if n == 1:
        y = ctx.op("Squeeze", [y], {"T": y.dtype, "squeeze_dims": [1]}, dtype=y.dtype)
    y = _crop(ctx, y, full, crops)
    if bias is not None:
        y = ctx.binary("AddV2", y, bias)
    out = ctx.transpose(y, _TO_CHANNELS_FIRST[rank], "channels_first")
    out.shape = Shape.of(ctx.out_dims(node, 0))
    return [out]
