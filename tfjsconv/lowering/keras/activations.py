"""Keras activation functions as TF ops: one registered function per built-in activation name.

tf-keras 2 and Keras 3 agree on every name except ``hard_sigmoid`` (Keras 2: ``clip(0.2x + 0.5, 0,
1)``; Keras 3: ``relu6(x + 3) / 6``); TF.js layers models use the Keras 2 meaning, and add
``gelu_new`` (the tanh approximation of GELU).  Names are matched after the same normalisation Keras
applies (``silu`` is ``swish``); anything else, including custom functions, is refused by name.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import numpy as np

from ...ir.graph import Value
from ...ir.types import DType
from ...registry import Registry
from ..builder import Builder, dims
from .registry import Refusal

Activation = Callable[[Builder, Value, bool], Value]
ACTIVATIONS: Registry[str, Activation] = Registry("Keras activation")


def activation(*names: str) -> Callable[[Activation], Activation]:
    return ACTIVATIONS.register(*names)


def activation_name(value: Any) -> Optional[str]:
    """The built-in activation a config value names: a string, or Keras 3's serialized function
    (``{"class_name": "function", "config": "relu", ...}``); None for None (= linear)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        module = str(value.get("module") or "keras.activations")
        config = value.get("config")
        if value.get("class_name") == "function" and isinstance(config, str) \
                and module.startswith(("keras.activations", "keras.src.activations")):
            return config
    raise Refusal(f"activation {json_text(value)} is a custom object, which is never executed")


