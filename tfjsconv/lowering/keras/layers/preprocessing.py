"""Preprocessing layers that are plain arithmetic: Rescaling, Normalization, Resizing, CenterCrop.

Resizing follows ``tf.image.resize`` (what both Kerases call): half-pixel centres, no corner
alignment.  TF.js has bilinear and nearest-neighbour kernels only; other interpolations and
antialiasing are refused by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType
from ...builder import Builder, dims
from ..registry import LayerCall, Refusal, lower_layer, static_dims
from .conv import to_first, to_last
from .core import scalar

_KERAS_EPSILON = 1e-7


def to_float(b: Builder, x: Value) -> Value:
    return x if x.dtype in (DType.FLOAT, None) else b.cast(x, DType.FLOAT)


def _per_channel(b: Builder, x: Value, value: Any, name: str) -> Value:
    array = np.asarray(value, np.float32)
    return b.const(array.reshape(-1) if array.size > 1 else array.reshape(()), name)


@lower_layer("Rescaling", mask="keep")
def rescaling(call: LayerCall) -> Value:
    b = call.builder
    x = to_float(b, call.input)
    scale, offset = call.get("scale", 1.0), call.get("offset", 0.0)
    y = b.binary("Mul", x, _per_channel(b, x, scale, "scale"))
    if np.any(np.asarray(offset, np.float64) != 0):
        y = b.binary("AddV2", y, _per_channel(b, x, offset, "offset"))
    return y


@lower_layer("Normalization", mask="keep")
def normalization(call: LayerCall) -> Value:
    """(x - mean) / max(sqrt(var), 1e-7), or its inverse, with the statistics stored or inline."""
    b = call.builder
    x = to_float(b, call.input)
    shape = static_dims(call, x)
    rank = len(shape)
    axis = call.config.get("axis", -1)
    listed = [] if axis is None else [axis] if isinstance(axis, int) else list(axis)
    kept = sorted({int(a) % rank for a in listed})
    broadcast = [int(shape[i]) if i in kept and shape[i] is not None else 1 for i in range(rank)]
    if any(shape[i] is None for i in kept):
        raise Refusal("needs static sizes along its feature axes")
    size = int(np.prod([broadcast[i] for i in kept])) if kept else 1
    inline_mean, inline_var = call.config.get("mean"), call.config.get("variance")
    if (inline_mean is None) != (inline_var is None):
        raise Refusal("only one of mean and variance is set in the config")
    if inline_mean is not None:
        mean = np.broadcast_to(np.asarray(inline_mean, np.float32).reshape(-1), (size,))
        variance = np.broadcast_to(np.asarray(inline_var, np.float32).reshape(-1), (size,))
        mean_v = b.const(mean.reshape(broadcast[1:]) if kept else mean.reshape(()), "mean")
        std_v = b.const(np.maximum(np.sqrt(variance), _KERAS_EPSILON).reshape(broadcast[1:]) if kept
                        else np.maximum(np.sqrt(variance), _KERAS_EPSILON).reshape(()), "std")
    else:
        mean_a = call.weight_array("mean")
        var_a = call.weight_array("variance")
        call.ignore_weight("count")
        if int(np.prod(mean_a.shape)) != size or int(np.prod(var_a.shape)) != size:
            raise Refusal(f"stores statistics of {int(np.prod(mean_a.shape))} values for {size} features")
        target = broadcast[1:] if kept else []
        mean_v = b.derived_weight(mean_a, "norm_mean", lambda m: m.astype(np.float32).reshape(target),
                                  f"{call.name}/mean")
        std_v = b.derived_weight(var_a, "norm_std",
                                 lambda v: np.maximum(np.sqrt(v.astype(np.float32)),
                                                      np.float32(_KERAS_EPSILON)).reshape(target),
                                 f"{call.name}/std")
    if call.get("invert", False):
        return b.binary("AddV2", b.binary("Mul", x, std_v), mean_v)
    return b.binary("RealDiv", b.binary("Sub", x, mean_v), std_v)


def _image_layout(call: LayerCall, x: Value) -> tuple[Value, bool]:
    shape = static_dims(call, x)
    if len(shape) not in (3, 4):
        raise Refusal(f"expects an image batch (rank 4) or one image (rank 3), got rank {len(shape)}")
    first = call.get("data_format", "channels_last") == "channels_first"
    if len(shape) == 3:
        raise Refusal("unbatched (rank-3) images are not lowered")
    return (to_last(call.builder, x, 2) if first else x), first


def crop_box(height: int, width: int, target_h: int, target_w: int) -> tuple[int, int, int, int]:
    """Keras's crop_to_aspect_ratio box: (top, left, crop height, crop width)."""
    crop_h = max(min(height, int(float(width * target_h) / target_w)), 1)
    crop_w = max(min(width, int(float(height * target_w) / target_h)), 1)
    return int(float(height - crop_h) / 2), int(float(width - crop_w) / 2), crop_h, crop_w


