"""Core layers: Dense, Embedding, the activation layers, Masking, and the layers that are identities
at inference (Dropout, noise, regularisation)."""

from __future__ import annotations

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType
from ...builder import Builder, dims
from ..activations import apply_activation
from ..registry import LayerCall, Lowered, Refusal, lower_layer, static_dims


def refuse_options(call: LayerCall) -> None:
    """Keras 3 options that change what a layer's weights mean: never lowered silently."""
    if call.config.get("lora_rank"):
        raise Refusal("LoRA-adapted layers are not supported")
    if call.config.get("quantization_config") is not None:
        raise Refusal("quantized layers are not supported")
    dtype = call.config.get("dtype")
    name = (dtype.get("config") or {}).get("name") if isinstance(dtype, dict) else dtype
    if isinstance(name, str) and "_from_" in name:
        raise Refusal(f"dtype policy {name!r} (quantized) is not supported")


def scalar(b: Builder, x: Value, value: float) -> Value:
    return b.scalar(value, x.dtype or DType.FLOAT)


def bias_add(b: Builder, x: Value, bias: Value) -> Value:
    return b.op("BiasAdd", [x, bias], {"data_format": b"NHWC"})


def matmul_last_axis(b: Builder, x: Value, kernel: Value, units: int, finish=None) -> Value:
    """x @ kernel over the last axis of x (Keras's tensordot), ``finish`` applied to the rank-2
    product before it is reshaped back, so MatMul + BiasAdd + activation stay adjacent and fuse."""
    shape = dims(x)
    if shape is None:
        raise Refusal("needs the rank of its input, which is unknown")
    if len(shape) == 2:
        y = b.op("MatMul", [x, kernel], {"transpose_a": False, "transpose_b": False})
        return finish(y) if finish else y
    inner = shape[1:-1]
    if all(d is not None for d in inner) and shape[-1] is not None:
        flat = b.reshape(x, [-1, shape[-1]], "Tensordot/Reshape")
        y = b.op("MatMul", [flat, kernel], {"transpose_a": False, "transpose_b": False},
                 name="Tensordot/MatMul")
        if finish:
            y = finish(y)
        return b.reshape(y, [-1, *inner, units], "Tensordot")
    y = b.op("BatchMatMulV2", [x, kernel], {"adj_x": False, "adj_y": False}, name="Tensordot")
    return finish(y) if finish else y


@lower_layer("Dense", mask="keep")
def dense(call: LayerCall) -> Value:
    refuse_options(call)
    b, x = call.builder, call.input
    units = int(call.config["units"])
    in_dim = static_dims(call, x)[-1]
    kernel = call.weight("kernel", shape=(in_dim, units))
    bias = call.weight("bias", shape=(units,)) if call.get("use_bias", True) else None

    def finish(y: Value) -> Value:
        if bias is not None:
            y = bias_add(b, y, bias)
        return apply_activation(b, y, call.config.get("activation"), call.keras3)

    return matmul_last_axis(b, x, kernel, units, finish)


@lower_layer("Embedding", mask="custom")
def embedding(call: LayerCall) -> Lowered:
    refuse_options(call)
    b, ids = call.builder, call.input
    table = call.weight("embeddings", shape=(int(call.config["input_dim"]), int(call.config["output_dim"])))
    index = b.cast(ids, DType.INT32) if ids.dtype != DType.INT32 else ids
    out = b.op("GatherV2", [table, index, b.ints([0], "axis")],
               {"batch_dims": 0, "Tparams": DType.FLOAT, "Tindices": DType.INT32, "Taxis": DType.INT32})
    out.dtype = DType.FLOAT
    mask = None
    if call.get("mask_zero", False):
        mask = b.op("NotEqual", [ids, b.const(np.zeros((), ids.dtype.numpy if ids.dtype else np.float32),
                                                      "zero", ids.dtype)])
    return Lowered([out], [mask])


@lower_layer("Activation", mask="keep")
def activation_layer(call: LayerCall) -> Value:
    return apply_activation(call.builder, call.input, call.config.get("activation"), call.keras3)


@lower_layer("ReLU", mask="keep")
def relu_layer(call: LayerCall) -> Value:
    """Keras's relu(x, negative_slope, max_value, threshold), step by step as both Kerases compute it."""
    b, x = call.builder, call.input
    slope = float(call.get("negative_slope", 0.0))
    max_value = call.config.get("max_value")
    threshold = float(call.get("threshold", 0.0))
    if slope != 0.0 and max_value is None and threshold == 0.0:
        return b.unary("LeakyRelu", x, alpha=slope)
    negative = None
    if slope != 0.0:
        shifted = b.binary("Sub", scalar(b, x, threshold), x) if threshold else b.unary("Neg", x)
        negative = b.unary("Relu", shifted)
    clip = max_value is not None
    if threshold != 0.0:
        y = b.binary("Mul", x, b.cast(b.binary("Greater", x, scalar(b, x, threshold)), x.dtype))  # type: ignore
    elif max_value is not None and float(max_value) == 6.0:
        y, clip = b.unary("Relu6", x), False
    else:
        y = b.unary("Relu", x)
    if clip:
        y = b.op("ClipByValue", [y, scalar(b, x, 0.0), scalar(b, x, float(max_value))])
    if negative is not None:
        y = b.binary("Sub", y, b.binary("Mul", negative, scalar(b, x, slope)))
    return y