def json_text(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def apply_activation(builder: Builder, x: Value, value: Any, keras3: bool) -> Value:
    """``x`` through the activation a layer config names (``activation`` key value)."""
    name = activation_name(value)
    if name is None or name == "linear":
        return x
    fn = ACTIVATIONS.get(name)
    if fn is None:
        raise Refusal(f"unknown activation {name!r} (not a Keras built-in)")
    return fn(builder, x, keras3)


def check_activation(value: Any) -> Optional[str]:
    """Why ``value`` cannot be lowered, or None (used by the walk that lists refusals up front)."""
    try:
        name = activation_name(value)
    except Refusal as exc:
        return str(exc)
    if name is None or name == "linear" or name in ACTIVATIONS:
        return None
    return f"unknown activation {name!r} (not a Keras built-in)"


def _c(b: Builder, x: Value, value: float) -> Value:
    return b.scalar(value, x.dtype, "Const")  # type: ignore[arg-type]


def _unary(op: str) -> Activation:
    def fn(b: Builder, x: Value, keras3: bool) -> Value:
        return b.unary(op, x)
    return fn


for _name, _op in (("relu", "Relu"), ("relu6", "Relu6"), ("sigmoid", "Sigmoid"), ("tanh", "Tanh"),
                   ("elu", "Elu"), ("selu", "Selu"), ("softplus", "Softplus"), ("softsign", "Softsign"),
                   ("exponential", "Exp"), ("softmax", "Softmax"), ("log_softmax", "LogSoftmax"),
                   ("celu", "Elu")):  # celu with its default alpha = 1 is elu
    ACTIVATIONS.add(_name, _unary(_op))


@activation("swish", "silu")
def swish(b: Builder, x: Value, keras3: bool) -> Value:
    return b.binary("Mul", x, b.unary("Sigmoid", x))


@activation("gelu")
def gelu(b: Builder, x: Value, keras3: bool) -> Value:
    """Exact GELU, 0.5 x (1 + erf(x / sqrt 2)), the default of both Keras versions."""
    scaled = b.binary("Mul", x, _c(b, x, 1.0 / math.sqrt(2.0)))
    inner = b.binary("AddV2", b.unary("Erf", scaled), _c(b, x, 1.0))
    return b.binary("Mul", b.binary("Mul", x, _c(b, x, 0.5)), inner)


@activation("gelu_new")
def gelu_tanh(b: Builder, x: Value, keras3: bool) -> Value:
    """The tanh approximation, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    cube = b.binary("Mul", b.binary("Mul", x, x), x)
    inner = b.binary("AddV2", x, b.binary("Mul", cube, _c(b, x, 0.044715)))
    t = b.unary("Tanh", b.binary("Mul", inner, _c(b, x, math.sqrt(2.0 / math.pi))))
    return b.binary("Mul", b.binary("Mul", x, _c(b, x, 0.5)), b.binary("AddV2", t, _c(b, x, 1.0)))


def hard_sigmoid_keras3(b: Builder, x: Value) -> Value:
    return b.binary("Mul", b.unary("Relu6", b.binary("AddV2", x, _c(b, x, 3.0))), _c(b, x, 1.0 / 6.0))


@activation("hard_sigmoid")
def hard_sigmoid(b: Builder, x: Value, keras3: bool) -> Value:
    if keras3:
        return hard_sigmoid_keras3(b, x)
    linear = b.binary("AddV2", b.binary("Mul", x, _c(b, x, 0.2)), _c(b, x, 0.5))
    return b.op("ClipByValue", [linear, _c(b, x, 0.0), _c(b, x, 1.0)])


@activation("hard_silu", "hard_swish")
def hard_swish(b: Builder, x: Value, keras3: bool) -> Value:
    return b.binary("Mul", x, hard_sigmoid_keras3(b, x))


@activation("mish")
def mish(b: Builder, x: Value, keras3: bool) -> Value:
    return b.binary("Mul", x, b.unary("Tanh", b.unary("Softplus", x)))


@activation("leaky_relu")
def leaky_relu(b: Builder, x: Value, keras3: bool) -> Value:
    return b.unary("LeakyRelu", x, alpha=0.2)


@activation("log_sigmoid")
def log_sigmoid(b: Builder, x: Value, keras3: bool) -> Value:
    return b.unary("Neg", b.unary("Softplus", b.unary("Neg", x)))


@activation("hard_tanh")
def hard_tanh(b: Builder, x: Value, keras3: bool) -> Value:
    return b.op("ClipByValue", [x, _c(b, x, -1.0), _c(b, x, 1.0)])


@activation("tanh_shrink")
def tanh_shrink(b: Builder, x: Value, keras3: bool) -> Value:
    return b.binary("Sub", x, b.unary("Tanh", x))


@activation("soft_shrink")
def soft_shrink(b: Builder, x: Value, keras3: bool) -> Value:
    # x - clip(x, -t, t) is x - t above t, x + t below -t and 0 between (threshold t = 0.5).
    return b.binary("Sub", x, b.op("ClipByValue", [x, _c(b, x, -0.5), _c(b, x, 0.5)]))


@activation("hard_shrink")
def hard_shrink(b: Builder, x: Value, keras3: bool) -> Value:
    keep = b.binary("Greater", b.unary("Abs", x), _c(b, x, 0.5))
    return b.binary("Mul", x, b.cast(keep, x.dtype))  # type: ignore[arg-type]


@activation("squareplus")
def squareplus(b: Builder, x: Value, keras3: bool) -> Value:
    root = b.unary("Sqrt", b.binary("AddV2", b.binary("Mul", x, x), _c(b, x, 4.0)))
    return b.binary("Mul", b.binary("AddV2", x, root), _c(b, x, 0.5))


@activation("sparse_plus")
def sparse_plus(b: Builder, x: Value, keras3: bool) -> Value:
    # 0 below -1, x above 1, (x + 1)^2 / 4 between: the clipped square plus the part above 1.
    shifted = b.binary("AddV2", b.op("ClipByValue", [x, _c(b, x, -1.0), _c(b, x, 1.0)]), _c(b, x, 1.0))
    square = b.binary("Mul", b.binary("Mul", shifted, shifted), _c(b, x, 0.25))
    return b.binary("AddV2", square, b.unary("Relu", b.binary("Sub", x, _c(b, x, 1.0))))


@activation("sparse_sigmoid")
def sparse_sigmoid(b: Builder, x: Value, keras3: bool) -> Value:
    half = b.binary("Mul", b.binary("AddV2", x, _c(b, x, 1.0)), _c(b, x, 0.5))
    return b.op("ClipByValue", [half, _c(b, x, 0.0), _c(b, x, 1.0)])


@activation("glu")
def glu(b: Builder, x: Value, keras3: bool) -> Value:
    shape = dims(x)
    if shape is None or shape[-1] is None or shape[-1] % 2:
        raise Refusal("activation 'glu' needs an even, static last dimension")
    half = shape[-1] // 2
    rank = len(shape)
    first = b.slice(x, [0] * rank, [-1] * (rank - 1) + [half])
    second = b.slice(x, [0] * (rank - 1) + [half], [-1] * (rank - 1) + [half])
    return b.binary("Mul", first, b.unary("Sigmoid", second))


@activation("sparsemax")
def sparsemax(b: Builder, x: Value, keras3: bool) -> Value:
    """max(x - tau, 0) along the last axis, tau from the sorted values, as Keras 3 computes it."""
    shape = dims(x)
    if shape is None or shape[-1] is None:
        raise Refusal("activation 'sparsemax' needs a static last dimension")
    size = shape[-1]
    top = b.outputs("TopKV2", [x, b.const(np.int32(size), "k")], {"sorted": True, "T": x.dtype},
                    num_outputs=2)[0]
    top.shape = x.shape
    # TF.js's cumsum mis-permutes a negative axis: give it the last axis by number.
    cumulative = b.op("Cumsum", [top, b.const(np.int32(len(shape) - 1), "axis")],
                      {"exclusive": False, "reverse": False, "T": x.dtype, "Tidx": DType.INT32})
    cumulative.shape = x.shape
    ks = b.const(np.arange(1, size + 1, dtype=np.float32), "k_range")
    support = b.binary("Greater", b.binary("AddV2", b.binary("Mul", top, ks), _c(b, x, 1.0)), cumulative)
    support_f = b.cast(support, x.dtype)  # type: ignore[arg-type]
    count = b.reduce("Sum", support_f, [-1], keep_dims=True)
    # Keras 3 (every backend) takes tau from the SUM of the partial sums inside the support, not from
    # the last one as the paper does; the model means what Keras computes.
    total = b.reduce("Sum", b.binary("Mul", cumulative, support_f), [-1], keep_dims=True)
    tau = b.binary("RealDiv", b.binary("Sub", total, _c(b, x, 1.0)), count)
    return b.unary("Relu", b.binary("Sub", x, tau))
