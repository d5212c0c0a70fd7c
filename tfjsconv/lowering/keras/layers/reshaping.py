"""Reshaping layers: Reshape, Flatten, Permute, RepeatVector, and Cropping / ZeroPadding /
UpSampling in 1, 2 and 3 dimensions (nearest and bilinear)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType, Shape
from ...builder import Builder, dims
from ..registry import LayerCall, Refusal, lower_layer, static_dims
from .conv import to_first, to_last
from .preprocessing import resize_images


def batch_size(b: Builder, x: Value) -> Value:
    shape = b.op("Shape", [x], {"out_type": DType.INT32}, dtype=DType.INT32)
    return b.op("StridedSlice", [shape, b.ints([0]), b.ints([1]), b.ints([1])],
                {"Index": DType.INT32, "T": DType.INT32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0,
                 "new_axis_mask": 0, "shrink_axis_mask": 1}, name="strided_slice", dtype=DType.INT32)


def reshape_batch(b: Builder, x: Value, target: Sequence[int], name: str = "Reshape") -> Value:
    """Reshape to [batch, *target]; ``target`` may hold one -1 (the batch then comes from Shape)."""
    if -1 not in target:
        return b.reshape(x, [-1, *target], name)
    batch = batch_size(b, x)
    consts = [b.const(np.int32(d), "dim") for d in target]
    shape = b.op("Pack", [batch, *consts], {"N": len(target) + 1, "axis": 0, "T": DType.INT32},
                 name=f"{name}/shape", dtype=DType.INT32)
    out = b.op("Reshape", [x, shape], {"Tshape": DType.INT32}, name=name)
    out.shape = Shape.of((dims(x) or (None,))[:1] + tuple(None if d == -1 else d for d in target))
    return out


@lower_layer("Reshape")
def reshape(call: LayerCall) -> Value:
    b, x = call.builder, call.input
    target = [int(d) for d in call.config["target_shape"]]
    shape = static_dims(call, x)
    if target.count(-1) > 1:
        raise Refusal(f"target_shape {target} has more than one -1")
    if -1 in target and all(d is not None for d in shape[1:]):
        total = int(np.prod(shape[1:]))  # type: ignore[arg-type]
        known = int(np.prod([d for d in target if d != -1]))
        if known <= 0 or total % known:
            raise Refusal(f"cannot reshape {shape[1:]} into {target}")
        target = [total // known if d == -1 else d for d in target]
    return reshape_batch(b, x, target)


@lower_layer("Flatten")
def flatten(call: LayerCall) -> Value:
    b, x = call.builder, call.input
    shape = static_dims(call, x)
    if len(shape) <= 2:
        return x if len(shape) == 2 else b.expand_dims(x, 1)
    if call.get("data_format", "channels_last") == "channels_first":
        x = to_last(b, x, len(shape) - 2)
        shape = dims(x)  # type: ignore[assignment]
    inner = shape[1:]
    if all(d is not None for d in inner):
        return b.reshape(x, [-1, int(np.prod(inner))])  # type: ignore[arg-type]
    return reshape_batch(b, x, [-1])


@lower_layer("Permute")
def permute(call: LayerCall) -> Value:
    b, x = call.builder, call.input
    order = [int(d) for d in call.config["dims"]]
    if sorted(order) != list(range(1, len(static_dims(call, x)))):
        raise Refusal(f"dims={order} is not a permutation of the non-batch axes")
    return b.transpose(x, [0, *order])


@lower_layer("RepeatVector")
def repeat_vector(call: LayerCall) -> Value:
    b, x = call.builder, call.input
    if len(static_dims(call, x)) != 2:
        raise Refusal("expects a rank-2 input")
    n = int(call.config["n"])
    return b.op("Tile", [b.expand_dims(x, 1), b.ints([1, n, 1], "multiples")], {"Tmultiples": DType.INT32})


def pairs(value: Any, rank: int) -> list[tuple[int, int]]:
    """Keras's padding/cropping argument for ``rank`` spatial dims as (before, after) pairs."""
    if isinstance(value, int):
        return [(value, value)] * rank
    items = list(value)
    if rank == 1 and len(items) == 2 and all(isinstance(v, int) for v in items):
        return [(int(items[0]), int(items[1]))]
    if len(items) != rank:
        raise Refusal(f"expects {rank} (before, after) pairs, got {value}")
    return [(int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1])) for v in items]


def _spatial_layout(call: LayerCall, rank: int) -> tuple[Value, bool]:
    x = call.input
    if len(static_dims(call, x)) != rank + 2:
        raise Refusal(f"expects a rank-{rank + 2} input")
    first = rank > 1 and call.get("data_format", "channels_last") == "channels_first"
    return (to_last(call.builder, x, rank) if first else x), first


def _native_axes(call: LayerCall, rank: int) -> tuple[Value, list[int]]:
    """The input and the positions of its spatial axes, in its own layout (no transposes needed)."""
    x = call.input
    if len(static_dims(call, x)) != rank + 2:
        raise Refusal(f"expects a rank-{rank + 2} input")
    first = rank > 1 and call.get("data_format", "channels_last") == "channels_first"
    return x, list(range(2, rank + 2)) if first else list(range(1, rank + 1))


