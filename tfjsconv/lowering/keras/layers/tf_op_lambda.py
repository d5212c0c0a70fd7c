"""tf-keras ``TFOpLambda`` and ``SlicingOpLambda`` nodes: TF API calls recorded in a functional model.

tf-keras records ``tf.split(x, 2, axis=-1)`` as a TFOpLambda layer whose config names the function
(``split``; the name TF exports it under: ``math.add``, ``nn.relu6``, ``compat.v1.transpose``,
``__operators__.add`` for ``+``...) and whose inbound node carries the first argument as the tensor
entry and every other argument as a keyword (``num_or_size_splits``, ``axis``).  ``x[:, 1:]`` is a
SlicingOpLambda of ``__operators__.getitem`` with a ``slice_spec``.

Each function is one registered Python function whose parameters are the TF function's own (so
Python binds the recorded keywords, and an argument tfjsconv does not know is refused by name).
Nothing recorded is ever executed: only the function NAME selects a lowering.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Union

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType
from ....registry import Registry
from ..activations import ACTIVATIONS
from ..registry import LayerCall, Refusal, lower_layer
from ..tensor_ops import SliceItem, TensorOps, dtype_of

Result = Union[Value, list[Value]]
TfFunction = Callable[..., Result]
TF_FUNCTIONS: Registry[str, TfFunction] = Registry("TF API function lowering")


def tf_function(*names: str) -> Callable[[TfFunction], TfFunction]:
    return TF_FUNCTIONS.register(*names)


def call_bound(fn: Callable[..., Result], what: str, o: TensorOps, args: list[Any],
               kwargs: dict[str, Any]) -> Result:
    """``fn(o, *args, **kwargs)``, refusing (not crashing) when the recorded arguments do not fit."""
    try:
        inspect.signature(fn).bind(o, *args, **kwargs)
    except TypeError as exc:
        raise Refusal(f"{what} is called with arguments tfjsconv does not support ({exc})") from None
    return fn(o, *args, **kwargs)


@lower_layer("TFOpLambda", "SlicingOpLambda")
def tf_op_lambda(call: LayerCall) -> Result:
    function = str(call.config.get("function", ""))
    fn = TF_FUNCTIONS.get(function)
    if fn is None:
        raise Refusal(f"tf.{function} has no lowering to TF.js ops")
    args = list(call.args or [])
    return call_bound(fn, f"tf.{function}", TensorOps(call.builder), args[:1], dict(call.kwargs))


def _value(x: Any, what: str = "its input") -> Value:
    if not isinstance(x, Value):
        raise Refusal(f"{what} is not a tensor")
    return x


# ---------------------------------------------------------------------------------------------------
# Elementwise


def _unary(op: str) -> TfFunction:
    def fn(o: TensorOps, x: Any, name: Any = None) -> Value:
        return o.b.unary(op, _value(x))
    return fn


_UNARY = {
    "Abs": ("math.abs", "abs"), "Neg": ("math.negative", "negative", "__operators__.neg"),
    "Exp": ("math.exp", "exp"), "Log": ("math.log", "log"), "Sqrt": ("math.sqrt", "sqrt"),
    "Rsqrt": ("math.rsqrt", "rsqrt"), "Square": ("math.square", "square"),
    "Sigmoid": ("math.sigmoid", "nn.sigmoid", "sigmoid"), "Tanh": ("math.tanh", "nn.tanh", "tanh"),
    "Sin": ("math.sin", "sin"), "Cos": ("math.cos", "cos"), "Erf": ("math.erf", "erf"),
    "Floor": ("math.floor", "floor"), "Ceil": ("math.ceil", "ceil"), "Round": ("math.round", "round"),
    "Sign": ("math.sign", "sign"), "Reciprocal": ("math.reciprocal", "reciprocal"),
    "Log1p": ("math.log1p", "log1p"), "Expm1": ("math.expm1", "expm1"),
    "Softplus": ("math.softplus", "nn.softplus"), "Softsign": ("math.softsign", "nn.softsign"),
    "Relu": ("nn.relu",), "Relu6": ("nn.relu6",), "Elu": ("nn.elu",), "Selu": ("nn.selu",),
    "Identity": ("identity", "stop_gradient"),
}
for _op, _names in _UNARY.items():
    TF_FUNCTIONS.register(*_names)(_unary(_op))


@tf_function("math.logical_not", "logical_not")
def logical_not(o: TensorOps, x: Any, name: Any = None) -> Value:
    return o.b.op("LogicalNot", [_value(x)], dtype=DType.BOOL)


def _binary(op: str) -> TfFunction:
    def fn(o: TensorOps, x: Any, y: Any, name: Any = None) -> Value:
        return o.binary(op, x, y)
    return fn


_BINARY = {
    "AddV2": ("math.add", "__operators__.add", "add"), "Sub": ("math.subtract", "subtract"),
    "Mul": ("math.multiply", "multiply"), "RealDiv": ("math.truediv", "math.divide", "divide", "truediv"),
    "FloorDiv": ("math.floordiv", "compat.v1.floor_div", "floor_div", "floordiv"),
    "FloorMod": ("math.floormod", "math.mod", "floormod", "mod"), "Pow": ("math.pow", "pow"),
    "Maximum": ("math.maximum", "maximum"), "Minimum": ("math.minimum", "minimum"),
    "SquaredDifference": ("math.squared_difference", "squared_difference"),
    "Greater": ("math.greater", "greater"), "GreaterEqual": ("math.greater_equal", "greater_equal"),
    "Less": ("math.less", "less"), "LessEqual": ("math.less_equal", "less_equal"),
    "Equal": ("math.equal", "equal"), "NotEqual": ("math.not_equal", "not_equal"),
    "LogicalAnd": ("math.logical_and", "logical_and"), "LogicalOr": ("math.logical_or", "logical_or"),
}
for _op, _names in _BINARY.items():
    TF_FUNCTIONS.register(*_names)(_binary(_op))


@tf_function("math.scalar_mul", "scalar_mul")
def scalar_mul(o: TensorOps, scalar: Any, x: Any, name: Any = None) -> Value:
    return o.binary("Mul", x, scalar)


@tf_function("math.add_n", "add_n")
def add_n(o: TensorOps, inputs: Any, name: Any = None) -> Value:
    values = [o.tensor(v) for v in (inputs if isinstance(inputs, list) else [inputs])]
    if len(values) == 1:
        return values[0]
    return o.b.op("AddN", values, {"N": len(values), "T": values[0].dtype})


@tf_function("clip_by_value")
def clip_by_value(o: TensorOps, t: Any, clip_value_min: Any, clip_value_max: Any, name: Any = None) -> Value:
    x = _value(t)
    return o.b.op("ClipByValue", [x, o.tensor(clip_value_min, x), o.tensor(clip_value_max, x)])


@tf_function("cast", "dtypes.cast")
def cast(o: TensorOps, x: Any, dtype: Any, name: Any = None) -> Value:
    return o.b.cast(_value(x), dtype_of(dtype))


@tf_function("where", "where_v2")
def where(o: TensorOps, condition: Any, x: Any = None, y: Any = None, name: Any = None) -> Value:
    if x is None or y is None:
        raise Refusal("tf.where with one argument returns data-dependent shapes")
    return o.where(condition, x, y)


def _like(op: str) -> TfFunction:
    def fn(o: TensorOps, input: Any, dtype: Any = None, name: Any = None, optimize: Any = True) -> Value:
        x = _value(input)
        out = o.b.op(op, [x], {"T": x.dtype})
        return o.b.cast(out, dtype_of(dtype)) if dtype is not None else out
    return fn


# ---------------------------------------------------------------------------------------------------
# Activations with parameters


def _activation(name: str) -> Callable[[TensorOps, Value, bool], Value]:
    fn = ACTIVATIONS.lookup(name)
    return lambda o, x, keras3: fn(o.b, x, keras3)


@tf_function("nn.leaky_relu")
def leaky_relu(o: TensorOps, features: Any, alpha: float = 0.2, name: Any = None) -> Value:
    return o.b.unary("LeakyRelu", _value(features), alpha=float(alpha))


@tf_function("nn.gelu")
def gelu(o: TensorOps, features: Any, approximate: bool = False, name: Any = None) -> Value:
    return _activation("gelu_new" if approximate else "gelu")(o, _value(features), False)


@tf_function("nn.silu", "nn.swish", "math.silu")
def silu(o: TensorOps, features: Any, beta: float = 1.0, name: Any = None) -> Value:
    x = _value(features)
    scaled = x if float(beta) == 1.0 else o.binary("Mul", x, float(beta))
    return o.b.binary("Mul", x, o.b.unary("Sigmoid", scaled))


def _softmax(op: str) -> TfFunction:
    def fn(o: TensorOps, logits: Any, axis: Any = None, name: Any = None, dim: Any = None) -> Value:
        from .core import softmax_along

        x = _value(logits)
        axis = -1 if axis is None and dim is None else (axis if axis is not None else dim)
        return softmax_along(o.b, x, [int(axis) % o.rank(x)], log=op == "LogSoftmax")
    return fn


TF_FUNCTIONS.register("nn.softmax", "math.softmax")(_softmax("Softmax"))
TF_FUNCTIONS.register("nn.log_softmax", "math.log_softmax")(_softmax("LogSoftmax"))
TF_FUNCTIONS.register("ones_like")(_like("OnesLike"))
TF_FUNCTIONS.register("zeros_like")(_like("ZerosLike"))


@tf_function("math.l2_normalize", "nn.l2_normalize", "linalg.l2_normalize")
def l2_normalize(o: TensorOps, x: Any, axis: Any = None, epsilon: float = 1e-12, name: Any = None,
                 dim: Any = None) -> Value:
    v = _value(x)
    total = o.b.reduce("Sum", o.b.unary("Square", v), o.axes(v, axis if axis is not None else dim),
                       keep_dims=True)
    return o.b.binary("Mul", v, o.b.unary("Rsqrt", o.binary("Maximum", total, float(epsilon))))


# ---------------------------------------------------------------------------------------------------
# Reductions


def _reduction(op: str) -> TfFunction:
    def fn(o: TensorOps, input_tensor: Any, axis: Any = None, keepdims: Any = None, name: Any = None,
           reduction_indices: Any = None, keep_dims: Any = None) -> Value:
        axis = axis if axis is not None else reduction_indices
        keep = bool(keepdims if keepdims is not None else keep_dims)
        return o.reduce(op, _value(input_tensor), axis, keep)
    return fn


for _op, _names in {"Sum": ("math.reduce_sum", "reduce_sum"), "Mean": ("math.reduce_mean", "reduce_mean"),
                    "Max": ("math.reduce_max", "reduce_max"), "Min": ("math.reduce_min", "reduce_min"),
                    "Prod": ("math.reduce_prod", "reduce_prod"), "Any": ("math.reduce_any", "reduce_any"),
                    "All": ("math.reduce_all", "reduce_all")}.items():
    TF_FUNCTIONS.register(*_names)(_reduction(_op))


def _moment(std: bool) -> TfFunction:
    def fn(o: TensorOps, input_tensor: Any, axis: Any = None, keepdims: bool = False,
           name: Any = None) -> Value:
        _, var = o.moments(_value(input_tensor), axis, bool(keepdims))
        return o.b.unary("Sqrt", var) if std else var
    return fn


TF_FUNCTIONS.register("math.reduce_variance", "reduce_variance")(_moment(False))
TF_FUNCTIONS.register("math.reduce_std", "reduce_std")(_moment(True))


@tf_function("math.reduce_logsumexp", "reduce_logsumexp")
def reduce_logsumexp(o: TensorOps, input_tensor: Any, axis: Any = None, keepdims: bool = False,
                     name: Any = None) -> Value:
    return o.logsumexp(_value(input_tensor), axis, bool(keepdims))


@tf_function("math.reduce_euclidean_norm")
def reduce_euclidean_norm(o: TensorOps, input_tensor: Any, axis: Any = None, keepdims: bool = False,
                          name: Any = None) -> Value:
    x = _value(input_tensor)
    return o.b.unary("Sqrt", o.reduce("Sum", o.b.unary("Square", x), axis, bool(keepdims)))


def _arg(op: str) -> TfFunction:
    def fn(o: TensorOps, input: Any, axis: Any = None, output_type: Any = "int64", name: Any = None,
           dimension: Any = None) -> Value:
        x = _value(input)
        axis = axis if axis is not None else (dimension if dimension is not None else 0)
        return o.b.op(op, [x, o.b.const(np.int32(int(axis) % o.rank(x)), "dimension", DType.INT32)],
                      {"T": x.dtype, "Tidx": DType.INT32, "output_type": DType.INT32}, dtype=DType.INT32)
    return fn


TF_FUNCTIONS.register("math.argmax", "argmax")(_arg("ArgMax"))
TF_FUNCTIONS.register("math.argmin", "argmin")(_arg("ArgMin"))


@tf_function("math.cumsum", "cumsum")
def cumsum(o: TensorOps, x: Any, axis: Any = 0, exclusive: bool = False, reverse: bool = False,
           name: Any = None) -> Value:
    v = _value(x)
    return o.b.op("Cumsum", [v, o.b.const(np.int32(int(axis) % o.rank(v)), "axis", DType.INT32)],
                  {"exclusive": bool(exclusive), "reverse": bool(reverse), "T": v.dtype, "Tidx": DType.INT32})


# ---------------------------------------------------------------------------------------------------
# Shapes and layout


@tf_function("reshape")
def reshape(o: TensorOps, tensor: Any, shape: Any, name: Any = None) -> Value:
    return o.reshape(_value(tensor), shape)


@tf_function("transpose", "compat.v1.transpose", "linalg.transpose")
def transpose(o: TensorOps, a: Any, perm: Any = None, conjugate: bool = False, name: Any = None) -> Value:
    x = _value(a)
    order = list(range(o.rank(x)))[::-1] if perm is None else [int(p) % o.rank(x) for p in perm]
    return o.b.transpose(x, order)


@tf_function("concat")
def concat(o: TensorOps, values: Any, axis: Any, name: Any = None) -> Value:
    return o.concat(values if isinstance(values, list) else [values], int(axis))


@tf_function("split")
def split(o: TensorOps, value: Any, num_or_size_splits: Any, axis: Any = 0, num: Any = None,
          name: Any = None) -> list[Value]:
    x = _value(value)
    axis = int(axis) % o.rank(x)
    if isinstance(num_or_size_splits, int):
        return _equal_split(o, x, int(num_or_size_splits), axis)
    return o.split(x, [int(s) for s in num_or_size_splits], axis)


def _equal_split(o: TensorOps, x: Value, count: int, axis: int) -> list[Value]:
    return o.b.outputs("Split", [o.b.ints([axis], "split_dim"), x], {"num_split": count, "T": x.dtype},
                       num_outputs=count, dtype=x.dtype)


@tf_function("stack")
def stack(o: TensorOps, values: Any, axis: Any = 0, name: Any = None) -> Value:
    return o.stack(values if isinstance(values, list) else [values], int(axis))


@tf_function("unstack")
def unstack(o: TensorOps, value: Any, num: Any = None, axis: Any = 0, name: Any = None) -> list[Value]:
    return o.unstack(_value(value), int(axis), num)


@tf_function("expand_dims", "compat.v1.expand_dims")
def expand_dims(o: TensorOps, input: Any, axis: Any = None, name: Any = None, dim: Any = None) -> Value:
    x = _value(input)
    axis = int(axis if axis is not None else dim)
    return o.b.expand_dims(x, axis if axis >= 0 else axis + o.rank(x) + 1)


@tf_function("squeeze", "compat.v1.squeeze")
def squeeze(o: TensorOps, input: Any, axis: Any = None, name: Any = None, squeeze_dims: Any = None) -> Value:
    x = _value(input)
    axis = axis if axis is not None else squeeze_dims
    if axis is None:
        shape = x.shape.dims if x.shape is not None and x.shape.dims is not None else None
        if shape is None or any(d is None for d in shape[1:]):
            raise Refusal("tf.squeeze without axis needs static dimensions")
        axes = [i for i, d in enumerate(shape) if d == 1]
    else:
        axes = o.axes(x, axis)
    return o.b.squeeze(x, axes)


@tf_function("tile")
def tile(o: TensorOps, input: Any, multiples: Any, name: Any = None) -> Value:
    x = _value(input)
    return o.b.op("Tile", [x, o.b.cast(o.tensor(multiples, None, "multiples"), DType.INT32)],
                  {"Tmultiples": DType.INT32})


@tf_function("gather", "compat.v1.gather")
def gather(o: TensorOps, params: Any, indices: Any, validate_indices: Any = None, axis: Any = None,
           batch_dims: Any = 0, name: Any = None) -> Value:
    return o.gather(_value(params), indices, int(axis or 0), int(batch_dims or 0))


@tf_function("pad", "compat.v1.pad")
def pad(o: TensorOps, tensor: Any, paddings: Any, mode: str = "CONSTANT", constant_values: Any = 0,
        name: Any = None) -> Value:
    return o.pad(_value(tensor), paddings, mode, constant_values)


@tf_function("reverse", "reverse_v2")
def reverse(o: TensorOps, tensor: Any, axis: Any, name: Any = None) -> Value:
    x = _value(tensor)
    return o.b.op("ReverseV2", [x, o.b.ints(o.axes(x, axis), "axis")], {"Tidx": DType.INT32})


@tf_function("broadcast_to")
def broadcast_to(o: TensorOps, input: Any, shape: Any, name: Any = None) -> Value:
    x = _value(input)
    return o.b.op("BroadcastTo", [x, o.b.cast(o.tensor(shape, None, "shape"), DType.INT32)],
                  {"Tidx": DType.INT32})


@tf_function("shape", "compat.v1.shape")
def shape(o: TensorOps, input: Any, out_type: Any = None, name: Any = None) -> Value:
    return o.b.op("Shape", [_value(input)], {"out_type": DType.INT32}, dtype=DType.INT32)


@tf_function("one_hot")
def one_hot(o: TensorOps, indices: Any, depth: Any, on_value: Any = None, off_value: Any = None,
            axis: Any = None, dtype: Any = None, name: Any = None) -> Value:
    x = o.b.cast(_value(indices), DType.INT32)
    out_dtype = dtype_of(dtype) if dtype is not None else DType.FLOAT
    on = o.b.const(np.asarray(1 if on_value is None else on_value, out_dtype.numpy), "on_value", out_dtype)
    off = o.b.const(np.asarray(0 if off_value is None else off_value, out_dtype.numpy), "off_value",
                    out_dtype)
    return o.b.op("OneHot", [x, o.b.const(np.int32(int(depth)), "depth", DType.INT32), on, off],
                  {"axis": -1 if axis is None else int(axis), "T": out_dtype,
                   "TI": DType.INT32}, dtype=out_dtype)


@tf_function("linalg.matmul", "matmul")
def matmul(o: TensorOps, a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False,
           adjoint_a: bool = False, adjoint_b: bool = False, a_is_sparse: bool = False,
           b_is_sparse: bool = False, output_type: Any = None, name: Any = None,
           grad_a: bool = False, grad_b: bool = False) -> Value:
    x, y = o.pair(a, b)
    return o.matmul(x, y, bool(transpose_a or adjoint_a), bool(transpose_b or adjoint_b))


@tf_function("nn.bias_add")
def bias_add(o: TensorOps, value: Any, bias: Any, data_format: Any = None, name: Any = None) -> Value:
    x = _value(value)
    if data_format not in (None, "NHWC", "N...C"):
        raise Refusal(f"tf.nn.bias_add with data_format {data_format!r}")
    return o.b.op("BiasAdd", [x, o.tensor(bias, x)], {"data_format": b"NHWC"})


@tf_function("linalg.norm", "norm")
def norm(o: TensorOps, tensor: Any, ord: Any = "euclidean", axis: Any = None, keepdims: Any = None,
         name: Any = None) -> Value:
    x = _value(tensor)
    if ord not in ("euclidean", "fro", 2, 2.0, 1, 1.0, math.inf, "inf"):
        raise Refusal(f"tf.norm with ord={ord!r}")
    if ord in (1, 1.0):
        return o.reduce("Sum", o.b.unary("Abs", x), axis, bool(keepdims))
    if ord in (math.inf, "inf"):
        return o.reduce("Max", o.b.unary("Abs", x), axis, bool(keepdims))
    return o.b.unary("Sqrt", o.reduce("Sum", o.b.unary("Square", x), axis, bool(keepdims)))


# ---------------------------------------------------------------------------------------------------
# Slicing


def slice_item(spec: Any) -> SliceItem:
    """One recorded slice component: a slice dict, an int, None (newaxis) or Ellipsis."""
    if spec is None:
        return SliceItem("newaxis")
    if isinstance(spec, bool):
        raise Refusal("boolean indexing is not supported")
    if isinstance(spec, int):
        return SliceItem("index", spec)
    if isinstance(spec, dict):
        if spec.get("class_name") == "__ellipsis__":
            return SliceItem("ellipsis")
        config = spec.get("config") if spec.get("class_name") == "__slice__" else spec
        if isinstance(config, dict) and set(config) <= {"start", "stop", "step"}:
            parts = [config.get(k) for k in ("start", "stop", "step")]
            if all(p is None or (isinstance(p, int) and not isinstance(p, bool)) for p in parts):
                return SliceItem("slice", *parts)
    if isinstance(spec, Value):
        raise Refusal("indexing with a tensor is not supported")
    raise Refusal(f"slice component {spec!r} is not supported")


@tf_function("__operators__.getitem")
def getitem(o: TensorOps, tensor: Any, slice_spec: Any = None) -> Value:
    items = slice_spec if isinstance(slice_spec, list) else [slice_spec]
    return o.strided_slice(_value(tensor), [slice_item(s) for s in items])
