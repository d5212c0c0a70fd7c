"""ONNX op handlers: each lowers one ONNX node into TF-dialect IR nodes.

A handler is ``fn(ctx, node) -> list[Optional[Value]]`` (one entry per ONNX output, ``None`` for an
output it does not produce) registered with ``@onnx_op("Conv", since=11)``.  ``lookup(op, opset)``
returns the handler with the highest ``since`` that is not above the model's opset, the rule of the
ONNX reference runtime, declared explicitly instead of parsed from class names.

``OnnxContext`` is what handlers build with: resolved inputs (``None`` for an omitted optional input),
typed attributes, the opset, and ``op``/``const`` helpers that fold eagerly when every input is a
Const (ONNX spells shape arithmetic as graph ops; folding it while reading gives later handlers the
static values they need, e.g. a Reshape's target shape).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from ....ir.derived import cast, derive, output_of
from ....ir.graph import ArrayLike, Graph, LazyArray, Node, Value, const_of, read_array
from ....ir.types import DType, Shape
from ....ops.kernels import NotComputable, evaluate, get_kernel
from ....ops.traits import BOOL_RESULT
from ....registry import Registry
from ..problems import NodeRefusal, Problem
from .onnx_types import as_computed

Handler = Callable[["OnnxContext", "OnnxNode"], Sequence[Optional[Value]]]

# Keyed by (op type, since version); the since-version lookup below reads the same entries.
HANDLERS: Registry[tuple[str, int], Handler] = Registry("ONNX handler")
_VERSIONS: dict[str, list[tuple[int, Handler]]] = {}  # op type -> (since, handler), ascending
_FAMILIES = (
    "math", "nn", "norm", "resize", "tensor", "pad", "shape", "reduce", "indexing", "activations", "control",
    "rnn", "quant", "pool_general", "conv_more", "misc",
)
_EAGER_FOLD_LIMIT = 4 * 1024 * 1024  # bytes; bigger results stay ops (fold_constants decides later)


def onnx_op(*op_types: str, since: int = 1) -> Callable[[Handler], Handler]:
    """Decorator: registers a handler for each op type, valid from opset ``since`` on."""

    def register(fn: Handler) -> Handler:
        for op_type in op_types:
            HANDLERS.add((op_type, since), fn)
            versions = _VERSIONS.setdefault(op_type, [])
            versions.append((since, fn))
            versions.sort(key=lambda item: item[0])
        return fn

    return register


def _load_families() -> None:
    for family in _FAMILIES:
        importlib.import_module(f"{__name__}.{family}")


def lookup(op_type: str, opset: int) -> Optional[Handler]:
    _load_families()
    best: Optional[Handler] = None
    for since, fn in _VERSIONS.get(op_type, []):
        if since <= opset:
            best = fn
    return best


def supported_op_types() -> list[str]:
    _load_families()
    return sorted(_VERSIONS)


@dataclass
class OnnxNode:
    """One ONNX node with protobuf-free attributes (ints, floats, bytes, lists, numpy tensors)."""

    op_type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    domain: str = ""

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    @property
    def qualified_op(self) -> str:
        return self.op_type if self.domain in ("", "ai.onnx") else f"{self.domain}.{self.op_type}"

    def describe(self) -> str:
        return f"{self.op_type} node {self.name or self.outputs[0]!r}"


class OnnxContext:
    """Builder state shared by every handler of one model."""

    def __init__(self, graph: Graph, opset: int, parent: Optional[OnnxContext] = None) -> None:
        self.graph = graph
        self.opset = opset
        self.parent = parent  # the enclosing graph's context, for If/Loop/Scan bodies
        self.path: Any = None if parent is None else parent.path  # the model file, for error messages
        self.values: dict[str, Value] = {}
        self.prefix = "onnx"
        self.node: Optional[OnnxNode] = None
        self.inferred: dict[str, tuple[Optional[int], ...]] = {}  # ONNX shape inference: name -> dims
        self.inferred_types: dict[str, int] = {}  # ONNX shape inference: name -> element type
        # Shared with nested body contexts: one report and one set of warnings per model.
        self.problems: list[Problem] = [] if parent is None else parent.problems
        self.reduced: set[str] = set() if parent is None else parent.reduced  # float16/bfloat16/float64
        self.poisoned: set[int] = set()  # ids of Values standing in for refused nodes' outputs

    def lookup_outer(self, name: str) -> Optional[Value]:
        """A value of an enclosing graph that a body reads by name (bodies override this)."""
        return None

    def out_dims(self, node: OnnxNode, index: int) -> Optional[tuple[Optional[int], ...]]:
        """The inferred dims of an output of ``node`` (None when shape inference did not know)."""
        if index >= len(node.outputs):
            return None
        return self.inferred.get(node.outputs[index])

    # ----- inputs --------------------------------------------------------------------------------
    def input(self, node: OnnxNode, index: int) -> Optional[Value]:
        if index >= len(node.inputs) or not node.inputs[index]:
            return None
        return self.values[node.inputs[index]]

    def required(self, node: OnnxNode, index: int) -> Value:
        value = self.input(node, index)
        if value is None:
            raise self.refuse(f"input {index} is missing")
        return value

    def refuse(self, why: str) -> NodeRefusal:
        if self.node is None:
            return NodeRefusal("ONNX", "?", why)
        return NodeRefusal(self.node.qualified_op, self.node.name, why)

    # ----- static facts ----------------------------------------------------------------------------
    @staticmethod
    def const_value(value: Optional[Value]) -> Optional[np.ndarray]:
        return const_of(value)

    def const_ints(self, value: Optional[Value], what: str) -> list[int]:
        data = self.const_value(value)
        if data is None:
            raise self.refuse(f"{what} must be a constant (computed at run time here)")
        return [int(v) for v in np.asarray(data).reshape(-1)]

    @staticmethod
    def dims(value: Value) -> Optional[tuple[Optional[int], ...]]:
        return None if value.shape is None else value.shape.dims

    def rank(self, value: Value) -> int:
        dims = self.dims(value)
        if dims is None:
            raise self.refuse(f"the rank of {value.name} is unknown (run ONNX shape inference first)")
        return len(dims)

    def static_dims(self, value: Value, what: str = "input") -> tuple[int, ...]:
        dims = self.dims(value)
        if dims is None or any(d is None for d in dims):
            raise self.refuse(f"the {what} shape must be static, got {Shape.of(dims)}")
        return tuple(int(d) for d in dims)  # type: ignore[arg-type]

    # ----- building ----------------------------------------------------------------------------
    def name(self, suffix: str = "") -> str:
        return f"{self.prefix}/{suffix}" if suffix else self.prefix

    def const(self, array: Any, suffix: str = "const", dtype: Optional[DType] = None) -> Value:
        data = as_computed(np.asarray(array), self.reduced) if not isinstance(array, LazyArray) else array
        if dtype in (DType.HALF, DType.DOUBLE, DType.BFLOAT16):
            dtype = DType.FLOAT
        node = self.graph.add_const(data, name=self.graph.unique_name(self.name(suffix)), dtype=dtype)
        return node.outputs[0]

    def int_const(self, values: Sequence[int], suffix: str = "ints") -> Value:
        return self.const(np.asarray(list(values), dtype=np.int32).reshape(-1), suffix)

    def op(
        self,
        op: str,
        inputs: Sequence[Value],
        attrs: Optional[dict[str, Any]] = None,
        *,
        dtype: Optional[DType] = None,
        shape: Optional[Shape] = None,
        suffix: Optional[str] = None,
        num_outputs: int = 1,
    ) -> Value:
        """Adds ``op`` (or its folded Const when every input is a Const) and returns output 0."""
        return self.op_outputs(
            op, inputs, attrs, dtype=dtype, shape=shape, suffix=suffix, num_outputs=num_outputs
        )[0]

    def op_outputs(
        self,
        op: str,
        inputs: Sequence[Value],
        attrs: Optional[dict[str, Any]] = None,
        *,
        dtype: Optional[DType] = None,
        shape: Optional[Shape] = None,
        suffix: Optional[str] = None,
        num_outputs: int = 1,
    ) -> list[Value]:
        attrs = dict(attrs or {})
        dtype = dtype if dtype is not None else (inputs[0].dtype if inputs else None)
        folded = self._fold(op, inputs, attrs, num_outputs)
        name = self.graph.unique_name(self.name(suffix or op))
        if folded is not None:
            outs = []
            for i, array in enumerate(folded):
                out_dtype = dtype if i == 0 and dtype is not None else DType.from_numpy(array.dtype)
                if out_dtype != DType.STRING and array.dtype != out_dtype.numpy:
                    array = cast(array, out_dtype.numpy)
                const_name = name if i == 0 else self.graph.unique_name(f"{name}_{i}")
                outs.append(self.graph.add_const(array, name=const_name, dtype=out_dtype).outputs[0])
            return outs
        node: Node = self.graph.add_node(op, inputs, attrs, name=name, num_outputs=num_outputs)
        for out in node.outputs:
            out.dtype = dtype
        node.outputs[0].shape = shape
        return list(node.outputs)

    @staticmethod
    def _fold(
        op: str, inputs: Sequence[Value], attrs: dict[str, Any], num_outputs: int
    ) -> Optional[list[ArrayLike]]:
        if not inputs or any(v.producer.op != "Const" for v in inputs):
            return None
        if get_kernel(op) is None:
            return None
        sources = tuple(v.producer.attrs["value"] for v in inputs)
        frozen = dict(attrs)

        def compute(*arrays: np.ndarray) -> list[np.ndarray]:
            return list(evaluate(op, arrays, frozen))

        try:
            results = compute(*(read_array(s) for s in sources))
        except NotComputable:
            return None
        if len(results) < num_outputs or sum(r.nbytes for r in results) > _EAGER_FOLD_LIMIT:
            return None
        # A large result computed from weights left in the file (a transposed Gemm weight) is
        # recomputed when written rather than held (ir.derived).
        return [derive(output_of(compute, i), sources, r) for i, r in enumerate(results[:num_outputs])]

    def transpose(self, x: Value, perm: Sequence[int], suffix: str = "transpose") -> Value:
        dims = self.dims(x)
        shape = None if dims is None else Shape(tuple(dims[p] for p in perm))
        return self.op(
            "Transpose",
            [x, self.int_const(perm, f"{suffix}/perm")],
            {"T": x.dtype},
            dtype=x.dtype,
            shape=shape,
            suffix=suffix,
        )

    def cast(self, x: Value, dtype: DType) -> Value:
        if x.dtype == dtype:
            return x
        return self.op(
            "Cast",
            [x],
            {"SrcT": x.dtype, "DstT": dtype, "Truncate": False},
            dtype=dtype,
            shape=x.shape,
            suffix="cast",
        )

    def select(self, cond: Value, x: Value, y: Value, suffix: Optional[str] = None) -> Value:
        shape = _broadcast(_broadcast(cond.shape, x.shape), y.shape)
        return self.op("SelectV2", [cond, x, y], {"T": x.dtype}, dtype=x.dtype, shape=shape, suffix=suffix)

    def shape_of(self, x: Value, dtype: DType = DType.INT32) -> Value:
        """``Shape(x)`` (a Const when the shape is static)."""
        dims = self.dims(x)
        if dims is not None and all(d is not None for d in dims):
            return self.const(np.asarray(dims, dtype=dtype.numpy).reshape(-1), "shape", dtype)
        rank = None if dims is None else len(dims)
        return self.op("Shape", [x], {"T": x.dtype, "out_type": dtype}, dtype=dtype, shape=Shape((rank,)))

    def slice_1d(self, v: Value, begin: int, end: int, shrink: bool = False) -> Value:
        """``v[begin:end]`` of a 1-D value (``v[begin]`` when ``shrink``)."""
        return self.op(
            "StridedSlice",
            [v, self.int_const([begin], "begin"), self.int_const([end], "end"), self.int_const([1], "step")],
            {"T": v.dtype, "Index": DType.INT32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0,
             "new_axis_mask": 0, "shrink_axis_mask": 1 if shrink else 0},
            dtype=v.dtype,
            shape=Shape(()) if shrink else Shape((max(end - begin, 0),)),
        )

    def reshape(self, x: Value, dims: Sequence[int], suffix: str = "reshape") -> Value:
        """``x`` reshaped to static ``dims`` (at most one -1)."""
        shape = Shape(tuple(None if d < 0 else int(d) for d in dims))
        return self.op("Reshape", [x, self.int_const(dims, f"{suffix}/shape")],
                       {"T": x.dtype, "Tshape": DType.INT32}, dtype=x.dtype, shape=shape, suffix=suffix)

    def scalar(self, value: float, like: Value, suffix: str = "scalar") -> Value:
        dtype = like.dtype if like.dtype is not None else DType.FLOAT
        return self.const(np.asarray(value, dtype=dtype.numpy), suffix)

    def binary(self, op: str, a: Value, b: Value, suffix: Optional[str] = None) -> Value:
        dtype = DType.BOOL if op in BOOL_RESULT else a.dtype
        return self.op(
            op, [a, b], {"T": a.dtype}, dtype=dtype, shape=_broadcast(a.shape, b.shape), suffix=suffix
        )

    def unary(
        self, op: str, x: Value, attrs: Optional[dict[str, Any]] = None, suffix: Optional[str] = None
    ) -> Value:
        dtype = DType.BOOL if op in BOOL_RESULT else x.dtype
        return self.op(op, [x], {"T": x.dtype, **(attrs or {})}, dtype=dtype, shape=x.shape, suffix=suffix)


def _broadcast(a: Optional[Shape], b: Optional[Shape]) -> Optional[Shape]:
    if a is None or b is None or a.dims is None or b.dims is None:
        return None
    n = max(len(a.dims), len(b.dims))
    da = (1,) * (n - len(a.dims)) + a.dims
    db = (1,) * (n - len(b.dims)) + b.dims
    out: list[Optional[int]] = []
    for x, y in zip(da, db):
        if x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif x is None or y is None:
            out.append(x if y is None else y)
        else:
            out.append(max(x, y))
    return Shape(tuple(out))


def normalize_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def wrap_negative(ctx: OnnxContext, indices: Value, size: Value, keep_int64: bool = False) -> Value:
    """``indices`` with negative entries counted from the end (``i + size``), as int32 (int64 ones stay
    int64 with ``keep_int64``: TF.js holds both as int32, a Cast between them is a wasted op)."""
    dtype = DType.INT64 if keep_int64 and indices.dtype == DType.INT64 else DType.INT32
    idx = ctx.cast(indices, dtype)
    negative = ctx.binary("Less", idx, ctx.const(np.asarray(0, dtype.numpy), "zero"))
    wrapped = ctx.binary("AddV2", idx, ctx.cast(size, dtype))
    return ctx.select(negative, wrapped, idx)


__all__ = ["Handler", "OnnxContext", "OnnxNode", "lookup", "normalize_axis", "onnx_op", "supported_op_types",
           "wrap_negative"]
