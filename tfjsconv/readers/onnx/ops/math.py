"""Element-wise ONNX ops: arithmetic, comparisons, logic, activations, Cast, MatMul/Gemm, Einsum."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ....ir.attrs import attr_text
from ....ir.graph import Value
from ....ir.types import DType, Shape
from . import Handler, OnnxContext, OnnxNode, normalize_axis, onnx_op
from .onnx_types import compute_dtype
from .shape import reshape_to

_BINARY = {
    "Add": "AddV2",
    "Sub": "Sub",
    "Mul": "Mul",
    "Equal": "Equal",
    "Less": "Less",
    "Greater": "Greater",
    "LessOrEqual": "LessEqual",
    "GreaterOrEqual": "GreaterEqual",
    "And": "LogicalAnd",
    "Or": "LogicalOr",
    "Xor": "NotEqual",
}
_UNARY = {
    "Sqrt": "Sqrt",
    "Exp": "Exp",
    "Log": "Log",
    "Abs": "Abs",
    "Neg": "Neg",
    "Reciprocal": "Reciprocal",
    "Relu": "Relu",
    "Sigmoid": "Sigmoid",
    "Tanh": "Tanh",
    "Softplus": "Softplus",
    "Softsign": "Softsign",
    "Erf": "Erf",
    "Floor": "Floor",
    "Ceil": "Ceil",
    "Sin": "Sin",
    "Cos": "Cos",
    "Tan": "Tan",
    "Sign": "Sign",
    "Not": "LogicalNot",
    "Round": "Round",
    "Identity": "Identity",
    "IsNaN": "IsNan",
    "Asin": "Asin",
    "Acos": "Acos",
    "Atan": "Atan",
    "Sinh": "Sinh",
    "Cosh": "Cosh",
    "Asinh": "Asinh",
    "Acosh": "Acosh",
    "Atanh": "Atanh",
}
_FLOATS = (DType.FLOAT, DType.DOUBLE, DType.HALF)


def legacy_broadcast(ctx: OnnxContext, node: OnnxNode, a: Value, b: Value) -> Value:
    """``b`` aligned as opset < 7 ``broadcast=1, axis=k`` asks: its dims start at axis k of ``a``."""
    if ctx.opset >= 7 or not int(node.attr("broadcast", 0)) or node.attr("axis") is None:
        return b
    ra, rb = ctx.rank(a), ctx.rank(b)
    axis = normalize_axis(int(node.attr("axis")), ra)
    trailing = ra - axis - rb
    if trailing <= 0:
        return b
    dims = ctx.dims(b) or ()
    return reshape_to(ctx, b, list(dims) + [1] * trailing, "legacy_broadcast")


def _binary_handler(tf_op: str) -> Handler:
    def handle(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
        a, b = ctx.required(node, 0), ctx.required(node, 1)
        out = ctx.binary(tf_op, a, legacy_broadcast(ctx, node, a, b))
        return [out]

    return handle


def _unary_handler(tf_op: str) -> Handler:
    def handle(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
        out = ctx.unary(tf_op, ctx.required(node, 0))
        return [out]

    return handle


for _onnx, _tf in _BINARY.items():
    onnx_op(_onnx, since=1)(_binary_handler(_tf))
for _onnx, _tf in _UNARY.items():
    onnx_op(_onnx, since=1)(_unary_handler(_tf))


def trunc_div(ctx: OnnxContext, a: Value, b: Value) -> Value:
    """Integer division rounding toward zero (ONNX, C) from TF.js's flooring FloorDiv."""
    sign = ctx.binary("Mul", ctx.unary("Sign", a), ctx.unary("Sign", b))
    return ctx.binary("Mul", sign, ctx.binary("FloorDiv", ctx.unary("Abs", a), ctx.unary("Abs", b)))