def resize_images(b: Builder, x: Value, height: int, width: int, interpolation: str,
                  crop_to_aspect: bool = False, pad_to_aspect: bool = False,
                  fill_value: float = 0.0) -> Value:
    """``tf.image.resize`` of a channels-last batch with Keras's aspect-ratio options."""
    shape = dims(x)
    assert shape is not None
    in_h, in_w = shape[1], shape[2]
    if crop_to_aspect or pad_to_aspect:
        if in_h is None or in_w is None:
            raise Refusal("crop/pad_to_aspect_ratio needs static image sizes")
        if crop_to_aspect:
            top, left, ch, cw = crop_box(in_h, in_w, height, width)
            if (ch, cw) != (in_h, in_w):
                x = b.slice(x, [0, top, left, 0], [-1, ch, cw, -1], "crop_to_aspect_ratio")
        else:
            pad_h = max(in_h, int(float(in_w * height) / width))
            pad_w = max(in_w, int(float(in_h * width) / height))
            top, left = int(float(pad_h - in_h) / 2), int(float(pad_w - in_w) / 2)
            if top or left:
                # Keras pads the same amount on both sides (an odd difference loses one row/column).
                pads = np.asarray([(0, 0), (top, top), (left, left), (0, 0)], np.int32)
                x = b.op("PadV2", [x, b.const(pads, "paddings"), scalar(b, x, fill_value)],
                         {"Tpaddings": DType.INT32}, name="pad_to_aspect_ratio")
    interpolation = interpolation.lower()
    if interpolation not in ("bilinear", "nearest"):
        raise Refusal(f"interpolation={interpolation!r}: TF.js only resizes with 'bilinear' or 'nearest'")
    op = "ResizeBilinear" if interpolation == "bilinear" else "ResizeNearestNeighbor"
    source = to_float(b, x) if op == "ResizeBilinear" else x
    return b.op(op, [source, b.ints([height, width], "size")],
                {"align_corners": False, "half_pixel_centers": True})


@lower_layer("Resizing")
def resizing(call: LayerCall) -> Value:
    b = call.builder
    x, first = _image_layout(call, call.input)
    if call.get("antialias", False):
        raise Refusal("antialias=True has no TF.js kernel")
    y = resize_images(b, x, int(call.config["height"]), int(call.config["width"]),
                      str(call.get("interpolation", "bilinear")),
                      crop_to_aspect=bool(call.get("crop_to_aspect_ratio", False)),
                      pad_to_aspect=bool(call.get("pad_to_aspect_ratio", False)),
                      fill_value=float(call.get("fill_value", 0.0)))
    y = to_float(b, y)
    return to_first(b, y, 2) if first else y


@lower_layer("CenterCrop")
def center_crop(call: LayerCall) -> Value:
    b = call.builder
    x, first = _image_layout(call, call.input)
    height, width = int(call.config["height"]), int(call.config["width"])
    shape = dims(x)
    in_h, in_w = shape[1], shape[2]  # type: ignore[index]
    if in_h is None or in_w is None:
        raise Refusal("needs static image sizes")
    if in_h < height or in_w < width:
        # Keras resizes instead (cropping to the target aspect ratio first).
        y = resize_images(b, x, height, width, "bilinear", crop_to_aspect=True)
    elif (in_h, in_w) == (height, width):
        y = x
    else:
        y = b.slice(x, [0, (in_h - height) // 2, (in_w - width) // 2, 0], [-1, height, width, -1])
    y = to_float(b, y)
    return to_first(b, y, 2) if first else y

