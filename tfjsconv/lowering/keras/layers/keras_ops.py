"""Keras 3 tensor operations recorded as functional-model nodes (``module: keras.src.ops.*``): the
comparisons and reductions Keras 3 records to compute masks (``not_equal(tokens, 0)``,
``any(..., axis=-1)``), keyed ``op:<class>``.  Positional arguments may be tensors or numbers."""

from __future__ import annotations

from typing import Any

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType
from ...builder import Builder, dims
from ..registry import LayerCall, Refusal, lower_layer

_COMPARISONS = {"op:NotEqual": "NotEqual", "op:Equal": "Equal", "op:Greater": "Greater",
                "op:GreaterEqual": "GreaterEqual", "op:Less": "Less", "op:LessEqual": "LessEqual"}


def operand(b: Builder, value: Any, like: Value) -> Value:
    """A positional argument as a Value: tensors as they are, numbers as constants of ``like``'s type."""
    if isinstance(value, Value):
        return value
    if isinstance(value, (int, float, bool)):
        dtype = like.dtype or DType.FLOAT
        return b.const(np.asarray(value, dtype.numpy), "y", dtype)
    raise Refusal(f"operand {value!r} is neither a tensor nor a number")


def _args(call: LayerCall, count: int) -> list[Any]:
    args = list(call.args) if isinstance(call.args, (list, tuple)) else [call.args]
    if len(args) != count:
        raise Refusal(f"expects {count} positional arguments, got {len(args)}")
    return args


def comparison(call: LayerCall) -> Value:
    b = call.builder
    x, y = _args(call, 2)
    like = x if isinstance(x, Value) else y
    if not isinstance(like, Value):
        raise Refusal("compares two constants")
    op = _COMPARISONS[f"op:{call.class_name.removeprefix('op:')}"]
    return b.op(op, [operand(b, x, like), operand(b, y, like)])


for _key in _COMPARISONS:
    lower_layer(_key)(comparison)


@lower_layer("op:Any", "op:All")
def any_all(call: LayerCall) -> Value:
    b = call.builder
    (x,) = _args(call, 1)
    if not isinstance(x, Value):
        raise Refusal("reduces a constant")
    rank = len(dims(x) or ())
    axis = call.config.get("axis")
    axes = list(range(rank)) if axis is None else [int(a) % rank for a in ([axis] if isinstance(axis, int)
                                                                          else axis)]
    if x.dtype != DType.BOOL:
        x = b.binary("NotEqual", x, b.const(np.zeros((), (x.dtype or DType.FLOAT).numpy), "zero", x.dtype))
    op = "Any" if call.class_name.endswith("Any") else "All"
    return b.reduce(op, x, axes, keep_dims=bool(call.config.get("keepdims", False)))