@lower_layer("LeakyReLU", mask="keep")
def leaky_relu_layer(call: LayerCall) -> Value:
    slope = call.config.get("negative_slope", call.config.get("alpha"))
    return call.builder.unary("LeakyRelu", call.input, alpha=float(0.3 if slope is None else slope))


@lower_layer("PReLU", mask="keep")
def prelu_layer(call: LayerCall) -> Value:
    b, x = call.builder, call.input
    shape = static_dims(call, x)
    shared = call.get("shared_axes", [])
    shared = {int(a) for a in ([shared] if isinstance(shared, int) else shared)}
    expect = tuple(1 if i + 1 in shared else d for i, d in enumerate(shape[1:]))
    alpha = call.weight("alpha", shape=expect)
    return b.op("Prelu", [x, alpha])


@lower_layer("ELU", mask="keep")
def elu_layer(call: LayerCall) -> Value:
    b, x = call.builder, call.input
    alpha = float(call.get("alpha", 1.0))
    y = b.unary("Elu", x)
    if alpha == 1.0:
        return y
    # relu(x) + alpha * min(elu(x), 0): x above 0, alpha (e^x - 1) below.
    return b.binary("AddV2", b.unary("Relu", x),
                    b.binary("Mul", b.binary("Minimum", y, scalar(b, x, 0.0)), scalar(b, x, alpha)))


@lower_layer("ThresholdedReLU", mask="keep")
def thresholded_relu(call: LayerCall) -> Value:
    b, x = call.builder, call.input
    theta = float(call.get("theta", 1.0))
    return b.binary("Mul", x, b.cast(b.binary("Greater", x, scalar(b, x, theta)), x.dtype))  # type: ignore


def softmax_along(b: Builder, x: Value, axes: list[int], log: bool = False) -> Value:
    """Softmax (or log-softmax) over ``axes``: the TF op on the last axis, otherwise by reductions."""
    rank = len(dims(x) or ())
    axes = sorted({a % rank for a in axes})
    op = "LogSoftmax" if log else "Softmax"
    if axes == [rank - 1]:
        return b.unary(op, x)
    if len(axes) == 1:
        perm = [i for i in range(rank) if i != axes[0]] + [axes[0]]
        back = [perm.index(i) for i in range(rank)]
        return b.transpose(b.unary(op, b.transpose(x, perm)), back)
    shifted = b.binary("Sub", x, b.reduce("Max", x, axes, keep_dims=True))
    exp = b.unary("Exp", shifted)
    total = b.reduce("Sum", exp, axes, keep_dims=True)
    if log:
        return b.binary("Sub", shifted, b.unary("Log", total))
    return b.binary("RealDiv", exp, total)


@lower_layer("Softmax", mask="keep")
def softmax_layer(call: LayerCall) -> Value:
    b = call.builder
    x = call.inputs[0]
    rank = len(static_dims(call, x))
    mask = call.kwargs.get("mask")
    if not isinstance(mask, Value):
        mask = call.masks[0] if call.masks else None  # Keras passes the implicit mask to call()
    if isinstance(mask, Value):
        # Both Kerases push masked positions to a large negative number before normalising.
        keep = b.cast(mask, x.dtype)  # type: ignore[arg-type]
        adder = b.binary("Mul", b.binary("Sub", scalar(b, x, 1.0), keep), scalar(b, x, -1e9))
        x = b.binary("AddV2", x, adder)
    axis = call.get("axis", -1)
    axes = [int(a) for a in axis] if isinstance(axis, list) else [int(axis)]
    return softmax_along(b, x, [a % rank for a in axes])


@lower_layer("Masking", mask="custom")
def masking(call: LayerCall) -> Lowered:
    b, x = call.builder, call.input
    value = scalar(b, x, float(call.get("mask_value", 0.0)))
    rank = len(static_dims(call, x))
    keep = b.reduce("Any", b.binary("NotEqual", x, value), [rank - 1], keep_dims=True)
    out = b.binary("Mul", x, b.cast(keep, x.dtype))  # type: ignore[arg-type]
    mask = b.squeeze(keep, [rank - 1])
    return Lowered([out], [mask])


@lower_layer("LayerScale")
def layer_scale(call: LayerCall) -> Value:
    """keras.applications ConvNeXt's LayerScale: x * gamma, one factor per channel."""
    gamma = call.weight("gamma", shape=(int(call.config["projection_dim"]),))
    return call.builder.binary("Mul", call.input, gamma)


# Layers that only act while training (or only add losses): the identity at inference.
_IDENTITIES = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
               "GaussianDropout", "AlphaDropout", "ActivityRegularization", "RandomFlip", "RandomRotation",
               "RandomZoom", "RandomTranslation", "RandomContrast", "RandomBrightness", "Identity")


@lower_layer(*_IDENTITIES, mask="keep")
def identity(call: LayerCall) -> Value:
    return call.inputs[0]
