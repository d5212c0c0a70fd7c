"""ONNX Resize / Upsample -> TF.js ResizeBilinear / ResizeNearestNeighbor, only where exact.

TF.js computes source coordinates from (``align_corners``, ``half_pixel_centers``); ONNX from
``coordinate_transformation_mode`` and, for nearest, ``nearest_mode``.  Linear modes map one to one.
For nearest the source index of every output pixel is computed both ways for the model's static
sizes, and the first TF.js setting that picks the same pixels everywhere is used; otherwise the
node is refused rather than converted to something that samples other pixels.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np

from ....ir.graph import Value
from ....ir.types import Shape
from . import OnnxContext, OnnxNode, onnx_op
from .nn import TO_NCHW, TO_NHWC, text_attr

_LINEAR_MODES = {
    "align_corners": (True, False),
    "half_pixel": (False, True),
    "asymmetric": (False, False),
    "pytorch_half_pixel": (False, True),
}

_ROUNDING: dict[str, Callable[[float], int]] = {
    "round_prefer_floor": lambda v: math.ceil(v - 0.5),
    "round_prefer_ceil": lambda v: math.floor(v + 0.5),
    "floor": math.floor,
    "ceil": math.ceil,
}


def _onnx_coordinate(mode: str, out_i: int, scale: float, in_size: int, out_size: int) -> Optional[float]:
    if mode == "half_pixel":
        return (out_i + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (out_i + 0.5) / scale - 0.5 if out_size > 1 else 0.0
    if mode == "align_corners":
        return 0.0 if out_size == 1 else out_i * (in_size - 1) / (out_size - 1)
    if mode == "asymmetric":
        return out_i / scale
    if mode == "tf_half_pixel_for_nn":
        return (out_i + 0.5) / scale
    return None


def _onnx_nearest(mode: str, rounding: str, in_size: int, out_size: int, scale: float) -> Optional[list[int]]:
    fn = _ROUNDING.get(rounding)
    if fn is None:
        return None
    picked = []
    for i in range(out_size):
        coord = _onnx_coordinate(mode, i, scale, in_size, out_size)
        if coord is None:
            return None
        picked.append(min(max(fn(coord), 0), in_size - 1))
    return picked


def _tfjs_nearest(align: bool, half: bool, in_size: int, out_size: int) -> list[int]:
    """tfjs-backend-cpu resizeNearestNeighbor's source rows for one axis."""
    ratio = (in_size - 1) / (out_size - 1) if align and out_size > 1 else in_size / out_size
    picked = []
    for i in range(out_size):
        frac = ratio * (i + 0.5) if half else ratio * i
        index = min(in_size - 1, round(frac) if align else math.floor(frac))
        picked.append(max(0, index) if half else index)
    return picked


