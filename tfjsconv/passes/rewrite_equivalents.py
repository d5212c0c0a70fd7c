"""Exact rewrites of ops TF.js lacks into ops it has (one registered rewrite per op).

* ``Softsign(x)`` -> ``x / (1 + |x|)``
* ``Inv(x)`` -> ``Reciprocal(x)``
* ``BatchMatMulV3`` with equal input and output types -> ``BatchMatMulV2``
* ``SpaceToDepth`` (NHWC, static H, W, C) -> Reshape [N, H/b, b, W/b, b, C], Transpose
  [0, 1, 3, 2, 4, 5], Reshape [N, H/b, W/b, b*b*C]: the depth index TF documents is
  ``(row_in_block * b + col_in_block) * C + c``, which is exactly that order.
* ``UnsortedSegmentSum(data, ids, n)`` (constant n, static trailing dims) -> ``Slice(ScatterNd(
  ExpandDims(SelectV2(ids >= 0, ids, n), -1), data, [n + 1, ...]), 0, [n, ...])``: ScatterNd adds
  duplicate indices like the segment sum; negative ids, which TF drops, go to the extra row n that
  the Slice cuts off (TF.js's ScatterNd would reject them).
* ``Roll`` with constant shifts and axes over static dims -> ``ConcatV2`` of two ``Slice``s per axis.
* ``MatrixDiag`` / ``MatrixDiagV2`` / ``MatrixDiagV3`` of the main diagonal (k = 0, square output) ->
  ``SelectV2(eye, ExpandDims(diagonal, -1), padding_value)`` with a constant boolean identity.
* ``TruncateMod(x, y)`` -> ``Sign(x) * FloorMod(|x|, |y|)``: on non-negative operands floor and
  truncated remainders coincide (TF.js computes them with JS ``%``, i.e. fmod, exactly), and the
  truncated remainder takes the sign of x.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir.attrs import attr_text
from ..ir.graph import Graph, Node, Value
from ..ir.types import DType
from ..registry import Registry
from .base import Editor, Rule, RuleTablePass, add, add_const, const_of, register_pass, take_name

RULES: Registry[str, Rule] = Registry("rewrite_equivalents rule")


@RULES.register("Softsign")
def _softsign(ed: Editor, node: Node) -> bool:
    graph = ed.graph
    dtype = node.attrs.get("T", DType.FLOAT)
    out, x, name = node.outputs[0], node.inputs[0], node.name
    one = add_const(graph, np.array(1, dtype=dtype.numpy), f"{name}/one", dtype)
    abs_x = add(graph, "Abs", [x], {"T": dtype}, name=f"{name}/Abs", like=out)
    denom = add(graph, "AddV2", [one, abs_x], {"T": dtype}, name=f"{name}/add", like=out)
    ed.replace_with(node, "RealDiv", [x, denom], {"T": dtype})
    return True


@RULES.register("Inv")
def _inv(ed: Editor, node: Node) -> bool:
    node.op = "Reciprocal"
    return True


@RULES.register("BatchMatMulV3")
def _batch_matmul_v3(ed: Editor, node: Node) -> bool:
    ta, tb, tout = (node.attrs.get(k) for k in ("Ta", "Tb", "Tout"))
    if not (ta == tb == tout) or ta is None:
        return False
    node.op = "BatchMatMulV2"
    node.attrs = {"T": ta, "adj_x": bool(node.attrs.get("adj_x", False)),
                  "adj_y": bool(node.attrs.get("adj_y", False))}
    return True


@RULES.register("SpaceToDepth")
def _space_to_depth(ed: Editor, node: Node) -> bool:
    graph = ed.graph
    x, name = node.inputs[0], node.name
    block = int(node.attrs.get("block_size", 0))
    fmt = node.attrs.get("data_format", b"NHWC")
    dims = x.shape.dims if x.shape is not None else None
    if block < 2 or attr_text(fmt) != "NHWC" or dims is None \
            or len(dims) != 4 or None in dims[1:]:
        return False  # left for the op check to report
    _, h, w, c = dims
    if h % block or w % block:
        return False
    dtype = node.attrs.get("T", DType.FLOAT)
    split = add_const(graph, np.array([-1, h // block, block, w // block, block, c], np.int32),
                      f"{name}/blocks", DType.INT32)
    blocks = add(graph, "Reshape", [x, split], {"T": dtype, "Tshape": DType.INT32}, name=f"{name}/split")
    perm = add_const(graph, np.array([0, 1, 3, 2, 4, 5], np.int32), f"{name}/perm", DType.INT32)
    moved = add(graph, "Transpose", [blocks, perm], {"T": dtype, "Tperm": DType.INT32}, name=f"{name}/move")
    merge = add_const(graph, np.array([-1, h // block, w // block, block * block * c], np.int32),
                      f"{name}/depth", DType.INT32)
    ed.replace_with(node, "Reshape", [moved, merge], {"T": dtype, "Tshape": DType.INT32})
    return True


@RULES.register("UnsortedSegmentSum")
def _unsorted_segment_sum(ed: Editor, node: Node) -> bool:
    graph = ed.graph
    data, ids, num = node.inputs
    count = const_of(num)
    data_dims = data.shape.dims if data.shape is not None else None
    ids_rank = ids.shape.rank if ids.shape is not None else None
    if count is None or data_dims is None or ids_rank is None or None in data_dims[ids_rank:]:
        return False  # left for the op check to report
    rest = [int(d) for d in data_dims[ids_rank:]]  # type: ignore[arg-type]
    n = int(count)
    dtype = node.attrs.get("T", DType.FLOAT)
    tindices = node.attrs.get("Tindices", DType.INT32)
    name = node.name
    zero = add_const(graph, np.array(0, tindices.numpy), f"{name}/zero", tindices)
    spare = add_const(graph, np.array(n, tindices.numpy), f"{name}/spare_row", tindices)
    valid = add(graph, "GreaterEqual", [ids, zero], {"T": tindices}, name=f"{name}/valid")
    safe = add(graph, "SelectV2", [valid, ids, spare], {"T": tindices}, name=f"{name}/ids")
    last = add_const(graph, np.array(-1, np.int32), f"{name}/last", DType.INT32)
    index = add(graph, "ExpandDims", [safe, last], {"T": tindices, "Tdim": DType.INT32}, name=f"{name}/index")
    shape = add_const(graph, np.array([n + 1] + rest, tindices.numpy), f"{name}/shape", tindices)
    summed = add(graph, "ScatterNd", [index, data, shape], {"T": dtype, "Tindices": tindices},
                 name=f"{name}/scatter")
    begin = add_const(graph, np.zeros(1 + len(rest), np.int32), f"{name}/begin", DType.INT32)
    size = add_const(graph, np.array([n] + [-1] * len(rest), np.int32), f"{name}/size", DType.INT32)
    for value, kind in ((valid, DType.BOOL), (safe, tindices), (index, tindices), (summed, dtype)):
        value.dtype = kind
    ed.replace_with(node, "Slice", [summed, begin, size], {"T": dtype, "Index": DType.INT32})
    return True


def _slice(graph: Graph, x: Value, rank: int, axis: int, start: int, length: int, dtype: DType,
           name: str) -> Value:
    begin = np.zeros(rank, np.int32)
    size = np.full(rank, -1, np.int32)
    begin[axis], size[axis] = start, length
    b = add_const(graph, begin, f"{name}/begin", DType.INT32)
    z = add_const(graph, size, f"{name}/size", DType.INT32)
    return add(graph, "Slice", [x, b, z], {"T": dtype, "Index": DType.INT32}, name=name)


@RULES.register("Roll")
def _roll(ed: Editor, node: Node) -> bool:
    graph = ed.graph
    x, out = node.inputs[0], node.outputs[0]
    shifts, axes = const_of(node.inputs[1]), const_of(node.inputs[2])
    dims = x.shape.dims if x.shape is not None else None
    if shifts is None or axes is None or dims is None:
        return False  # left for the op check to report
    rank = len(dims)
    total: dict[int, int] = {}
    for shift, axis in zip(np.atleast_1d(shifts).tolist(), np.atleast_1d(axes).tolist()):
        axis = int(axis) + rank if int(axis) < 0 else int(axis)
        if not 0 <= axis < rank or dims[axis] is None:
            return False
        total[axis] = total.get(axis, 0) + int(shift)
    dtype = node.attrs.get("T", DType.FLOAT)
    name = take_name(graph, node)
    result = x
    for axis, shift in sorted(total.items()):
        size = int(dims[axis])  # type: ignore[arg-type]
        k = shift % size if size else 0
        if k == 0:
            continue
        tail = _slice(graph, result, rank, axis, size - k, k, dtype, f"{name}/tail{axis}")
        head = _slice(graph, result, rank, axis, 0, size - k, dtype, f"{name}/head{axis}")
        where = add_const(graph, np.array(axis, np.int32), f"{name}/axis{axis}", DType.INT32)
        result = add(graph, "ConcatV2", [tail, head, where], {"T": dtype, "N": 2, "Tidx": DType.INT32},
                     name=f"{name}/concat{axis}")
    if result is x:
        result = add(graph, "Identity", [x], {"T": dtype}, name=name, like=out)
    else:
        graph.rename(result.producer, name)
        result.dtype, result.shape = out.dtype, out.shape
    ed.replace(node, [result], keep_controls=True)
    return True


@RULES.register("MatrixDiag", "MatrixDiagV2", "MatrixDiagV3")
def _matrix_diag(ed: Editor, node: Node) -> bool:
    graph = ed.graph
    diagonal, name = node.inputs[0], node.name
    dims = diagonal.shape.dims if diagonal.shape is not None else None
    if dims is None or not dims or dims[-1] is None:
        return False
    n = int(dims[-1])
    padding: Optional[Value] = None
    if node.op != "MatrixDiag":
        k, rows, cols = (const_of(v) for v in node.inputs[1:4])
        if k is None or rows is None or cols is None or np.any(np.asarray(k) != 0) \
                or int(rows) not in (-1, n) or int(cols) not in (-1, n):
            return False
        padding = node.inputs[4]
    dtype = node.attrs.get("T", DType.FLOAT)
    eye = add_const(graph, np.eye(n, dtype=bool), f"{name}/eye", DType.BOOL)
    last = add_const(graph, np.array(-1, np.int32), f"{name}/last", DType.INT32)
    column = add(graph, "ExpandDims", [diagonal, last], {"T": dtype, "Tdim": DType.INT32},
                 name=f"{name}/column")
    if padding is None:
        padding = add_const(graph, np.zeros((), dtype.numpy), f"{name}/zero", dtype)
    ed.replace_with(node, "SelectV2", [eye, column, padding], {"T": dtype})
    return True


@RULES.register("TruncateMod")
def _truncate_mod(ed: Editor, node: Node) -> bool:
    graph = ed.graph
    x, y = node.inputs
    out, name = node.outputs[0], node.name
    dtype = node.attrs.get("T", DType.FLOAT)
    sign = add(graph, "Sign", [x], {"T": dtype}, name=f"{name}/sign", like=x)
    abs_x = add(graph, "Abs", [x], {"T": dtype}, name=f"{name}/abs_x", like=x)
    abs_y = add(graph, "Abs", [y], {"T": dtype}, name=f"{name}/abs_y", like=y)
    rem = add(graph, "FloorMod", [abs_x, abs_y], {"T": dtype}, name=f"{name}/rem", like=out)
    ed.replace_with(node, "Mul", [sign, rem], {"T": dtype})
    return True


@register_pass
class RewriteEquivalents(RuleTablePass):
    name = "rewrite_equivalents"
    rules = RULES
