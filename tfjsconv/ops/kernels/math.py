"""Element-wise math kernels (binary arithmetic and comparisons, unary functions, Cast, Select)."""

from __future__ import annotations

import math as pymath
from typing import Any, Callable

import numpy as np

from ...ir.attrs import attr_text
from .registry import NotComputable, kernel, out_dtype

_erf = np.frompyfunc(pymath.erf, 1, 1)
_erfc = np.frompyfunc(pymath.erfc, 1, 1)


def _check_arity(fn: Callable[..., np.ndarray], inputs: list[np.ndarray]) -> None:
    """A node of a broken graph may have fewer or more inputs than its op takes: declined."""
    expected = getattr(fn, "nin", None)  # numpy ufuncs know their arity
    if expected is not None and len(inputs) != expected:
        raise NotComputable(f"expects {expected} inputs, has {len(inputs)}")


def _same(fn: Callable[..., np.ndarray]) -> Callable[[list[np.ndarray], dict[str, Any]], tuple[np.ndarray]]:
    """Result in the dtype of the first input, as TF's arithmetic ops keep ``T``."""

    def run(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray]:
        _check_arity(fn, inputs)
        with np.errstate(all="ignore"):
            result = fn(*inputs)
        return (np.asarray(result).astype(inputs[0].dtype, copy=False),)

    return run


def _bool(fn: Callable[..., np.ndarray]) -> Callable[[list[np.ndarray], dict[str, Any]], tuple[np.ndarray]]:
    def run(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray]:
        _check_arity(fn, inputs)
        return (np.asarray(fn(*inputs), dtype=bool),)

    return run


def _trunc_div(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if np.issubdtype(x.dtype, np.integer):
        if np.any(y == 0):
            raise NotComputable("integer division by zero")
        return np.trunc(np.true_divide(x, y)).astype(x.dtype)  # C++ '/' truncates toward zero
    return np.true_divide(x, y)


def _floor_div(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if np.issubdtype(x.dtype, np.integer) and np.any(y == 0):
        raise NotComputable("integer division by zero")
    return np.floor_divide(x, y)


def _div_no_nan(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.where(y == 0, np.zeros_like(x), np.true_divide(x, np.where(y == 0, 1, y)))


_BINARY = {
    ("Add", "AddV2"): np.add,
    ("Sub",): np.subtract,
    ("Mul",): np.multiply,
    ("RealDiv",): np.true_divide,
    ("Div",): _trunc_div,
    ("FloorDiv",): _floor_div,
    ("FloorMod",): np.mod,
    ("Maximum",): np.maximum,
    ("Minimum",): np.minimum,
    ("Pow",): np.power,
    ("SquaredDifference",): lambda x, y: np.square(x - y),
    ("Atan2",): np.arctan2,
    ("DivNoNan",): _div_no_nan,
}
_COMPARE = {
    "Less": np.less, "LessEqual": np.less_equal, "Greater": np.greater,
    "GreaterEqual": np.greater_equal, "Equal": np.equal, "NotEqual": np.not_equal,
    "LogicalAnd": np.logical_and, "LogicalOr": np.logical_or,
}
_UNARY = {
    "Neg": np.negative, "Abs": np.abs, "Sqrt": np.sqrt, "Rsqrt": lambda x: 1 / np.sqrt(x),
    "Exp": np.exp, "Log": np.log, "Log1p": np.log1p, "Expm1": np.expm1, "Square": np.square,
    "Reciprocal": lambda x: 1 / x, "Inv": lambda x: 1 / x, "Floor": np.floor, "Ceil": np.ceil,
    "Round": np.round, "Sign": np.sign, "Sin": np.sin, "Cos": np.cos, "Tan": np.tan,
    "Tanh": np.tanh, "Sinh": np.sinh, "Cosh": np.cosh, "Asin": np.arcsin, "Acos": np.arccos,
    "Atan": np.arctan, "Sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "Relu": lambda x: np.maximum(x, 0), "Relu6": lambda x: np.clip(x, 0, 6),
    "Elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "Selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
    "Softplus": lambda x: np.logaddexp(x, 0), "Softsign": lambda x: x / (1 + np.abs(x)),
    "Erf": lambda x: _erf(x.astype(np.float64)), "Erfc": lambda x: _erfc(x.astype(np.float64)),
}

for _ops, _fn in _BINARY.items():
    kernel(*_ops)(_same(_fn))
for _op, _fn in _COMPARE.items():
    kernel(_op)(_bool(_fn))
for _op, _fn in _UNARY.items():
    kernel(_op)(_same(_fn))


@kernel("LogicalNot")
def logical_not(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray]:
    return (np.logical_not(inputs[0]),)


for _op, _fn in (("IsNan", np.isnan), ("IsInf", np.isinf), ("IsFinite", np.isfinite)):
    kernel(_op)(_bool(_fn))


@kernel("LeakyRelu")
def leaky_relu(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray]:
    x = inputs[0]
    alpha = float(attrs.get("alpha", 0.2))
    return (np.where(x > 0, x, x * alpha).astype(x.dtype),)


@kernel("AddN")
def add_n(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray]:
    total = inputs[0]
    for x in inputs[1:]:
        total = total + x
    return (np.asarray(total).astype(inputs[0].dtype),)


@kernel("BiasAdd", "BiasAddV1")
def bias_add(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray]:
    x, bias = inputs
    if attr_text(attrs.get("data_format", b"NHWC")).startswith("NC") and x.ndim > 2:
        bias = bias.reshape((-1,) + (1,) * (x.ndim - 2))
    return ((x + bias).astype(x.dtype),)


@kernel("Cast")
def cast(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray]:
    x = inputs[0]
    target = out_dtype(attrs, "DstT", x.dtype)
    if target == np.dtype(object) or x.dtype == np.dtype(object):
        raise NotComputable("string casts are not folded")
    if np.issubdtype(target, np.integer) and np.issubdtype(x.dtype, np.floating):
        x = np.trunc(x)  # TF truncates toward zero (static_cast)
    with np.errstate(all="ignore"):
        return (x.astype(target),)


@kernel("ClipByValue")
def clip_by_value(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray]:
    x, lo, hi = inputs
    return (np.minimum(np.maximum(x, lo), hi).astype(x.dtype),)


@kernel("Select", "SelectV2")
def select(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray]:
    cond, x, y = inputs
    if cond.ndim == 1 and x.ndim > 1 and cond.shape[0] == x.shape[0]:
        cond = cond.reshape((-1,) + (1,) * (x.ndim - 1))  # v1 Select picks whole rows
    return (np.where(cond, x, y).astype(x.dtype),)
