"""Convolution layers: Conv1D/2D/3D (causal, dilated, grouped), their transposes, DepthwiseConv1D/2D
and SeparableConv1D/2D.

Everything is computed channels-last (the only layout the TF.js kernels run); a channels_first
layer is wrapped in Transposes.  1-D convolutions are 2-D ones over an inserted unit axis, as TF's
own ``conv1d`` is, so bias and activation fuse into ``_FusedConv2D`` / ``FusedDepthwiseConv2dNative``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType, Shape
from ...builder import Builder, dims
from ..activations import apply_activation
from ..registry import LayerCall, Refusal, lower_layer, static_dims
from .core import bias_add, refuse_options


def ints(value: Any, rank: int) -> list[int]:
    if isinstance(value, int):
        return [value] * rank
    out = [int(v) for v in value]
    if len(out) == 1 and rank > 1:
        out *= rank
    if len(out) != rank:
        raise Refusal(f"expects {rank} values, got {value}")
    return out


def channels_first(call: LayerCall) -> bool:
    return call.get("data_format", "channels_last") == "channels_first"


def to_last(b: Builder, x: Value, rank: int) -> Value:
    return b.transpose(x, [0, *range(2, rank + 2), 1], "to_channels_last")


def to_first(b: Builder, x: Value, rank: int) -> Value:
    return b.transpose(x, [0, rank + 1, *range(1, rank + 1)], "to_channels_first")


def _padding(call: LayerCall) -> str:
    padding = str(call.get("padding", "valid")).lower()
    if padding not in ("valid", "same", "causal"):
        raise Refusal(f"padding={padding!r} is not a Keras padding")
    return padding


def _forward(b: Builder, x: Value, kernel: Value, op: str, strides: Sequence[int], dilations: Sequence[int],
             padding: str) -> Value:
    """One channels-last convolution op of rank 2 or 3 (``op``: Conv2D, Conv3D, DepthwiseConv2dNative)."""
    attrs: dict[str, Any] = {"strides": [1, *strides, 1], "padding": padding.upper().encode(),
                             "dilations": [1, *dilations, 1],
                             "data_format": b"NDHWC" if op == "Conv3D" else b"NHWC"}
    if op != "Conv3D":
        attrs["explicit_paddings"] = []
    if op == "Conv2D":
        attrs["use_cudnn_on_gpu"] = True
    out = b.op(op, [x, kernel], attrs)
    if op == "DepthwiseConv2dNative":
        xs, ks = dims(x), dims(kernel)
        if xs is not None and out.shape is not None and ks is not None:
            channels = None if ks[2] is None or ks[3] is None else ks[2] * ks[3]
            out.shape = Shape.of((*(out.shape.dims or ())[:-1], channels))
    return out


class ConvSpec:
    """What every convolution layer's config says, normalised for ``rank`` spatial dims."""

    def __init__(self, call: LayerCall, rank: int) -> None:
        self.rank = rank
        self.kernel_size = ints(call.config["kernel_size"], rank)
        self.strides = ints(call.get("strides", 1), rank)
        self.dilations = ints(call.get("dilation_rate", 1), rank)
        self.padding = _padding(call)
        self.first = channels_first(call)
        if max(self.strides) > 1 and max(self.dilations) > 1:
            raise Refusal("strides > 1 together with dilation_rate > 1 is not supported by TF.js")


def _causal(b: Builder, x: Value, spec: ConvSpec) -> Value:
    """Left padding that makes a 1-D convolution causal; the convolution itself is then VALID."""
    amount = (spec.kernel_size[0] - 1) * spec.dilations[0]
    return b.pad(x, [(0, 0), (amount, 0), (0, 0)], "causal_pad") if amount else x


def finish(call: LayerCall, y: Value) -> Value:
    """Bias and activation on a channels-last result (where they fuse into the convolution)."""
    b = call.builder
    if call.get("use_bias", True):
        filters = static_dims(call, y)[-1]
        y = bias_add(b, y, call.weight("bias", shape=(filters,)))
    return apply_activation(b, y, call.config.get("activation"), call.keras3)


def _expand_1d(b: Builder, x: Value) -> Value:
    return b.expand_dims(x, 1, "conv1d/ExpandDims")


