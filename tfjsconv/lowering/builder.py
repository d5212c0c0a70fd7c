"""Emits TF ops into a Graph with their dtypes and static shapes, under name scopes.

Lowerings call ``Builder.op`` (or one of the small helpers for the common ops) and get Values back;
each new Value carries the dtype of the op (the first input's, unless told) and the static shape
``shape_rules`` derives for it.  Constants the model owns (weights) are added once per array, so a
layer called several times shares its Const nodes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Callable, Optional, Union

import numpy as np

from ..ir.graph import ArrayLike, Graph, LazyArray, Value, as_array, read_array
from ..ir.types import DType, Shape
from ..ops.traits import BOOL_RESULT
from .shape_rules import Dims, infer

# Ops whose TF definition types their data inputs with the attr ``T`` (written as TF writes them).
_TYPED = frozenset({
    "AddV2", "Sub", "Mul", "RealDiv", "Maximum", "Minimum", "Pow", "SquaredDifference", "MatMul",
    "BatchMatMulV2", "Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "Softplus", "Softsign", "Exp", "Log",
    "Neg", "Abs", "Sqrt", "Rsqrt", "Square", "Softmax", "LogSoftmax", "LeakyRelu", "Erf", "Reshape",
    "Transpose", "ExpandDims", "Squeeze", "Mean", "Sum", "Max", "Min", "Prod", "ConcatV2", "Pack", "Tile",
    "Pad", "PadV2", "MirrorPad", "Slice", "StridedSlice", "Conv2D", "Conv3D", "DepthwiseConv2dNative",
    "MaxPool", "AvgPool", "MaxPool3D", "AvgPool3D", "BiasAdd", "Conv2DBackpropInput", "ResizeBilinear",
    "ResizeNearestNeighbor", "Identity", "FusedBatchNormV3", "ClipByValue", "Greater", "GreaterEqual",
    "Less", "LessEqual", "Equal", "NotEqual", "SelectV2", "Floor", "Ceil", "Round", "Reciprocal",
    "Prelu", "AddN", "ZerosLike", "OnesLike", "Sign", "Log1p", "Expm1", "GatherV2", "FloorDiv", "FloorMod",
})


# Ops whose typed data input is not the first one: Split(split_dim, value), SelectV2(cond, t, e),
# Fill(dims, value), Conv2DBackpropInput(input_sizes, filter, out_backprop).
_DATA_INPUT = {"Split": 1, "SelectV2": 1, "Select": 1, "Fill": 1, "Conv2DBackpropInput": 2}


def dims(value: Value) -> Dims:
    """The static shape of ``value`` as a tuple (None dims unknown), or None for an unknown rank."""
    return None if value.shape is None else value.shape.dims


def rank(value: Value) -> Optional[int]:
    shape = dims(value)
    return None if shape is None else len(shape)


class Builder:
    def __init__(self, graph: Optional[Graph] = None) -> None:
        self.graph = graph if graph is not None else Graph()
        self._scopes: list[str] = []
        self._weights: dict[int, Value] = {}
        self._derived: dict[tuple[Any, ...], Value] = {}
        self._keep: list[Any] = []  # arrays whose id() keys _weights stay alive

    # ----- names --------------------------------------------------------------------------------
    @contextmanager
    def scope(self, name: str) -> Iterator[None]:
        self._scopes.append(name)
        try:
            yield
        finally:
            self._scopes.pop()

    def name(self, base: str) -> str:
        full = "/".join([*self._scopes, base]) if base else "/".join(self._scopes)
        return self.graph.unique_name(full or "node")

    # ----- leaves -------------------------------------------------------------------------------
    def placeholder(self, name: str, dtype: DType, shape: Dims, key: Optional[str] = None) -> Value:
        node = self.graph.add_node("Placeholder", attrs={"dtype": dtype, "shape": Shape.of(shape)},
                                   name=self.graph.unique_name(name))
        value = node.outputs[0]
        value.dtype, value.shape = dtype, Shape.of(shape)
        self.graph.inputs.append(node)
        self.graph.input_keys.append(key or name)
        return value

    def const(self, array: Any, name: str = "Const", dtype: Optional[DType] = None) -> Value:
        data = np.asarray(array) if not isinstance(array, LazyArray) else array
        if dtype is not None and not isinstance(data, LazyArray) and data.dtype != dtype.numpy:
            data = data.astype(dtype.numpy)
        node = self.graph.add_const(data, name=self.name(name), dtype=dtype)
        return node.outputs[0]

    def ints(self, values: Sequence[int], name: str = "Const") -> Value:
        return self.const(np.asarray(list(values), np.int32), name)

    def scalar(self, value: float, dtype: DType, name: str = "Const") -> Value:
        return self.const(np.asarray(value, dtype.numpy), name, dtype)

    def weight(self, array: ArrayLike, name: str) -> Value:
        """A model weight as a Const, added once however many calls use it."""
        if np.dtype(array.dtype) in (np.dtype(np.float16), np.dtype(np.float64)):
            # TF.js computes in float32 only (float16 / float64 Keras policies included).
            return self.derived_weight(array, "float32", lambda a: a.astype(np.float32), name)
        key = id(array)
        if key not in self._weights:
            self._keep.append(array)
            self._weights[key] = self.graph.add_const(array, name=self.graph.unique_name(name)).outputs[0]
        return self._weights[key]

    def derived_weight(self, source: Union[ArrayLike, Sequence[ArrayLike]], tag: str,
                       fn: Callable[..., np.ndarray], name: str) -> Value:
        """A Const computed from weights (a flipped kernel, folded batch-norm factors), read lazily
        like the weights themselves and added once per (weights, tag)."""
        sources = list(source) if isinstance(source, (list, tuple)) else [source]
        key = (*[id(s) for s in sources], tag)
        if key not in self._derived:
            self._keep.extend(sources)
            example = fn(*[np.zeros(tuple(s.shape), s.dtype) for s in sources])
            data = LazyArray(example.dtype, example.shape,
                             lambda: np.ascontiguousarray(fn(*[read_array(s) for s in sources])))
            self._derived[key] = self.graph.add_const(data, name=self.graph.unique_name(name)).outputs[0]
        return self._derived[key]

    # ----- ops ----------------------------------------------------------------------------------
    def op(self, op: str, inputs: Sequence[Value], attrs: Optional[dict[str, Any]] = None, *,
           name: Optional[str] = None, dtype: Optional[DType] = None,
           num_outputs: int = 1) -> Value:
        """Adds ``op`` and returns its first output (``outputs(...)`` for all of them)."""
        return self.outputs(op, inputs, attrs, name=name, dtype=dtype, num_outputs=num_outputs)[0]

    def outputs(self, op: str, inputs: Sequence[Value], attrs: Optional[dict[str, Any]] = None, *,
                name: Optional[str] = None, dtype: Optional[DType] = None,
                num_outputs: int = 1) -> list[Value]:
        attrs = dict(attrs or {})
        data = _DATA_INPUT.get(op, 0)  # the input whose type is the op's T (not an axis or condition)
        first = inputs[data].dtype if len(inputs) > data else None
        if op in _TYPED and "T" not in attrs and first is not None:
            attrs["T"] = first
        out_dtype = dtype or (DType.BOOL if op in BOOL_RESULT else first)
        node = self.graph.add_node(op, inputs, attrs, name=self.name(name or op), num_outputs=num_outputs)
        consts = [_const_value(v) for v in inputs]
        shapes = infer(op, [dims(v) for v in inputs], attrs, consts)
        for index, value in enumerate(node.outputs):
            value.dtype = out_dtype
            if shapes is not None and index < len(shapes) and shapes[index] is not None:
                value.shape = Shape.of(shapes[index])
            elif shapes is not None and index < len(shapes):
                value.shape = None
        return list(node.outputs)

    # ----- helpers for the common ops -------------------------------------------------------------
    def reshape(self, x: Value, shape: Sequence[Optional[int]], name: str = "Reshape") -> Value:
        if x.producer.op == "Reshape":  # a reshape of a reshape is one reshape of the original
            x = x.producer.inputs[0]
        target = self.ints([-1 if d is None else int(d) for d in shape], f"{name}/shape")
        return self.op("Reshape", [x, target], {"Tshape": DType.INT32}, name=name)

    def transpose(self, x: Value, perm: Sequence[int], name: str = "transpose") -> Value:
        return self.op("Transpose", [x, self.ints(perm, f"{name}/perm")], {"Tperm": DType.INT32}, name=name)

    def expand_dims(self, x: Value, axis: int, name: str = "ExpandDims") -> Value:
        return self.op("ExpandDims", [x, self.ints([axis], f"{name}/dim")], {"Tdim": DType.INT32}, name=name)

    def squeeze(self, x: Value, axes: Sequence[int], name: str = "Squeeze") -> Value:
        return self.op("Squeeze", [x], {"squeeze_dims": [int(a) for a in axes]}, name=name)

    def reduce(self, op: str, x: Value, axes: Sequence[int], keep_dims: bool = False,
               name: Optional[str] = None) -> Value:
        return self.op(op, [x, self.ints(axes, f"{name or op}/reduction_indices")],
                       {"keep_dims": bool(keep_dims), "Tidx": DType.INT32}, name=name or op)

    def concat(self, values: Sequence[Value], axis: int, name: str = "concat") -> Value:
        if len(values) == 1:
            return values[0]
        return self.op("ConcatV2", [*values, self.ints([axis], f"{name}/axis")],
                       {"N": len(values), "Tidx": DType.INT32}, name=name)

    def binary(self, op: str, a: Value, b: Union[Value, float], name: Optional[str] = None) -> Value:
        if not isinstance(b, Value):
            b = self.scalar(float(b), a.dtype or DType.FLOAT, f"{name or op}/y")
        return self.op(op, [a, b], name=name)

    def unary(self, op: str, x: Value, name: Optional[str] = None, **attrs: Any) -> Value:
        return self.op(op, [x], attrs, name=name)

    def cast(self, x: Value, dtype: DType, name: str = "Cast") -> Value:
        if x.dtype == dtype:
            return x
        return self.op("Cast", [x], {"SrcT": x.dtype, "DstT": dtype, "Truncate": False}, name=name,
                       dtype=dtype)

    def pad(self, x: Value, pads: Sequence[tuple[int, int]], name: str = "Pad") -> Value:
        """Zero padding.  Above rank 4 (TF.js webgl cannot compile its packed Pad shader for rank 5+)
        it pads through rank <= 4 views of the tensor when the non-batch dims are static."""
        shape = dims(x)
        padded = [i for i, p in enumerate(pads) if tuple(p) != (0, 0)]
        if (shape is None or len(shape) <= 4 or not padded or padded[0] == 0
                or any(d is None for d in shape[1:])):
            return self._pad(x, pads, name)
        runs: list[list[int]] = []
        for axis in padded:  # runs of at most two adjacent axes, each padded through one rank<=4 view
            if runs and len(runs[-1]) < 2 and runs[-1][-1] == axis - 1:
                runs[-1].append(axis)
            else:
                runs.append([axis])
        current = [int(d) for d in shape[1:]]  # type: ignore[arg-type]
        for run in runs:
            first, last = run[0] - 1, run[-1] - 1  # positions in `current` (batch excluded)
            after = int(np.prod(current[last + 1:]))
            x = self.reshape(x, [-1, *current[first:last + 1], after], f"{name}/view")
            x = self._pad(x, [(0, 0), *[tuple(pads[a]) for a in run], (0, 0)], name)
            for a in run:
                current[a - 1] += int(pads[a][0]) + int(pads[a][1])
        return self.reshape(x, [-1, *current], f"{name}/Reshape")

    def _pad(self, x: Value, pads: Sequence[tuple[int, int]], name: str) -> Value:
        return self.op("Pad", [x, self.const(np.asarray(pads, np.int32).reshape(-1, 2), f"{name}/paddings")],
                       {"Tpaddings": DType.INT32}, name=name)

    def slice(self, x: Value, begin: Sequence[int], size: Sequence[int], name: str = "Slice") -> Value:
        return self.op("Slice", [x, self.ints(begin, f"{name}/begin"), self.ints(size, f"{name}/size")],
                       {"Index": DType.INT32}, name=name)


def _const_value(value: Value) -> Optional[np.ndarray]:
    node = value.producer
    if node.op != "Const":
        return None
    data = node.attrs["value"]
    if isinstance(data, LazyArray):
        return None  # weights are never shape operands; do not read them from disk here
    return as_array(data)
