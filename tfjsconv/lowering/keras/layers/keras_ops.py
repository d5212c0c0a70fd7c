"""Keras 3 functional op nodes: ``keras.ops`` calls recorded in a model config (``x + 3`` is an ``Add``
operation of module ``keras.src.ops.numpy``; the walker keys it ``op:Add``).

An operation's config holds its constructor arguments (``Split(indices_or_sections, axis)``) and its
inbound node the call arguments (``x``); both are bound to one registered function whose parameters
are the operation's own names, so an argument tfjsconv does not handle is refused by name.  Keras 3
also records the masks it propagates as op nodes (``NotEqual``, ``Any``, ``LogicalOr``), which lower
like any other.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType
from ...builder import dims
from ..activations import ACTIVATIONS
from ..registry import LayerCall, Refusal, lower_layer
from ..tensor_ops import TensorOps, dtype_of
from .tf_op_lambda import Result, call_bound, slice_item

OpFunction = Callable[..., Result]


def keras_op(*classes: str) -> Callable[[OpFunction], OpFunction]:
    """Registers ``fn(o, *call_args, **constructor_and_call_kwargs)`` as the lowering of each class."""

    def decorate(fn: OpFunction) -> OpFunction:
        def lower(call: LayerCall) -> Result:
            params = {k: v for k, v in call.config.items() if k != "name"}
            params.update(call.kwargs)
            return call_bound(fn, f"keras.ops operation {call.class_name}", TensorOps(call.builder),
                              list(call.args or []), params)

        for cls in classes:
            lower_layer(f"op:{cls}")(lower)
        return fn

    return decorate


def _value(x: Any) -> Value:
    if not isinstance(x, Value):
        raise Refusal("its input is not a tensor")
    return x


def _unary(op: str) -> OpFunction:
    def fn(o: TensorOps, x: Any) -> Value:
        return o.b.unary(op, _value(x))
    return fn


for _op, _classes in {
    "Abs": ("Absolute", "Abs", "Fabs"), "Neg": ("Negative",), "Exp": ("Exp",), "Expm1": ("Expm1",),
    "Log": ("Log",), "Log1p": ("Log1p",), "Sqrt": ("Sqrt",), "Rsqrt": ("Rsqrt",), "Square": ("Square",),
    "Sin": ("Sin",), "Cos": ("Cos",), "Tanh": ("Tanh",), "Sign": ("Sign",), "Floor": ("Floor",),
    "Ceil": ("Ceil",), "Reciprocal": ("Reciprocal",), "Erf": ("Erf",), "Sigmoid": ("Sigmoid",),
    "Relu": ("Relu",), "Relu6": ("Relu6",), "Selu": ("Selu",), "Softplus": ("Softplus",),
    "Softsign": ("Softsign",), "Identity": ("Copy", "StopGradient", "ConvertToTensor"),
}.items():
    keras_op(*_classes)(_unary(_op))


@keras_op("LogicalNot")
def logical_not(o: TensorOps, x: Any) -> Value:
    v = _value(x)
    if v.dtype != DType.BOOL:
        v = o.b.binary("NotEqual", v, o.const_like(0, v))
    return o.b.op("LogicalNot", [v], dtype=DType.BOOL)


def _binary(op: str) -> OpFunction:
    def fn(o: TensorOps, x1: Any, x2: Any) -> Value:
        return o.binary(op, x1, x2)
    return fn


for _op, _classes in {
    "AddV2": ("Add",), "Sub": ("Subtract",), "Mul": ("Multiply",), "RealDiv": ("Divide", "TrueDivide"),
    "FloorDiv": ("FloorDivide",), "FloorMod": ("Mod",), "Pow": ("Power",), "Maximum": ("Maximum", "Fmax"),
    "Minimum": ("Minimum", "Fmin"), "Greater": ("Greater",), "GreaterEqual": ("GreaterEqual",),
    "Less": ("Less",), "LessEqual": ("LessEqual",), "Equal": ("Equal",), "NotEqual": ("NotEqual",),
}.items():
    keras_op(*_classes)(_binary(_op))


def _logical(op: str) -> OpFunction:
    def fn(o: TensorOps, x1: Any, x2: Any) -> Value:
        a, c = (_truth(o, v) for v in (x1, x2))
        return o.binary(op, a, c)
    return fn


def _truth(o: TensorOps, v: Any) -> Any:
    """A tensor operand as bool (nonzero is true); numbers stay numbers."""
    if not isinstance(v, Value) or v.dtype == DType.BOOL:
        return v
    return o.b.binary("NotEqual", v, o.const_like(0, v))


keras_op("LogicalAnd")(_logical("LogicalAnd"))
keras_op("LogicalOr")(_logical("LogicalOr"))


@keras_op("Round")
def round_(o: TensorOps, x: Any, decimals: int = 0) -> Value:
    if int(decimals or 0) != 0:
        scale = float(10 ** int(decimals))
        return o.binary("RealDiv", o.b.unary("Round", o.binary("Mul", x, scale)), scale)
    return o.b.unary("Round", _value(x))


@keras_op("Clip")
def clip(o: TensorOps, x: Any, x_min: Any, x_max: Any) -> Value:
    v = _value(x)
    return o.b.op("ClipByValue", [v, o.tensor(x_min, v), o.tensor(x_max, v)])


@keras_op("Where")
def where(o: TensorOps, condition: Any, x1: Any = None, x2: Any = None) -> Value:
    if x1 is None or x2 is None:
        raise Refusal("where with one argument returns data-dependent shapes")
    return o.where(condition, x1, x2)


@keras_op("Cast")
def cast(o: TensorOps, x: Any, dtype: Any) -> Value:
    return o.b.cast(_value(x), dtype_of(dtype))


def _like(op: str) -> OpFunction:
    def fn(o: TensorOps, x: Any, dtype: Any = None) -> Value:
        v = _value(x)
        out = o.b.op(op, [v], {"T": v.dtype})
        return o.b.cast(out, dtype_of(dtype)) if dtype is not None else out
    return fn


keras_op("OnesLike")(_like("OnesLike"))
keras_op("ZerosLike")(_like("ZerosLike"))


# ---------------------------------------------------------------------------------------------------
# Activations


def _activation(name: str, keras3: bool = True) -> OpFunction:
    def fn(o: TensorOps, x: Any) -> Value:
        return ACTIVATIONS.lookup(name)(o.b, _value(x), keras3)
    return fn


for _name, _classes in {"swish": ("Silu", "Swish"), "hard_sigmoid": ("HardSigmoid",),
                        "hard_silu": ("HardSilu", "HardSwish"), "log_sigmoid": ("LogSigmoid",),
                        "tanh_shrink": ("TanhShrink",), "hard_tanh": ("HardTanh",),
                        "sparse_plus": ("SparsePlus",), "sparse_sigmoid": ("SparseSigmoid",)}.items():
    keras_op(*_classes)(_activation(_name))


@keras_op("LeakyRelu")
def leaky_relu(o: TensorOps, x: Any, negative_slope: float = 0.2) -> Value:
    return o.b.unary("LeakyRelu", _value(x), alpha=float(negative_slope))


@keras_op("Elu")
def elu(o: TensorOps, x: Any, alpha: float = 1.0) -> Value:
    v = _value(x)
    y = o.b.unary("Elu", v)
    if float(alpha) == 1.0:
        return y
    # x above 0, alpha (e^x - 1) below: relu(x) + alpha * min(elu(x), 0)
    negative = o.binary("Mul", o.binary("Minimum", y, 0.0), float(alpha))
    return o.b.binary("AddV2", o.b.unary("Relu", v), negative)


@keras_op("Celu")
def celu(o: TensorOps, x: Any, alpha: float = 1.0) -> Value:
    v = _value(x)
    scaled = v if float(alpha) == 1.0 else o.binary("RealDiv", v, float(alpha))
    negative = o.binary("Minimum", o.b.unary("Elu", scaled), 0.0)
    if float(alpha) != 1.0:
        negative = o.binary("Mul", negative, float(alpha))
    return o.b.binary("AddV2", o.b.unary("Relu", v), negative)


@keras_op("Gelu")
def gelu(o: TensorOps, x: Any, approximate: bool = True) -> Value:
    return ACTIVATIONS.lookup("gelu_new" if approximate else "gelu")(o.b, _value(x), True)


def _softmax(log: bool) -> OpFunction:
    def fn(o: TensorOps, x: Any, axis: Any = -1) -> Value:
        from .core import softmax_along

        v = _value(x)
        axes = o.axes(v, axis)
        return softmax_along(o.b, v, axes, log=log)
    return fn


keras_op("Softmax")(_softmax(False))
keras_op("LogSoftmax")(_softmax(True))


# ---------------------------------------------------------------------------------------------------
# Reductions


def _reduction(op: str) -> OpFunction:
    def fn(o: TensorOps, x: Any, axis: Any = None, keepdims: bool = False, initial: Any = None,
           dtype: Any = None) -> Value:
        if initial is not None:
            raise Refusal("reductions with an initial value are not supported")
        out = o.reduce(op, _value(x), axis, bool(keepdims))
        return o.b.cast(out, dtype_of(dtype)) if dtype is not None else out
    return fn


for _op, _classes in {"Sum": ("Sum",), "Mean": ("Mean",), "Max": ("Max", "Amax"), "Min": ("Min", "Amin"),
                      "Prod": ("Prod",), "Any": ("Any",), "All": ("All",)}.items():
    keras_op(*_classes)(_reduction(_op))


@keras_op("Var")
def var(o: TensorOps, x: Any, axis: Any = None, keepdims: bool = False) -> Value:
    return o.moments(_value(x), axis, bool(keepdims))[1]


@keras_op("Std")
def std(o: TensorOps, x: Any, axis: Any = None, keepdims: bool = False) -> Value:
    return o.b.unary("Sqrt", o.moments(_value(x), axis, bool(keepdims))[1])


@keras_op("Logsumexp")
def logsumexp(o: TensorOps, x: Any, axis: Any = None, keepdims: bool = False) -> Value:
    return o.logsumexp(_value(x), axis, bool(keepdims))


def _arg(op: str) -> OpFunction:
    def fn(o: TensorOps, x: Any, axis: Any = None, keepdims: bool = False) -> Value:
        v = _value(x)
        if axis is None:
            v, axis = o.b.reshape(v, [-1]), 0
        out = o.b.op(op, [v, o.b.const(np.int32(int(axis) % o.rank(v)), "dimension", DType.INT32)],
                     {"T": v.dtype, "Tidx": DType.INT32, "output_type": DType.INT32}, dtype=DType.INT32)
        return o.b.expand_dims(out, int(axis) % o.rank(v)) if keepdims else out
    return fn


keras_op("Argmax")(_arg("ArgMax"))
keras_op("Argmin")(_arg("ArgMin"))


@keras_op("Norm")
def norm(o: TensorOps, x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Value:
    v = _value(x)
    if ord not in (None, 2, "fro", "euclidean") or (isinstance(axis, (list, tuple)) and len(axis) > 1
                                                    and ord not in (None, "fro")):
        raise Refusal(f"norm with ord={ord!r} is not supported")
    return o.b.unary("Sqrt", o.reduce("Sum", o.b.unary("Square", v), axis, bool(keepdims)))


@keras_op("Cumsum")
def cumsum(o: TensorOps, x: Any, axis: Any = None, dtype: Any = None) -> Value:
    v = _value(x)
    if axis is None:
        v, axis = o.b.reshape(v, [-1]), 0
    out = o.b.op("Cumsum", [v, o.b.const(np.int32(int(axis) % o.rank(v)), "axis", DType.INT32)],
                 {"exclusive": False, "reverse": False, "T": v.dtype, "Tidx": DType.INT32})
    return o.b.cast(out, dtype_of(dtype)) if dtype is not None else out


# ---------------------------------------------------------------------------------------------------
# Shapes and layout


@keras_op("Reshape")
def reshape(o: TensorOps, x: Any, newshape: Any) -> Value:
    return o.reshape(_value(x), newshape)


@keras_op("Transpose")
def transpose(o: TensorOps, x: Any, axes: Any = None) -> Value:
    v = _value(x)
    rank = o.rank(v)
    order = list(range(rank))[::-1] if axes is None else [int(a) % rank for a in axes]
    return o.b.transpose(v, order)


@keras_op("Swapaxes")
def swapaxes(o: TensorOps, x: Any, axis1: int, axis2: int) -> Value:
    v = _value(x)
    rank = o.rank(v)
    order = list(range(rank))
    a, c = int(axis1) % rank, int(axis2) % rank
    order[a], order[c] = order[c], order[a]
    return o.b.transpose(v, order)


@keras_op("Moveaxis")
def moveaxis(o: TensorOps, x: Any, source: Any, destination: Any) -> Value:
    v = _value(x)
    rank = o.rank(v)
    src = [int(s) % rank for s in (source if isinstance(source, list) else [source])]
    dst = [int(d) % rank for d in (destination if isinstance(destination, list) else [destination])]
    order = [i for i in range(rank) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return o.b.transpose(v, order)


@keras_op("Concatenate")
def concatenate(o: TensorOps, xs: Any, axis: int = 0) -> Value:
    return o.concat(xs if isinstance(xs, list) else [xs], int(axis))


@keras_op("Stack")
def stack(o: TensorOps, x: Any, axis: int = 0) -> Value:
    return o.stack(x if isinstance(x, list) else [x], int(axis))


@keras_op("Unstack")
def unstack(o: TensorOps, x: Any, num: Any = None, axis: int = 0) -> list[Value]:
    return o.unstack(_value(x), int(axis), num)


@keras_op("Split", "ArraySplit")
def split(o: TensorOps, x: Any, indices_or_sections: Any, axis: int = 0) -> list[Value]:
    """numpy semantics: an int is a count of equal parts, a list holds split INDICES."""
    v = _value(x)
    axis = int(axis) % o.rank(v)
    size = (dims(v) or ())[axis]
    if isinstance(indices_or_sections, int):
        count = int(indices_or_sections)
        if size is not None and size % count:
            raise Refusal(f"cannot split {size} into {count} equal parts")
        return o.b.outputs("Split", [o.b.ints([axis], "split_dim"), v], {"num_split": count, "T": v.dtype},
                           num_outputs=count, dtype=v.dtype)
    if size is None:
        raise Refusal("splitting at indices needs the axis size")
    bounds = [0] + [int(i) for i in indices_or_sections] + [size]
    return o.split(v, [max(0, e - s) for s, e in zip(bounds, bounds[1:])], axis)


@keras_op("ExpandDims")
def expand_dims(o: TensorOps, x: Any, axis: Any) -> Value:
    v = _value(x)
    for a in sorted(axis if isinstance(axis, list) else [axis]):
        a = int(a)
        v = o.b.expand_dims(v, a if a >= 0 else a + o.rank(v) + 1)
    return v


@keras_op("Squeeze")
def squeeze(o: TensorOps, x: Any, axis: Any = None) -> Value:
    v = _value(x)
    if axis is None:
        shape = dims(v)
        if shape is None or any(d is None for d in shape[1:]):
            raise Refusal("squeeze without axis needs static dimensions")
        return o.b.squeeze(v, [i for i, d in enumerate(shape) if d == 1])
    return o.b.squeeze(v, o.axes(v, axis))


@keras_op("Tile")
def tile(o: TensorOps, x: Any, repeats: Any) -> Value:
    v = _value(x)
    reps = [int(r) for r in (repeats if isinstance(repeats, list) else [repeats])]
    rank = o.rank(v)
    if len(reps) < rank:
        reps = [1] * (rank - len(reps)) + reps
    elif len(reps) > rank:
        raise Refusal("tile with more repeats than dimensions is not supported")
    return o.b.op("Tile", [v, o.b.ints(reps, "multiples")], {"Tmultiples": DType.INT32})


@keras_op("Take")
def take(o: TensorOps, x: Any, indices: Any, axis: Any = None) -> Value:
    v = _value(x)
    if axis is None:
        v, axis = o.b.reshape(v, [-1]), 0
    return o.gather(v, indices, int(axis))


@keras_op("Repeat")
def repeat(o: TensorOps, x: Any, repeats: Any, axis: Any = None) -> Value:
    if not isinstance(repeats, int):
        raise Refusal("repeat with per-element counts is not supported")
    return o.repeat(_value(x), repeats, axis)


@keras_op("Flip")
def flip(o: TensorOps, x: Any, axis: Any = None) -> Value:
    v = _value(x)
    return o.b.op("ReverseV2", [v, o.b.ints(o.axes(v, axis), "axis")], {"Tidx": DType.INT32})


@keras_op("Pad")
def pad(o: TensorOps, x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = None) -> Value:
    """numpy pad widths: an int, one (before, after) pair, or one pair per axis."""
    v = _value(x)
    rank = o.rank(v)
    width = np.asarray(pad_width, np.int64)
    if width.ndim == 0 or width.size == 1:
        width = np.full((rank, 2), int(width.reshape(-1)[0]))
    elif width.ndim == 1:
        width = np.broadcast_to(width.reshape(1, 2), (rank, 2))
    else:
        width = np.broadcast_to(width, (rank, 2))
    return o.pad(v, width.tolist(), mode, 0 if constant_values is None else constant_values)


@keras_op("BroadcastTo")
def broadcast_to(o: TensorOps, x: Any, shape: Any) -> Value:
    v = _value(x)
    return o.b.op("BroadcastTo", [v, o.b.cast(o.tensor(shape, None, "shape"), DType.INT32)],
                  {"Tidx": DType.INT32})


@keras_op("GetItem")
def get_item(o: TensorOps, x: Any, key: Any) -> Value:
    items = key if isinstance(key, list) else [key]
    return o.strided_slice(_value(x), [slice_item(k) for k in items])


# ---------------------------------------------------------------------------------------------------
# Products


@keras_op("Matmul")
def matmul(o: TensorOps, x1: Any, x2: Any) -> Value:
    a, c = o.pair(x1, x2)
    return o.matmul(a, c)


@keras_op("Einsum")
def einsum(o: TensorOps, *operands: Any, subscripts: str) -> Value:
    """An Einsum op; the ``rewrite_einsum`` pass turns plain contractions into BatchMatMulV2."""
    values = [o.tensor(v) for v in operands]
    equation = str(subscripts).replace(" ", "")
    if "->" not in equation or "..." in equation:
        raise Refusal(f"einsum {subscripts!r} needs an explicit output without ellipsis")
    out = o.b.op("Einsum", values, {"equation": equation.encode(), "N": len(values), "T": values[0].dtype})
    out.shape = None
    return out


@keras_op("Dot")
def dot(o: TensorOps, x1: Any, x2: Any) -> Value:
    a, c = o.pair(x1, x2)
    if o.rank(a) == 2 and o.rank(c) == 2:
        return o.matmul(a, c)
    raise Refusal("dot of tensors other than matrices is not supported")