def conv_nd(call: LayerCall, rank: int) -> Value:
    refuse_options(call)
    b, x = call.builder, call.input
    spec = ConvSpec(call, rank)
    shape = static_dims(call, x)
    if len(shape) != rank + 2:
        raise Refusal(f"expects a rank-{rank + 2} input, got rank {len(shape)}")
    if spec.first:
        x = to_last(b, x, rank)
    channels = dims(x)[-1]  # type: ignore[index]
    if channels is None:
        raise Refusal("needs a static channel dimension")
    groups = int(call.get("groups", 1) or 1)
    filters = int(call.config["filters"])
    if channels % groups or filters % groups:
        raise Refusal(f"groups={groups} does not divide {channels} input channels and {filters} filters")
    kernel_array = call.weight_array("kernel", shape=(*spec.kernel_size, channels // groups, filters))
    padding = spec.padding
    if padding == "causal":
        if rank != 1:
            raise Refusal("padding='causal' is only defined for 1-D convolutions")
        x, padding = _causal(b, x, spec), "valid"
    if rank == 1:
        x = _expand_1d(b, x)
    strides = ([1] if rank == 1 else []) + spec.strides
    dilations = ([1] if rank == 1 else []) + spec.dilations
    kernel_rank = max(rank, 2)

    def reshaped(fn: Any, tag: str) -> Value:
        return b.derived_weight(kernel_array, tag, fn, f"{call.name}/kernel")

    if groups == 1:
        kernel = call.weight("kernel") if rank > 1 else reshaped(lambda k: k[None], "conv1d")
        y = _forward(b, x, kernel, "Conv3D" if rank == 3 else "Conv2D", strides, dilations, padding)
    elif channels // groups == 1 and rank <= 2:
        # One input channel per group is a depthwise convolution with filters/groups multipliers
        # (output channel c * m + j of both reads input channel c).
        multiplier = filters // groups
        kernel = reshaped(lambda k: k.reshape(*([1] if rank == 1 else []), *k.shape[:-2], groups, multiplier),
                          "depthwise")
        y = _forward(b, x, kernel, "DepthwiseConv2dNative", strides, dilations, padding)
    else:
        per_in, per_out = channels // groups, filters // groups
        parts = b.outputs("Split", [b.const(np.int32(-1), "split_dim"), x],
                          {"num_split": groups, "T": x.dtype}, dtype=x.dtype, num_outputs=groups)
        outs = []
        for g, part in enumerate(parts):
            part.shape = _with_last(x, per_in)
            lo, hi = g * per_out, (g + 1) * per_out
            kernel = reshaped(lambda k, lo=lo, hi=hi: (k[None] if rank == 1 else k)[..., lo:hi], f"group{g}")
            outs.append(_forward(b, part, kernel, "Conv3D" if rank == 3 else "Conv2D", strides, dilations,
                                 padding))
        y = b.concat(outs, kernel_rank + 1)
    y = finish(call, y)
    if rank == 1:
        y = b.squeeze(y, [1], "conv1d/Squeeze")
    return to_first(b, y, rank) if spec.first else y


def _with_last(x: Value, size: int) -> Optional[Shape]:
    shape = dims(x)
    return None if shape is None else Shape.of((*shape[:-1], size))


@lower_layer("Conv1D")
def conv1d(call: LayerCall) -> Value:
    return conv_nd(call, 1)


@lower_layer("Conv2D")
def conv2d(call: LayerCall) -> Value:
    return conv_nd(call, 2)


@lower_layer("Conv3D")
def conv3d(call: LayerCall) -> Value:
    return conv_nd(call, 3)


def depthwise_nd(call: LayerCall, rank: int, pointwise: bool) -> Value:
    refuse_options(call)
    b, x = call.builder, call.input
    spec = ConvSpec(call, rank)
    if len(static_dims(call, x)) != rank + 2:
        raise Refusal(f"expects a rank-{rank + 2} input")
    if spec.first:
        x = to_last(b, x, rank)
    channels = dims(x)[-1]  # type: ignore[index]
    if channels is None:
        raise Refusal("needs a static channel dimension")
    multiplier = int(call.get("depth_multiplier", 1))
    depth_array = call.weight_array("depthwise_kernel", "kernel",
                                    shape=(*spec.kernel_size, channels, multiplier))
    padding = spec.padding
    if padding == "causal":
        if rank != 1:
            raise Refusal("padding='causal' is only defined for 1-D convolutions")
        x, padding = _causal(b, x, spec), "valid"
    if rank == 1:
        x = _expand_1d(b, x)
        depth = b.derived_weight(depth_array, "conv1d", lambda k: k[None], f"{call.name}/depthwise_kernel")
    else:
        depth = b.weight(depth_array, f"{call.name}/depthwise_kernel")
    strides = ([1] if rank == 1 else []) + spec.strides
    dilations = ([1] if rank == 1 else []) + spec.dilations
    y = _forward(b, x, depth, "DepthwiseConv2dNative", strides, dilations, padding)
    if pointwise:
        filters = int(call.config["filters"])
        point_array = call.weight_array("pointwise_kernel",
                                        shape=(*([1] * rank), channels * multiplier, filters))
        point = (b.derived_weight(point_array, "conv1d", lambda k: k[None], f"{call.name}/pointwise_kernel")
                 if rank == 1 else b.weight(point_array, f"{call.name}/pointwise_kernel"))
        y = _forward(b, y, point, "Conv2D", [1, 1], [1, 1], "valid")
    y = finish(call, y)
    if rank == 1:
        y = b.squeeze(y, [1], "conv1d/Squeeze")
    return to_first(b, y, rank) if spec.first else y


@lower_layer("DepthwiseConv1D")
def depthwise_conv1d(call: LayerCall) -> Value:
    return depthwise_nd(call, 1, pointwise=False)


@lower_layer("DepthwiseConv2D")
def depthwise_conv2d(call: LayerCall) -> Value:
    return depthwise_nd(call, 2, pointwise=False)


@lower_layer("SeparableConv1D")
def separable_conv1d(call: LayerCall) -> Value:
    return depthwise_nd(call, 1, pointwise=True)


@lower_layer("SeparableConv2D")
def separable_conv2d(call: LayerCall) -> Value:
    return depthwise_nd(call, 2, pointwise=True)


def _transpose_size(size: Optional[int], kernel: int, stride: int, padding: str,
                    output_padding: Optional[int]) -> Optional[int]:
    """Keras's ``deconv_output_length`` (dilation 1)."""
    if size is None:
        return None
    if output_padding is None:
        return size * stride if padding == "same" else size * stride + max(kernel - stride, 0)
    pad = kernel // 2 if padding == "same" else 0
    return (size - 1) * stride + kernel - 2 * pad + output_padding


def transpose_nd(call: LayerCall, rank: int) -> Value:
    refuse_options(call)
    b, x = call.builder, call.input
    spec = ConvSpec(call, rank)
    if spec.padding == "causal":
        raise Refusal("padding='causal' is not defined for transposed convolutions")
    if max(spec.dilations) > 1:
        raise Refusal("dilation_rate > 1 is not supported for transposed convolutions by TF.js")
    if len(static_dims(call, x)) != rank + 2:
        raise Refusal(f"expects a rank-{rank + 2} input")
    if spec.first:
        x = to_last(b, x, rank)
    shape = dims(x)
    channels = shape[-1]  # type: ignore[index]
    filters = int(call.config["filters"])
    if channels is None:
        raise Refusal("needs a static channel dimension")
    groups = int(call.get("groups", 1) or 1)
    if groups != 1:
        raise Refusal("grouped transposed convolutions are not lowered")
    kernel_array = call.weight_array("kernel", shape=(*spec.kernel_size, filters, channels))
    raw_padding = call.config.get("output_padding")
    output_padding = None if raw_padding is None else ints(raw_padding, rank)
    spatial = list(shape[1:-1])  # type: ignore[index]
    extra = output_padding or [None] * rank
    out_spatial = [_transpose_size(n, k, s, spec.padding, extra[i])
                   for i, (n, k, s) in enumerate(zip(spatial, spec.kernel_size, spec.strides))]
    if any(n is None for n in out_spatial):
        raise Refusal("needs static spatial input dimensions")
    if rank == 3:
        y = _transpose3d_by_conv(call, b, x, kernel_array, spec, spatial, out_spatial)  # type: ignore[arg-type]
    else:
        if rank == 1:
            x = _expand_1d(b, x)
            kernel = b.derived_weight(kernel_array, "conv1d", lambda k: k[None], f"{call.name}/kernel")
            out_dims, strides = [1, *out_spatial], [1, *spec.strides]
        else:
            kernel = call.weight("kernel")
            out_dims, strides = out_spatial, spec.strides
        batch = b.op("StridedSlice", [b.op("Shape", [x], {"out_type": _int32()}, dtype=_int32()),
                                      b.ints([0]), b.ints([1]), b.ints([1])],
                     {"Index": _int32(), "T": _int32(), "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0,
                      "new_axis_mask": 0, "shrink_axis_mask": 1}, name="strided_slice", dtype=_int32())
        consts = [b.const(np.int32(d), "dim") for d in [*out_dims, filters]]
        out_shape = b.op("Pack", [batch, *consts], {"N": len(consts) + 1, "axis": 0, "T": _int32()},
                         name="stack", dtype=_int32())
        y = b.op("Conv2DBackpropInput", [out_shape, kernel, x],
                 {"strides": [1, *strides, 1], "padding": b"SAME" if spec.padding == "same" else b"VALID",
                  "data_format": b"NHWC", "dilations": [1, 1, 1, 1], "explicit_paddings": [],
                  "use_cudnn_on_gpu": True, "T": x.dtype}, name="conv2d_transpose")
        y.shape = Shape.of((shape[0], *out_dims, filters))  # type: ignore[index]
    y = finish(call, y)
    if rank == 1:
        y = b.squeeze(y, [1], "conv1d/Squeeze")
    return to_first(b, y, rank) if spec.first else y


def _int32() -> DType:
    return DType.INT32


def _transpose3d_by_conv(call: LayerCall, b: Builder, x: Value, kernel_array: Any, spec: ConvSpec,
                         spatial: list[int], out_spatial: list[int]) -> Value:
    """Conv3DTranspose without Conv3DBackpropInputV2 (TF.js has none): insert stride-1 zeros between
    the input samples, pad, and correlate with the spatially flipped, in/out-swapped kernel."""
    rank = 3
    shape = dims(x)
    channels = shape[-1]  # type: ignore[index]
    current = list(spatial)
    for axis, stride in enumerate(spec.strides):
        if stride == 1:
            continue
        # Zeros between samples along one axis, with rank-3/4 views only (webgl-safe):
        # [A, n, 1, B] -> pad to [A, n, s, B] -> [A, n*s, B] -> keep the first (n-1)*s+1.
        after = int(np.prod(current[axis + 1:])) * int(channels)  # type: ignore[arg-type]
        x = b.reshape(x, [-1, current[axis], 1, after], "dilate/Reshape")
        x = b.pad(x, [(0, 0), (0, 0), (0, stride - 1), (0, 0)], "dilate/Pad")
        length = (current[axis] - 1) * stride + 1
        x = b.reshape(x, [-1, current[axis] * stride, after], "dilate/Reshape_1")
        x = b.slice(x, [0, 0, 0], [-1, length, -1], "dilate/Slice")
        current[axis] = length
    x = b.reshape(x, [-1, *current, channels], "dilate/Reshape_2")
    pads = [(0, 0)]
    crops = []
    for n_in, n_out, k, s in zip(spatial, out_spatial, spec.kernel_size, spec.strides):
        forward_pad = max((n_in - 1) * s + k - n_out, 0) if spec.padding == "same" else 0
        before = k - 1 - forward_pad // 2
        after = n_out + k - 1 - before - ((n_in - 1) * s + 1)
        pads.append((max(before, 0), max(after, 0)))
        crops.append((max(-before, 0), max(-after, 0)))
    pads.append((0, 0))
    x = b.pad(x, pads, "Pad")
    if any(c != (0, 0) for c in crops):
        size = [d for d in dims(x)]  # type: ignore[union-attr]
        x = b.slice(x, [0, *[c[0] for c in crops], 0],
                    [-1, *[size[i + 1] - crops[i][0] - crops[i][1] for i in range(rank)], -1], "crop")  # type: ignore
    def flipped(k: np.ndarray) -> np.ndarray:
        return np.flip(k, axis=(0, 1, 2)).transpose(0, 1, 2, 4, 3)

    kernel = b.derived_weight(kernel_array, "transpose3d", flipped, f"{call.name}/kernel")
    return _forward(b, x, kernel, "Conv3D", [1, 1, 1], [1, 1, 1], "valid")


@lower_layer("Conv1DTranspose")
def conv1d_transpose(call: LayerCall) -> Value:
    return transpose_nd(call, 1)


@lower_layer("Conv2DTranspose")
def conv2d_transpose(call: LayerCall) -> Value:
    return transpose_nd(call, 2)


@lower_layer("Conv3DTranspose")
def conv3d_transpose(call: LayerCall) -> Value:
    return transpose_nd(call, 3)