@onnx_op("Div", since=1)
def div(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    a, b = ctx.required(node, 0), ctx.required(node, 1)
    b = legacy_broadcast(ctx, node, a, b)
    if a.dtype in _FLOATS:
        return [ctx.binary("RealDiv", a, b)]
    return [trunc_div(ctx, a, b)]


@onnx_op("PRelu", since=1)
def prelu(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x, slope = ctx.required(node, 0), ctx.required(node, 1)
    dims, sdims = ctx.dims(x), ctx.dims(slope)
    if ctx.opset < 7 and dims is not None and sdims is not None and len(sdims) == 1 and len(dims) > 2:
        # Before opset 7 a 1-D slope is per channel (axis 1), not numpy-broadcast from the right.
        if sdims[0] != 1:
            slope = reshape_to(ctx, slope, [sdims[0]] + [1] * (len(dims) - 2), "channel_slope")
    return [ctx.binary("Prelu", x, slope)]


@onnx_op("Pow", since=1)
def pow_(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    a, b = ctx.required(node, 0), ctx.required(node, 1)
    exponent = ctx.const_value(b)
    if exponent is not None and exponent.size == 1 and float(exponent.reshape(())) == 2.0:
        return [ctx.unary("Square", a)]
    return [ctx.binary("Pow", a, ctx.cast(b, a.dtype))]


@onnx_op("Mod", since=10)
def mod(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    a, b = ctx.required(node, 0), ctx.required(node, 1)
    if a.dtype not in _FLOATS:
        if not int(node.attr("fmod", 0)):
            return [ctx.binary("FloorMod", a, b)]  # Python modulo: the sign of the divisor
        return [ctx.binary("Sub", a, ctx.binary("Mul", b, trunc_div(ctx, a, b)))]  # C: the dividend's
    # TF.js's float mod is JS's % (C fmod, exact), corrected to the divisor's sign as
    # (r + b) % b; with b = +-inf that gives NaN where numpy (ONNX's reference) gives r + b.
    if not int(node.attr("fmod", 0)):
        out = ctx.binary("FloorMod", a, b)
        opposite = ctx.binary("Less", ctx.binary("Mul", a, b), ctx.scalar(0.0, a))
        corrected = ctx.select(opposite, b, a)
    else:
        # C fmod keeps the sign of the dividend: a - b * trunc(a / b); fmod(a, +-inf) = a.
        q = ctx.binary("RealDiv", a, b)
        trunc = ctx.binary("Mul", ctx.unary("Sign", q), ctx.unary("Floor", ctx.unary("Abs", q)))
        out = ctx.binary("Sub", a, ctx.binary("Mul", b, trunc))
        corrected = a
    infinite = ctx.binary("LogicalAnd", ctx.unary("IsInf", b), ctx.unary("IsFinite", a))
    return [ctx.select(infinite, corrected, out)]




def _variadic(ctx: OnnxContext, node: OnnxNode, tf_op: str) -> Value:
    values = [ctx.values[n] for n in node.inputs if n]
    out = values[0]
    for other in values[1:]:
        out = ctx.binary(tf_op, out, other)
    return out


@onnx_op("Max", since=1)
def max_(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return [_variadic(ctx, node, "Maximum")]


@onnx_op("Min", since=1)
def min_(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return [_variadic(ctx, node, "Minimum")]


@onnx_op("Sum", since=1)
def sum_(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return [_variadic(ctx, node, "AddV2")]


@onnx_op("Mean", since=1)
def mean(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    total = _variadic(ctx, node, "AddV2")
    count = len([n for n in node.inputs if n])
    return [ctx.binary("Mul", total, ctx.scalar(1.0 / count, total))]


@onnx_op("LeakyRelu", since=1)
def leaky_relu(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    alpha = float(node.attr("alpha", 0.01))
    return [ctx.unary("LeakyRelu", ctx.required(node, 0), {"alpha": alpha})]


@onnx_op("Elu", since=1)
def elu(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    alpha = float(node.attr("alpha", 1.0))
    if alpha == 1.0:
        return [ctx.unary("Elu", x)]
    negative = ctx.binary("Mul", ctx.unary("Expm1", x), ctx.scalar(alpha, x))
    positive = ctx.binary("Greater", x, ctx.scalar(0.0, x))
    return [ctx.op("SelectV2", [positive, x, negative], {"T": x.dtype}, dtype=x.dtype, shape=x.shape)]


_SELU_ALPHA = 1.67326319217681884765625
_SELU_GAMMA = 1.05070102214813232421875


@onnx_op("Selu", since=1)
def selu(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    alpha, gamma = float(node.attr("alpha", _SELU_ALPHA)), float(node.attr("gamma", _SELU_GAMMA))
    if np.float32(alpha) == np.float32(_SELU_ALPHA) and np.float32(gamma) == np.float32(_SELU_GAMMA):
        return [ctx.unary("Selu", x)]
    negative = ctx.binary("Mul", ctx.unary("Expm1", x), ctx.scalar(alpha, x))
    positive = ctx.binary("Greater", x, ctx.scalar(0.0, x))
    picked = ctx.op("SelectV2", [positive, x, negative], {"T": x.dtype}, dtype=x.dtype, shape=x.shape)
    return [ctx.binary("Mul", picked, ctx.scalar(gamma, x))]


def _clip(ctx: OnnxContext, x: Value, lo: Optional[float], hi: Optional[float]) -> Value:
    if lo == 0.0 and hi == 6.0:
        return ctx.unary("Relu6", x)
    if lo == 0.0 and hi is None:
        return ctx.unary("Relu", x)
    if lo is not None and hi is not None:
        return ctx.op(
            "ClipByValue",
            [x, ctx.scalar(lo, x), ctx.scalar(hi, x)],
            {"T": x.dtype},
            dtype=x.dtype,
            shape=x.shape,
        )
    if lo is not None:
        return ctx.binary("Maximum", x, ctx.scalar(lo, x))
    if hi is not None:
        return ctx.binary("Minimum", x, ctx.scalar(hi, x))
    return x


@onnx_op("HardSigmoid", since=1)
def hard_sigmoid(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    alpha, beta = float(node.attr("alpha", 0.2)), float(node.attr("beta", 0.5))
    linear = ctx.binary("AddV2", ctx.binary("Mul", x, ctx.scalar(alpha, x)), ctx.scalar(beta, x))
    return [_clip(ctx, linear, 0.0, 1.0)]


@onnx_op("HardSwish", since=14)
def hard_swish(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    linear = ctx.binary("AddV2", ctx.binary("Mul", x, ctx.scalar(1.0 / 6.0, x)), ctx.scalar(0.5, x))
    return [ctx.binary("Mul", x, _clip(ctx, linear, 0.0, 1.0))]


@onnx_op("Clip", since=1)
def clip_v1(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    lo = node.attr("min")
    hi = node.attr("max")
    return [
        _clip(
            ctx, ctx.required(node, 0), None if lo is None else float(lo), None if hi is None else float(hi)
        )
    ]


@onnx_op("Clip", since=11)
def clip_v11(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    bounds: list[Optional[float]] = []
    for index in (1, 2):
        bound = ctx.input(node, index)
        if bound is None:
            bounds.append(None)
            continue
        data = ctx.const_value(bound)
        if data is None:  # bounds computed at run time: plain Maximum / Minimum
            x = ctx.binary("Maximum" if index == 1 else "Minimum", x, bound)
            bounds.append(None)
        else:
            bounds.append(float(np.asarray(data).reshape(())))
    return [_clip(ctx, x, bounds[0], bounds[1])]


@onnx_op("Gelu", since=20)
def gelu(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    approximate = node.attr("approximate", b"none")
    approximate = attr_text(approximate)
    half_x = ctx.binary("Mul", x, ctx.scalar(0.5, x))
    if approximate == "tanh":
        cube = ctx.binary("Mul", ctx.binary("Mul", x, x), x)
        inner = ctx.binary("AddV2", x, ctx.binary("Mul", cube, ctx.scalar(0.044715, x)))
        t = ctx.unary("Tanh", ctx.binary("Mul", inner, ctx.scalar(math.sqrt(2.0 / math.pi), x)))
        return [ctx.binary("Mul", half_x, ctx.binary("AddV2", t, ctx.scalar(1.0, x)))]
    erf = ctx.unary("Erf", ctx.binary("Mul", x, ctx.scalar(1.0 / math.sqrt(2.0), x)))
    return [ctx.binary("Mul", half_x, ctx.binary("AddV2", erf, ctx.scalar(1.0, x)))]


@onnx_op("Where", since=9)
def where(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    cond, x, y = ctx.required(node, 0), ctx.required(node, 1), ctx.required(node, 2)
    from . import _broadcast

    shape = _broadcast(_broadcast(cond.shape, x.shape), y.shape)
    return [ctx.op("SelectV2", [cond, x, y], {"T": x.dtype}, dtype=x.dtype, shape=shape)]


@onnx_op("IsInf", since=10)
def is_inf(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    pos, neg = int(node.attr("detect_positive", 1)), int(node.attr("detect_negative", 1))
    if pos and neg:
        out = ctx.unary("IsInf", x)
    elif pos or neg:
        out = ctx.binary("Equal", x, ctx.scalar(np.inf if pos else -np.inf, x))
    else:
        out = ctx.binary("Equal", x, ctx.scalar(np.nan, x))
    return [out]


@onnx_op("Cast", since=1)
def cast(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    return [ctx.cast(x, compute_dtype(int(node.attr("to")), ctx))]


@onnx_op("CastLike", since=15)
def cast_like(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x, like = ctx.required(node, 0), ctx.required(node, 1)
    return [ctx.cast(x, like.dtype)]


def _matmul_shape(a: Value, b: Value) -> Optional[Shape]:
    if a.shape is None or b.shape is None or a.shape.dims is None or b.shape.dims is None:
        return None
    from . import _broadcast

    batch = _broadcast(Shape(a.shape.dims[:-2]), Shape(b.shape.dims[:-2]))
    assert batch is not None and batch.dims is not None
    return Shape(batch.dims + (a.shape.dims[-2], b.shape.dims[-1]))


def _broadcast_batches(ctx: OnnxContext, a: Value, b: Value) -> tuple[Value, Value]:
    """Operands whose batch dims TF.js can pair.

    TF.js flattens the batch dims of each operand and pairs the two counts only when they are equal
    or one is 1, so (3, 1) x (1, 2) batches (fine in numpy) must be broadcast to (3, 2) first."""
    da, db = ctx.dims(a), ctx.dims(b)
    if da is None or db is None or len(da) < 3 and len(db) < 3:
        return a, b
    ba, bb = list(da[:-2]), list(db[:-2])
    n = max(len(ba), len(bb))
    ba, bb = [1] * (n - len(ba)) + ba, [1] * (n - len(bb)) + bb
    if all(d == 1 for d in ba) or all(d == 1 for d in bb):
        return a, b
    if all(x == y for x, y in zip(ba, bb)) or all(x is None or y is None or x == y for x, y in zip(ba, bb)):
        return a, b  # same batches (unknown dims are taken to be equal: the model would be invalid)
    if any(d is None for d in ba + bb):
        raise ctx.refuse("MatMul batch dimensions that broadcast against each other must be static "
                         "(TF.js pairs only equal or single batches)")
    batch = [max(x, y) for x, y in zip(ba, bb)]  # type: ignore[type-var]
    out = []
    for value, dims, own in ((a, da, ba), (b, db, bb)):
        if own != batch:
            full = [*batch, *dims[-2:]]
            value = ctx.op(
                "BroadcastTo",
                [value, ctx.int_const(full, "batch_shape")],
                {"T": value.dtype, "Tidx": DType.INT32},
                dtype=value.dtype,
                shape=Shape(tuple(full)),
            )
        out.append(value)
    return out[0], out[1]


def matmul_values(ctx: OnnxContext, a: Value, b: Value) -> Value:
    ra, rb = ctx.rank(a), ctx.rank(b)
    squeeze: list[int] = []
    if ra == 1:  # numpy semantics: a vector operand gains an axis that the result loses again
        a = ctx.op(
            "ExpandDims",
            [a, ctx.int_const([0], "axis")],
            {"T": a.dtype},
            dtype=a.dtype,
            shape=Shape((1,) + a.shape.dims),
        )  # type: ignore[union-attr,operator]
        squeeze.append(-2)
    if rb == 1:
        b = ctx.op(
            "ExpandDims",
            [b, ctx.int_const([1], "axis")],
            {"T": b.dtype},
            dtype=b.dtype,
            shape=Shape(b.shape.dims + (1,)),
        )  # type: ignore[union-attr,operator]
        squeeze.append(-1)
    a, b = _broadcast_batches(ctx, a, b)
    shape = _matmul_shape(a, b)
    if ctx.rank(a) == 2 and ctx.rank(b) == 2:
        out = ctx.op(
            "MatMul",
            [a, b],
            {"T": a.dtype, "transpose_a": False, "transpose_b": False},
            dtype=a.dtype,
            shape=shape,
        )
    else:
        out = ctx.op(
            "BatchMatMulV2",
            [a, b],
            {"T": a.dtype, "adj_x": False, "adj_y": False},
            dtype=a.dtype,
            shape=shape,
        )
    if squeeze:
        dims = out.shape.dims if out.shape is not None else None
        rank = len(dims) if dims is not None else None
        drop = sorted(d + rank for d in squeeze) if rank is not None else squeeze
        new_shape = None if dims is None else Shape(tuple(d for i, d in enumerate(dims) if i not in drop))
        out = ctx.op(
            "Squeeze",
            [out],
            {"T": out.dtype, "squeeze_dims": list(squeeze)},
            dtype=out.dtype,
            shape=new_shape,
        )
    return out


@onnx_op("MatMul", since=1)
def matmul(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return [matmul_values(ctx, ctx.required(node, 0), ctx.required(node, 1))]


@onnx_op("Gemm", since=1)
def gemm(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    a, b, c = ctx.required(node, 0), ctx.required(node, 1), ctx.input(node, 2)
    ta, tb = bool(node.attr("transA", 0)), bool(node.attr("transB", 0))
    alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
    if tb and ctx.const_value(b) is not None:  # a pre-transposed weight keeps MatMul fusable
        b = ctx.transpose(b, [1, 0])
        tb = False
    da, db = ctx.dims(a), ctx.dims(b)
    shape = None
    if da is not None and db is not None:
        shape = Shape((da[1] if ta else da[0], db[0] if tb else db[1]))
    out = ctx.op(
        "MatMul", [a, b], {"T": a.dtype, "transpose_a": ta, "transpose_b": tb}, dtype=a.dtype, shape=shape
    )
    if alpha != 1.0:
        out = ctx.binary("Mul", out, ctx.scalar(alpha, out))
    if c is not None and beta != 0.0:
        if beta != 1.0:
            c = ctx.binary("Mul", c, ctx.scalar(beta, c))
        out = ctx.binary("AddV2", out, c)
        out.shape = shape
    return [out]


@onnx_op("Einsum", since=12)
def einsum(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    values = [ctx.values[n] for n in node.inputs if n]
    equation = node.attr("equation", b"")
    equation = attr_text(equation).replace(" ", "")
    if "..." in equation:
        raise ctx.refuse("ellipsis in an Einsum equation is not supported by TF.js")
    if "->" not in equation:  # implicit output: the letters used once, in alphabetical order
        letters = equation.replace(",", "")
        equation += "->" + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return [
        ctx.op(
            "Einsum",
            values,
            {"equation": equation.replace(" ", "").encode(), "N": len(values), "T": values[0].dtype},
            dtype=values[0].dtype,
        )
    ]