def _cropping(call: LayerCall, rank: int) -> Value:
    b = call.builder
    x, axes = _native_axes(call, rank)
    crops = dict(zip(axes, pairs(call.get("cropping", 1), rank)))
    full = rank + 2
    begin = [crops[i][0] if i in crops else 0 for i in range(full)]
    end = [-crops[i][1] if i in crops and crops[i][1] else 0 for i in range(full)]
    begin_mask = sum(1 << i for i in range(full) if i not in crops)
    end_mask = sum(1 << i for i in range(full) if i not in crops or not crops[i][1])
    operands = [x, b.ints(begin, "begin"), b.ints(end, "end"), b.ints([1] * full, "strides")]
    y = b.op("StridedSlice", operands,
             {"Index": DType.INT32, "begin_mask": begin_mask, "end_mask": end_mask,
              "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0})
    shape = dims(x)
    if shape is not None:
        y.shape = Shape.of(tuple(None if n is None else n - sum(crops[i]) if i in crops else n
                                 for i, n in enumerate(shape)))
    return y


def _padding(call: LayerCall, rank: int) -> Value:
    x, axes = _native_axes(call, rank)
    pads = dict(zip(axes, pairs(call.get("padding", 1), rank)))
    return call.builder.pad(x, [pads.get(i, (0, 0)) for i in range(rank + 2)])


def _spatial_layout(call: LayerCall, rank: int) -> tuple[Value, bool]:
    x = call.input
    if len(static_dims(call, x)) != rank + 2:
        raise Refusal(f"expects a rank-{rank + 2} input")
    first = rank > 1 and call.get("data_format", "channels_last") == "channels_first"
    return (to_last(call.builder, x, rank) if first else x), first


def repeat_axis(b: Builder, x: Value, axis: int, times: int) -> Value:
    """Each step along ``axis`` repeated ``times`` (Keras's ``repeat``): insert, tile, merge."""
    shape = dims(x)
    if shape is None or any(d is None for d in shape[1:]):
        raise Refusal("needs static input dimensions (besides the batch)")
    inner = list(shape[1:])
    expanded = [*inner[:axis], 1, *inner[axis:]]  # a unit axis after `axis` (batch excluded)
    y = b.reshape(x, [-1, *expanded], "repeat/Reshape")
    multiples = [1] * (len(expanded) + 1)
    multiples[axis + 1] = times
    y = b.op("Tile", [y, b.ints(multiples, "repeat/multiples")], {"Tmultiples": DType.INT32},
             name="repeat/Tile")
    merged = list(inner)
    merged[axis - 1] = inner[axis - 1] * times  # type: ignore[operator]
    return b.reshape(y, [-1, *merged], "repeat/Reshape_1")


def _upsample_volume(b: Builder, x: Value, size: list[int]) -> Value:
    """Nearest-neighbour 3-D upsampling with rank-4 ops only (TF.js webgl tiles at most rank 5):
    resize H and W on [N*D, H, W, C], then D on [N, D, H'*W', C]."""
    shape = dims(x)
    if shape is None or any(d is None for d in shape[1:]):
        raise Refusal("needs static input dimensions (besides the batch)")
    depth, height, width, channels = (int(d) for d in shape[1:])  # type: ignore[arg-type]
    sd, sh, sw = size
    y = x
    if (sh, sw) != (1, 1):
        y = b.reshape(y, [-1, height, width, channels], "up/Reshape")
        height, width = height * sh, width * sw
        y = _nearest(b, y, height, width)
        if sd == 1:
            return b.reshape(y, [-1, depth, height, width, channels], "up/Reshape_1")
    y = b.reshape(y, [-1, depth, height * width, channels], "up/Reshape_2")
    y = _nearest(b, y, depth * sd, height * width)
    return b.reshape(y, [-1, depth * sd, height, width, channels], "up/Reshape_3")


def _nearest(b: Builder, x: Value, height: int, width: int) -> Value:
    # Half-pixel centres keep every source coordinate away from the rounding boundary.
    return b.op("ResizeNearestNeighbor", [x, b.ints([height, width], "size")],
                {"align_corners": False, "half_pixel_centers": True})


def _upsampling(call: LayerCall, rank: int) -> Value:
    b = call.builder
    x, first = _spatial_layout(call, rank)
    size = [int(s) for s in ([call.get("size", 2)] * rank if isinstance(call.get("size", 2), int)
                             else call.get("size"))]
    if len(size) != rank:
        raise Refusal(f"size={size} does not give {rank} factors")
    interpolation = str(call.get("interpolation", "nearest")).lower()
    shape = static_dims(call, x)
    if rank == 2:
        if shape[1] is None or shape[2] is None:
            raise Refusal("needs static spatial input dimensions")
        y = resize_images(b, x, shape[1] * size[0], shape[2] * size[1], interpolation)
    else:
        if interpolation != "nearest":
            raise Refusal(f"interpolation={interpolation!r}")
        if rank == 3:
            y = _upsample_volume(b, x, size)
        else:
            y = repeat_axis(b, x, 1, size[0]) if size[0] != 1 else x
    return to_first(b, y, rank) if first else y


def _register() -> None:
    for rank in (1, 2, 3):
        for prefix, fn in (("Cropping", _cropping), ("ZeroPadding", _padding), ("UpSampling", _upsampling)):
            def lower(call: LayerCall, fn: Any = fn, rank: int = rank) -> Value:
                return fn(call, rank)
            lower.__name__ = lower.__qualname__ = f"{prefix.lower()}{rank}d"
            lower_layer(f"{prefix}{rank}D")(lower)


_register()