def _resize(
    ctx: OnnxContext, node: OnnxNode, x: Value, scales: Optional[np.ndarray], sizes: Optional[np.ndarray]
) -> list[Optional[Value]]:
    if ctx.rank(x) != 4:
        raise ctx.refuse("only 4-D (NCHW) Resize is supported")
    n, c, h, w = ctx.dims(x)  # type: ignore[misc]
    if h is None or w is None:
        raise ctx.refuse("Resize needs static spatial input dimensions")
    if sizes is not None:
        out_hw = [int(v) for v in sizes[-2:]]
        if [int(v) for v in sizes[:2]] not in ([n, c], [-1, c]) and n is not None:
            raise ctx.refuse("Resize may only change the spatial dimensions")
        scale_hw = [out_hw[0] / h, out_hw[1] / w]
    elif scales is not None:
        if float(scales[0]) != 1.0 or float(scales[1]) != 1.0:
            raise ctx.refuse("Resize may only scale the spatial dimensions")
        scale_hw = [float(scales[2]), float(scales[3])]
        out_hw = [int(math.floor(h * scale_hw[0])), int(math.floor(w * scale_hw[1]))]
    else:
        raise ctx.refuse("Resize needs constant scales or sizes")
    mode = text_attr(node, "mode", "nearest")
    coord_mode = text_attr(
        node, "coordinate_transformation_mode", "asymmetric" if ctx.opset < 11 else "half_pixel"
    )
    if int(node.attr("antialias", 0)):
        raise ctx.refuse("antialiased Resize has no TF.js equivalent")
    if mode == "linear":
        if coord_mode not in _LINEAR_MODES:
            raise ctx.refuse(f"linear Resize with coordinate_transformation_mode {coord_mode}")
        if coord_mode == "pytorch_half_pixel" and min(out_hw) == 1:
            raise ctx.refuse("pytorch_half_pixel Resize to a size of 1")
        if coord_mode != "align_corners" and any(
            abs(s - o / i) > 1e-6 for s, o, i in zip(scale_hw, out_hw, (h, w))
        ):
            raise ctx.refuse("Resize scales that do not divide the output size exactly")
        align, half = _LINEAR_MODES[coord_mode]
        op = "ResizeBilinear"
    elif mode == "nearest":
        rounding = text_attr(node, "nearest_mode", "round_prefer_floor")
        # Before opset 11 nearest has no nearest_mode: onnxruntime truncates when upsampling and
        # rounds up when downsampling (its "simple" mode).
        roundings = [rounding if ctx.opset >= 11 else ("floor" if s >= 1 else "ceil") for s in scale_hw]
        wanted = [
            _onnx_nearest(coord_mode, r, size, out, s)
            for r, size, out, s in zip(roundings, (h, w), out_hw, scale_hw)
        ]
        if any(p is None for p in wanted):
            raise ctx.refuse(f"nearest Resize with {coord_mode} / {rounding}")
        for align, half in ((False, False), (False, True), (True, False)):
            if all(
                _tfjs_nearest(align, half, size, out) == p for size, out, p in zip((h, w), out_hw, wanted)
            ):
                break
        else:
            raise ctx.refuse(
                f"nearest Resize with {coord_mode} / {rounding} samples pixels no TF.js setting picks"
            )
        op = "ResizeNearestNeighbor"
    else:
        raise ctx.refuse(f"Resize mode {mode!r} (TF.js has nearest and bilinear only)")
    xt = ctx.transpose(x, TO_NHWC, "to_nhwc")
    y = ctx.op(
        op,
        [xt, ctx.int_const(out_hw, "size")],
        {"T": x.dtype, "align_corners": align, "half_pixel_centers": half},
        dtype=x.dtype,
        shape=Shape((n, out_hw[0], out_hw[1], c)),
    )
    return [ctx.transpose(y, TO_NCHW, "to_nchw")]


def _given(ctx: OnnxContext, value: Optional[Value]) -> Optional[Value]:
    """An optional scales / sizes / roi input, None when absent or empty."""
    if value is None:
        return None
    dims = ctx.dims(value)
    data = ctx.const_value(value)
    if (dims is not None and dims == (0,)) or (data is not None and data.size == 0):
        return None
    return value


def _dispatch(ctx: OnnxContext, node: OnnxNode, x: Value, scales: Optional[Value], sizes: Optional[Value],
              roi: Optional[Value]) -> list[Optional[Value]]:
    """The native TF.js resize where it is exact, else gathers (resize_gather.py)."""
    from ..problems import NodeRefusal
    from .resize_gather import resize_general

    scale_c = None if scales is None else ctx.const_value(scales)
    size_c = None if sizes is None else ctx.const_value(sizes)
    static = (scales is None or scale_c is not None) and (sizes is None or size_c is not None)
    plain = roi is None and node.attr("axes") is None and text_attr(node, "keep_aspect_ratio_policy",
                                                                     "stretch") == "stretch"
    if static and plain and (scale_c is not None or size_c is not None):
        try:
            return _resize(ctx, node, x, None if scale_c is None else np.asarray(scale_c).reshape(-1),
                           None if size_c is None else np.asarray(size_c).reshape(-1))
        except NodeRefusal:
            pass  # not exact with TF.js's resize ops: the general form below is
    return [resize_general(ctx, node, x, scales, sizes, roi)]


@onnx_op("Resize", since=10)
def resize_v10(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return _dispatch(ctx, node, ctx.required(node, 0), _given(ctx, ctx.input(node, 1)), None, None)


@onnx_op("Resize", since=11)
def resize_v11(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    roi = _given(ctx, ctx.input(node, 1))
    mode = text_attr(node, "coordinate_transformation_mode", "half_pixel")
    return _dispatch(ctx, node, ctx.required(node, 0), _given(ctx, ctx.input(node, 2)),
                     _given(ctx, ctx.input(node, 3)), roi if mode == "tf_crop_and_resize" else None)


@onnx_op("Upsample", since=7)
def upsample_v7(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    scales = ctx.const(np.asarray(node.attr("scales"), np.float32), "scales")
    return _dispatch(ctx, node, ctx.required(node, 0), scales, None, None)


@onnx_op("Upsample", since=9)
def upsample(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return _dispatch(ctx, node, ctx.required(node, 0), _given(ctx, ctx.input(node, 1)), None, None)
