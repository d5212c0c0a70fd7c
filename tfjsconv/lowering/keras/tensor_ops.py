"""TF-op emitters shared by the two kinds of recorded tensor operations: tf-keras ``TFOpLambda`` /
``SlicingOpLambda`` nodes (``tf.*`` API calls) and Keras 3 functional op nodes (``keras.ops`` calls).

Both record Python-level calls: tensors mixed with Python numbers, lists, ``None`` axes and slice
specifications.  ``TensorOps`` turns those into Values with TF's (and Keras 3's) dtype rules: a
Python number takes the tensor operand's dtype, except that a float number with an integer tensor
promotes the tensor to float32 (what Keras 3 does; tf-keras would have refused to build the model).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np

from ...ir.graph import Value
from ...ir.types import DType
from ..builder import Builder, dims
from .registry import Refusal

_DTYPES = {"float32": DType.FLOAT, "float64": DType.FLOAT, "float16": DType.FLOAT, "bfloat16": DType.FLOAT,
           "int32": DType.INT32, "int64": DType.INT32, "int16": DType.INT32, "int8": DType.INT32,
           "uint8": DType.INT32, "uint16": DType.INT32, "uint32": DType.INT32, "bool": DType.BOOL}


def dtype_of(name: Any) -> DType:
    """The TF.js dtype a Keras/TF dtype name computes in (64-bit and small types narrowed as TF.js does)."""
    if isinstance(name, dict):  # tf-keras serializes tf.DType objects as {"class_name": "DType", ...}
        name = (name.get("config") or {}).get("name", name.get("name"))
    text = str(name).replace("tf.", "")
    if text not in _DTYPES:
        raise Refusal(f"dtype {name!r} has no TF.js equivalent")
    return _DTYPES[text]


@dataclass(frozen=True)
class SliceItem:
    kind: str  # "slice" | "index" | "newaxis" | "ellipsis"
    start: Optional[int] = None
    stop: Optional[int] = None
    step: Optional[int] = None


Operand = Union[Value, float, int, bool, list, None]


class TensorOps:
    """Builds TF ops from Python-level call arguments."""

    def __init__(self, builder: Builder) -> None:
        self.b = builder

    # ----- operands -------------------------------------------------------------------------------
    def const_like(self, value: Any, like: Optional[Value], name: str = "Const") -> Value:
        dtype = like.dtype if like is not None and like.dtype is not None else None
        array = np.asarray(value)
        if dtype is None:
            dtype = DType.FLOAT if array.dtype.kind == "f" else DType.BOOL if array.dtype.kind == "b" \
                else DType.INT32
        return self.b.const(array.astype(dtype.numpy), name, dtype)

    def tensor(self, value: Operand, like: Optional[Value] = None, name: str = "Const") -> Value:
        """A Value for ``value``: itself, a constant, or a Pack of a list mixing Values and numbers."""
        if isinstance(value, Value):
            return value
        if isinstance(value, (list, tuple)) and any(isinstance(v, Value) for v in _flatten(value)):
            parts = [self.tensor(v, like, name) for v in value]
            return self.b.op("Pack", parts, {"N": len(parts), "axis": 0, "T": parts[0].dtype}, name="pack")
        if value is None:
            raise Refusal("an operand is None")
        return self.const_like(value, like, name)

    def pair(self, a: Operand, c: Operand) -> tuple[Value, Value]:
        """Two operands of a binary op with the Keras 3 / TF promotion rules."""
        va = a if isinstance(a, Value) else None
        vc = c if isinstance(c, Value) else None
        like = va or vc
        if like is None:
            raise Refusal("a binary operation has no tensor operand")
        for value, other in ((va, c), (vc, a)):
            if value is not None and value.dtype in (DType.INT32, DType.BOOL) and _is_float(other):
                if value is va:
                    va = self.b.cast(value, DType.FLOAT)
                else:
                    vc = self.b.cast(value, DType.FLOAT)
        if va is not None and vc is not None and va.dtype != vc.dtype:
            if DType.FLOAT in (va.dtype, vc.dtype):
                va, vc = self.b.cast(va, DType.FLOAT), self.b.cast(vc, DType.FLOAT)
        like = va or vc
        return (va if va is not None else self.tensor(a, like, "x"),
                vc if vc is not None else self.tensor(c, like, "y"))

    def binary(self, op: str, a: Operand, c: Operand) -> Value:
        x, y = self.pair(a, c)
        if op in ("Greater", "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual", "LogicalAnd",
                  "LogicalOr"):
            return self.b.op(op, [x, y], {} if op.startswith("Logical") else {"T": x.dtype}, dtype=DType.BOOL)
        if op == "RealDiv" and x.dtype == DType.INT32:  # true division of integers is float division
            x, y = self.b.cast(x, DType.FLOAT), self.b.cast(y, DType.FLOAT)
        if op == "FloorDiv" and x.dtype == DType.FLOAT:
            # TF's float FloorDiv is floor(x / y); TF.js's webgl kernel rounds both operands to
            # integers first (an integer-division shader), so spell it out.
            return self.b.unary("Floor", self.b.op("RealDiv", [x, y]))
        return self.b.op(op, [x, y])

    # ----- axes -----------------------------------------------------------------------------------
    def rank(self, x: Value) -> int:
        shape = dims(x)
        if shape is None:
            raise Refusal("needs the rank of its input, which is unknown")
        return len(shape)

    def axes(self, x: Value, axis: Any) -> list[int]:
        """Normalised axes: None means all; an int or a list of ints (negative counted from the end)."""
        rank = self.rank(x)
        if axis is None:
            return list(range(rank))
        items = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        return sorted({int(a) % rank for a in items})

    def reduce(self, op: str, x: Value, axis: Any, keepdims: bool = False) -> Value:
        if op in ("Any", "All") and x.dtype != DType.BOOL:
            x = self.b.binary("NotEqual", x, self.const_like(0, x))
        out = self.b.reduce(op, x, self.axes(x, axis), keep_dims=bool(keepdims))
        if op in ("Any", "All"):
            out.dtype = DType.BOOL
        return out

    def moments(self, x: Value, axis: Any, keepdims: bool) -> tuple[Value, Value]:
        """(mean, population variance) over ``axis``."""
        axes = self.axes(x, axis)
        mean = self.b.reduce("Mean", x, axes, keep_dims=True)
        var = self.b.reduce("Mean", self.b.unary("Square", self.b.binary("Sub", x, mean)), axes,
                            keep_dims=bool(keepdims))
        if not keepdims:
            mean = self.b.squeeze(mean, axes)
        return mean, var

    def logsumexp(self, x: Value, axis: Any, keepdims: bool) -> Value:
        axes = self.axes(x, axis)
        peak = self.b.reduce("Max", x, axes, keep_dims=True)
        total = self.b.reduce("Sum", self.b.unary("Exp", self.b.binary("Sub", x, peak)), axes, keep_dims=True)
        out = self.b.binary("AddV2", self.b.unary("Log", total), peak)
        return out if keepdims else self.b.squeeze(out, axes)

    # ----- shapes ---------------------------------------------------------------------------------
    def reshape(self, x: Value, shape: Any) -> Value:
        if isinstance(shape, Value) or any(isinstance(v, Value) for v in _flatten(shape)):
            return self.b.op("Reshape", [x, self.b.cast(self.tensor(shape, None, "shape"), DType.INT32)],
                             {"Tshape": DType.INT32})
        items = [int(d) if d is not None else -1 for d in (shape if isinstance(shape, (list, tuple))
                                                             else [shape])]
        return self.b.reshape(x, items)

    def split(self, x: Value, sizes: Sequence[int], axis: int) -> list[Value]:
        rank = self.rank(x)
        axis %= rank
        if len(set(sizes)) == 1 and all(s >= 0 for s in sizes):
            return self.b.outputs("Split", [self.b.ints([axis], "split_dim"), x],
                                  {"num_split": len(sizes), "T": x.dtype}, num_outputs=len(sizes),
                                  dtype=x.dtype)
        sizes_value, axis_value = self.b.ints(list(sizes), "size_splits"), self.b.ints([axis], "axis")
        return self.b.outputs("SplitV", [x, sizes_value, axis_value],
                              {"num_split": len(sizes), "T": x.dtype, "Tlen": DType.INT32},
                              num_outputs=len(sizes))

    def unstack(self, x: Value, axis: int, num: Optional[int] = None) -> list[Value]:
        shape = dims(x)
        rank = self.rank(x)
        axis %= rank
        count = num if num is not None else (shape[axis] if shape else None)
        if count is None:
            raise Refusal("cannot unstack an axis of unknown size")
        return self.b.outputs("Unpack", [x], {"num": int(count), "axis": axis, "T": x.dtype},
                              num_outputs=int(count))

    def stack(self, values: Sequence[Operand], axis: int) -> Value:
        like = next((v for v in values if isinstance(v, Value)), None)
        parts = [self.tensor(v, like) for v in values]
        return self.b.op("Pack", parts, {"N": len(parts), "axis": int(axis), "T": parts[0].dtype})

    def concat(self, values: Sequence[Operand], axis: int) -> Value:
        like = next((v for v in values if isinstance(v, Value)), None)
        parts = [self.tensor(v, like) for v in values]
        rank = self.rank(parts[0])
        return self.b.concat(parts, int(axis) % rank)

    def where(self, condition: Operand, x: Operand, y: Operand) -> Value:
        cond = self.tensor(condition)
        if cond.dtype != DType.BOOL:
            cond = self.b.binary("NotEqual", cond, self.const_like(0, cond))
        a, c = self.pair(x, y)
        return self.b.op("SelectV2", [cond, a, c], {"T": a.dtype}, dtype=a.dtype)

    def gather(self, x: Value, indices: Operand, axis: int, batch_dims: int = 0) -> Value:
        rank = self.rank(x)
        axis %= rank
        if isinstance(indices, Value):
            index = self.b.cast(indices, DType.INT32)
        else:
            size = (dims(x) or ())[axis]
            array = np.asarray(indices, np.int64)
            if (array < 0).any():
                if size is None:
                    raise Refusal("negative gather indices along an axis of unknown size")
                array = np.where(array < 0, array + size, array)
            index = self.b.const(array.astype(np.int32), "indices", DType.INT32)
        out = self.b.op("GatherV2", [x, index, self.b.ints([axis], "axis")],
                        {"batch_dims": int(batch_dims), "Tparams": x.dtype, "Tindices": DType.INT32,
                         "Taxis": DType.INT32})
        out.dtype = x.dtype
        return out

    def pad(self, x: Value, paddings: Any, mode: str = "CONSTANT", constant: Any = 0) -> Value:
        rank = self.rank(x)
        pads = np.asarray(paddings, np.int64).reshape(-1, 2) if not isinstance(paddings, int) \
            else np.full((rank, 2), paddings)
        pad_value = self.b.const(pads.astype(np.int32), "paddings", DType.INT32)
        mode = str(mode).upper()
        if mode == "CONSTANT":
            if constant not in (None, 0, 0.0):
                return self.b.op("PadV2", [x, pad_value, self.const_like(constant, x)],
                                 {"Tpaddings": DType.INT32})
            return self.b.op("Pad", [x, pad_value], {"Tpaddings": DType.INT32})
        if mode in ("REFLECT", "SYMMETRIC"):
            return self.b.op("MirrorPad", [x, pad_value], {"mode": mode.encode(), "Tpaddings": DType.INT32})
        raise Refusal(f"pad mode {mode!r} is not supported")

    def strided_slice(self, x: Value, items: Sequence[SliceItem]) -> Value:
        """``x[items]`` with Python semantics (slices, ints, None, Ellipsis)."""
        begin, end, strides = [], [], []
        masks = {"begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                 "shrink_axis_mask": 0}
        for i, item in enumerate(items):
            bit = 1 << i
            if item.kind == "ellipsis":
                masks["ellipsis_mask"] |= bit
                begin.append(0), end.append(0), strides.append(1)
            elif item.kind == "newaxis":
                masks["new_axis_mask"] |= bit
                begin.append(0), end.append(0), strides.append(1)
            elif item.kind == "index":
                index = int(item.start or 0)
                masks["shrink_axis_mask"] |= bit
                begin.append(index), strides.append(1)
                if index == -1:  # [-1:] then drop the axis (end 0 would be an empty slice)
                    masks["end_mask"] |= bit
                    end.append(0)
                else:
                    end.append(index + 1)
            else:
                step = 1 if item.step is None else int(item.step)
                if step == 0:
                    raise Refusal("a slice step is 0")
                strides.append(step)
                if item.start is None:
                    masks["begin_mask"] |= bit
                    begin.append(0)
                else:
                    begin.append(int(item.start))
                if item.stop is None:
                    masks["end_mask"] |= bit
                    end.append(0)
                else:
                    end.append(int(item.stop))
        if masks["ellipsis_mask"] & (masks["ellipsis_mask"] - 1):
            raise Refusal("a slice has more than one ellipsis")
        attrs: dict[str, Any] = {"Index": DType.INT32, **masks}
        return self.b.op("StridedSlice", [x, self.b.ints(begin, "begin"), self.b.ints(end, "end"),
                                          self.b.ints(strides, "strides")], attrs, dtype=x.dtype)

    def matmul(self, a: Value, c: Value, transpose_a: bool = False, transpose_b: bool = False) -> Value:
        ra, rc = self.rank(a), self.rank(c)
        if ra == 2 and rc == 2:
            return self.b.op("MatMul", [a, c], {"transpose_a": bool(transpose_a),
                                                "transpose_b": bool(transpose_b)})
        if ra < 2 or rc < 2:
            raise Refusal("matmul of a vector is not supported")
        return self.b.op("BatchMatMulV2", [a, c], {"adj_x": bool(transpose_a), "adj_y": bool(transpose_b)})

    def repeat(self, x: Value, repeats: int, axis: Optional[int]) -> Value:
        """``np.repeat`` with an integer count: each element ``repeats`` times along ``axis``."""
        if axis is None:
            x = self.b.reshape(x, [-1])
            axis = 0
        shape = dims(x)
        rank = self.rank(x)
        axis = int(axis) % rank
        multiples = self.b.ints([1] * (axis + 1) + [int(repeats)] + [1] * (rank - axis - 1), "multiples")
        tiled = self.b.op("Tile", [self.b.expand_dims(x, axis + 1), multiples], {"Tmultiples": DType.INT32})
        target = [(-1 if d is None else d) for d in shape]  # type: ignore[union-attr]
        target[axis] = -1 if target[axis] == -1 else target[axis] * int(repeats)
        if target.count(-1) > 1:
            raise Refusal("repeat needs every other dimension to be known")
        return self.b.reshape(tiled, target)


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _flatten(item)]
    return [value]


def _is_float(value: Any) -> bool:
    if isinstance(value, Value):
        return value.dtype == DType.FLOAT
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return True
    if isinstance(value, (list, tuple)):
        return any(_is_float(v) for v in value)
    return False
