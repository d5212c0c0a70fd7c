"""ONNX shape ops: Shape/Size/Constant*/Range and the reshaping family (Reshape, Flatten, Squeeze,
Unsqueeze, Expand, Tile, Concat).

ONNX computes shapes with int64 graph ops.  Whatever is static is folded here into Const values
(``Shape`` of a static tensor, ``Gather``/``Slice`` of the static part of a dynamic shape), so that
later handlers see constants; the rest stays as TF ops that TF.js evaluates at run time.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ....ir.graph import Value, as_array
from ....ir.types import DType, Shape
from . import OnnxContext, OnnxNode, normalize_axis, onnx_op
from .runtime_axes import squeeze_runtime, unsqueeze_runtime


def shape_source(value: Value) -> Optional[tuple[Optional[int], ...]]:
    """The (partly known) dims that ``value`` holds when it is the output of a Shape op."""
    node = value.producer
    if node.op != "Shape" or node.inputs[0].shape is None:
        return None
    return node.inputs[0].shape.dims


@onnx_op("Shape", since=1)
def shape(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    dims = ctx.dims(x)
    rank = None if dims is None else len(dims)
    start, end = int(node.attr("start", 0)), node.attr("end")
    if dims is not None and all(d is not None for d in dims):
        full = np.asarray(dims, dtype=np.int64)
        return [ctx.const(full[start : None if end is None else int(end)], "shape", DType.INT64)]
    out = ctx.op(
        "Shape", [x], {"T": x.dtype, "out_type": DType.INT64}, dtype=DType.INT64, shape=Shape((rank,))
    )
    if start != 0 or end is not None:
        if rank is None:
            raise ctx.refuse("Shape start/end on a tensor of unknown rank")
        stop = rank if end is None else normalize_axis(int(end), rank)
        begin = normalize_axis(start, rank)
        out = ctx.op(
            "StridedSlice",
            [
                out,
                ctx.int_const([begin], "begin"),
                ctx.int_const([stop], "end"),
                ctx.int_const([1], "strides"),
            ],
            _slice_attrs(DType.INT64),
            dtype=DType.INT64,
            shape=Shape((max(stop - begin, 0),)),
        )
    return [out]


def _slice_attrs(dtype: Optional[DType], begin_mask: int = 0, end_mask: int = 0) -> dict:
    return {
        "T": dtype,
        "Index": DType.INT32,
        "begin_mask": begin_mask,
        "end_mask": end_mask,
        "ellipsis_mask": 0,
        "new_axis_mask": 0,
        "shrink_axis_mask": 0,
    }


@onnx_op("Size", since=1)
def size(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    return [ctx.op("Size", [x], {"T": x.dtype, "out_type": DType.INT64}, dtype=DType.INT64, shape=Shape(()))]


@onnx_op("Constant", since=1)
def constant(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    for key, dtype in (
        ("value", None),
        ("value_float", np.float32),
        ("value_floats", np.float32),
        ("value_int", np.int64),
        ("value_ints", np.int64),
    ):
        if key in node.attrs:
            data = node.attrs[key]
            array = np.asarray(data) if dtype is None else np.asarray(data, dtype=dtype)
            return [ctx.const(array, "value")]
    raise ctx.refuse(
        "Constant without a value/value_float(s)/value_int(s) attribute (sparse and string "
        "constants are not supported)"
    )


@onnx_op("ConstantOfShape", since=9)
def constant_of_shape(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    dims = ctx.required(node, 0)
    fill = np.asarray(node.attr("value", np.zeros((1,), np.float32))).reshape(())
    return [
        ctx.op(
            "Fill",
            [dims, ctx.const(fill, "value")],
            {"T": DType.from_numpy(fill.dtype), "index_type": dims.dtype},
            dtype=DType.from_numpy(fill.dtype),
            shape=Shape.of(ctx.out_dims(node, 0)),
        )
    ]


@onnx_op("Range", since=11)
def range_(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    start, limit, delta = (ctx.required(node, i) for i in range(3))
    return [
        ctx.op("Range", [start, limit, delta], {"Tidx": start.dtype}, dtype=start.dtype, shape=Shape((None,)))
    ]


@onnx_op("Reshape", since=5)
def reshape(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x, target = ctx.required(node, 0), ctx.required(node, 1)
    wanted = ctx.const_value(target)
    out_dims = ctx.out_dims(node, 0)
    if wanted is None and out_dims is not None and all(d is not None for d in out_dims):
        wanted = np.asarray(out_dims, dtype=np.int64)  # shape inference resolved the target
        if int(node.attr("allowzero", 0)) == 0 and 0 in out_dims:
            wanted = None  # a 0 in the result would be read as "copy" below
    if wanted is None:  # computed at run time
        if not int(node.attr("allowzero", 0)) and not _zero_free(target):
            target = _copy_zero_dims(ctx, x, target)
        return [
            ctx.op(
                "Reshape",
                [x, target],
                {"T": x.dtype, "Tshape": target.dtype},
                dtype=x.dtype,
                shape=Shape.of(out_dims),
            )
        ]
    dims = list(ctx.dims(x) or [])
    values = [int(v) for v in np.asarray(wanted).reshape(-1)]
    if not int(node.attr("allowzero", 0)):
        copied: list[int] = []  # positions that copy a dimension unknown until run time
        for i, v in enumerate(values):
            if v != 0:
                continue
            if i < len(dims) and dims[i] is not None:
                values[i] = int(dims[i])  # type: ignore[arg-type]
            else:
                copied.append(i)
        if len(copied) == 1 and -1 not in values:
            values[copied[0]] = -1
        elif copied:
            return [
                ctx.op(
                    "Reshape",
                    [x, _runtime_shape(ctx, x, values, copied)],
                    {"T": x.dtype, "Tshape": DType.INT32},
                    dtype=x.dtype,
                    shape=Shape.of(out_dims),
                )
            ]
    return [
        ctx.op(
            "Reshape",
            [x, ctx.int_const(values, "shape")],
            {"T": x.dtype, "Tshape": DType.INT32},
            dtype=x.dtype,
            shape=Shape.of(out_dims)
            if out_dims is not None
            else Shape.of(tuple(None if v < 0 else v for v in values)),
        )
    ]


_DIM_PASSING = ("StridedSlice", "GatherV2", "ExpandDims", "Squeeze", "Reshape", "Cast", "Identity")


def _zero_free(target: Value, depth: int = 0) -> bool:
    """True when a run-time Reshape target cannot hold a literal 0 ("copy this dim"): it is built from
    non-zero constants and dimensions read with Shape (a 0 there is a real empty dimension, which
    the exporter took from the tensor being reshaped or one of the same size)."""
    node = target.producer
    if node.op == "Const":
        return bool(np.all(np.asarray(as_array(node.attrs["value"])) != 0))
    if node.op == "Shape":
        return True
    if depth > 8:
        return False
    if node.op == "ConcatV2":
        return all(_zero_free(v, depth + 1) for v in node.inputs[:-1])
    if node.op in _DIM_PASSING:
        return _zero_free(node.inputs[0], depth + 1)
    return False


def _copy_zero_dims(ctx: OnnxContext, x: Value, target: Value) -> Value:
    """A run-time Reshape target whose 0 entries are replaced by the matching dims of ``x``."""
    tdims = ctx.dims(target)
    if tdims is None or len(tdims) != 1 or tdims[0] is None:
        raise ctx.refuse("a run-time Reshape target of unknown length (its 0 entries copy input dims)")
    length, rank = int(tdims[0]), ctx.rank(x)
    target = ctx.cast(target, DType.INT32)
    shape = ctx.shape_of(x)
    if length <= rank:
        copied = ctx.slice_1d(shape, 0, length)
    else:  # entries past the input's rank have nothing to copy: 0 stays 0 (ONNX rejects it anyway)
        copied = ctx.op(
            "ConcatV2",
            [shape, ctx.int_const([0] * (length - rank), "zeros"), ctx.int_const([0], "axis")],
            {"T": DType.INT32, "N": 2, "Tidx": DType.INT32},
            dtype=DType.INT32,
            shape=Shape((length,)),
        )
    is_zero = ctx.binary("Equal", target, ctx.const(np.asarray(0, np.int32), "zero"))
    return ctx.select(is_zero, copied, target)


def _runtime_shape(ctx: OnnxContext, x: Value, values: list[int], copied: list[int]) -> Value:
    """``values`` with the entries at ``copied`` read from ``Shape(x)`` when the model runs."""
    shape = ctx.op(
        "Shape",
        [x],
        {"T": x.dtype, "out_type": DType.INT32},
        dtype=DType.INT32,
        shape=Shape((len(ctx.dims(x) or ()),)),
    )
    pieces = []
    for i, v in enumerate(values):
        if i in copied:
            pieces.append(
                ctx.op(
                    "StridedSlice",
                    [
                        shape,
                        ctx.int_const([i], "begin"),
                        ctx.int_const([i + 1], "end"),
                        ctx.int_const([1], "strides"),
                    ],
                    _slice_attrs(DType.INT32),
                    dtype=DType.INT32,
                    shape=Shape((1,)),
                )
            )
        else:
            pieces.append(ctx.int_const([v], "dim"))
    return ctx.op(
        "ConcatV2",
        [*pieces, ctx.int_const([0], "axis")],
        {"T": DType.INT32, "N": len(pieces), "Tidx": DType.INT32},
        dtype=DType.INT32,
        shape=Shape((len(values),)),
    )


def reshape_to(ctx: OnnxContext, x: Value, dims: list[Optional[int]], suffix: str = "reshape") -> Value:
    """Reshape to ``dims`` where at most one dim is unknown (it becomes -1)."""
    if sum(d is None for d in dims) > 1:
        raise ctx.refuse(f"a reshape to {Shape.of(tuple(dims))} with more than one unknown dimension")
    values = [-1 if d is None else int(d) for d in dims]
    return ctx.op(
        "Reshape",
        [x, ctx.int_const(values, "shape")],
        {"T": x.dtype, "Tshape": DType.INT32},
        dtype=x.dtype,
        shape=Shape.of(tuple(dims)),
        suffix=suffix,
    )


@onnx_op("Flatten", since=1)
def flatten(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    dims = ctx.dims(x)
    if dims is None:
        raise ctx.refuse("Flatten of a tensor of unknown rank")
    axis = normalize_axis(int(node.attr("axis", 1)), len(dims))
    outer, inner = dims[:axis], dims[axis:]
    product = lambda ds: None if any(d is None for d in ds) else int(math.prod(ds))  # noqa: E731
    return [reshape_to(ctx, x, [product(outer), product(inner)])]


def _axes(ctx: OnnxContext, node: OnnxNode, since_input: int) -> Optional[list[int]]:
    if ctx.opset >= since_input:
        value = ctx.input(node, 1)
        return None if value is None else ctx.const_ints(value, "axes")
    axes = node.attr("axes")
    return None if axes is None else [int(a) for a in axes]


def _runtime_axes(ctx: OnnxContext, node: OnnxNode) -> Optional[Value]:
    value = ctx.input(node, 1) if ctx.opset >= 13 else None
    return value if value is not None and ctx.const_value(value) is None else None


@onnx_op("Squeeze", since=1)
def squeeze(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    runtime = _runtime_axes(ctx, node)
    if runtime is not None:
        return [squeeze_runtime(ctx, node, x, runtime)]
    axes = _axes(ctx, node, 13)
    dims = ctx.dims(x)
    if axes is None:
        if dims is None or any(d is None for d in dims):
            raise ctx.refuse("Squeeze without axes needs a static input shape")
        axes = [i for i, d in enumerate(dims) if d == 1]
    rank = ctx.rank(x)
    axes = sorted(normalize_axis(a, rank) for a in axes)
    shape = None if dims is None else Shape(tuple(d for i, d in enumerate(dims) if i not in axes))
    return [ctx.op("Squeeze", [x], {"T": x.dtype, "squeeze_dims": axes}, dtype=x.dtype, shape=shape)]


@onnx_op("Unsqueeze", since=1)
def unsqueeze(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    runtime = _runtime_axes(ctx, node)
    if runtime is not None:
        return [unsqueeze_runtime(ctx, node, x, runtime)]
    axes = _axes(ctx, node, 13)
    if axes is None:
        raise ctx.refuse("Unsqueeze without axes")
    dims = list(ctx.dims(x) or [])
    out_rank = ctx.rank(x) + len(axes)
    out = x
    for axis in sorted(normalize_axis(a, out_rank) for a in axes):
        dims.insert(axis, 1)
        out = ctx.op(
            "ExpandDims",
            [out, ctx.int_const([axis], "axis")],
            {"T": x.dtype, "Tdim": DType.INT32},
            dtype=x.dtype,
            shape=Shape(tuple(dims)),
        )
    return [out]


@onnx_op("Expand", since=8)
def expand(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x, target = ctx.required(node, 0), ctx.required(node, 1)
    wanted = ctx.const_value(target)
    dims = ctx.dims(x)
    if wanted is not None and dims is not None and all(d is not None for d in dims):
        final = np.broadcast_shapes(
            tuple(int(d) for d in dims),  # type: ignore[arg-type]
            tuple(int(v) for v in np.asarray(wanted).reshape(-1)),
        )
        if tuple(final) == tuple(dims):
            return [x]
        return [
            ctx.op(
                "BroadcastTo",
                [x, ctx.int_const(list(final), "shape")],
                {"T": x.dtype, "Tidx": DType.INT32},
                dtype=x.dtype,
                shape=Shape(tuple(final)),
            )
        ]
    current = ctx.op("Shape", [x], {"T": x.dtype, "out_type": DType.INT32}, dtype=DType.INT32)
    target32 = ctx.cast(target, DType.INT32)
    final_shape = ctx.op("BroadcastArgs", [current, target32], {"T": DType.INT32}, dtype=DType.INT32)
    return [
        ctx.op(
            "BroadcastTo",
            [x, final_shape],
            {"T": x.dtype, "Tidx": DType.INT32},
            dtype=x.dtype,
            shape=Shape.of(ctx.out_dims(node, 0)),
        )
    ]


@onnx_op("Tile", since=6)
def tile(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    x, repeats = ctx.required(node, 0), ctx.required(node, 1)
    return [
        ctx.op(
            "Tile",
            [x, repeats],
            {"T": x.dtype, "Tmultiples": repeats.dtype},
            dtype=x.dtype,
            shape=Shape.of(ctx.out_dims(node, 0)),
        )
    ]


@onnx_op("Concat", since=1)
def concat(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    values = [ctx.values[n] for n in node.inputs if n]
    rank = ctx.rank(values[0])
    axis = normalize_axis(int(node.attr("axis", 1 if ctx.opset < 4 else 0)), rank)
    sources = [_static_entries(ctx, v) for v in values] if rank == 1 else []
    if sources and all(s is not None for s in sources):  # pieces of a shape, all known: one Const
        merged = [e for s in sources for e in s]  # type: ignore[union-attr]
        return [
            ctx.const(
                np.asarray(merged, dtype=values[0].dtype.numpy if values[0].dtype else np.int64),
                "concat",
                values[0].dtype,
            )
        ]
    if len(values) == 1:
        return [values[0]]
    return [
        ctx.op(
            "ConcatV2",
            [*values, ctx.int_const([axis], "axis")],
            {"T": values[0].dtype, "N": len(values), "Tidx": DType.INT32},
            dtype=values[0].dtype,
            shape=Shape.of(ctx.out_dims(node, 0)),
        )
    ]


def _static_entries(ctx: OnnxContext, value: Value) -> Optional[list[int]]:
    data = ctx.const_value(value)
    if data is not None:
        return [int(v) for v in np.asarray(data).reshape(-1)]
    return None
