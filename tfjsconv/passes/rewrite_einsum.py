"""Einsum -> Transpose / Reshape / BatchMatMulV2 when the equation is a plain contraction.

TF.js runs ``Einsum`` on the cpu and webgl backends only (the wasm backend has no kernel), and its
einsum is a broadcast-multiply-and-sum.  A two-operand equation whose labels each appear once per
operand, and that sums only labels shared by both operands, is exactly a batched matrix product::

    A[batch, a_free, contracted] @ B[batch, contracted, b_free] -> out[batch, a_free, b_free]

so it is rewritten as: transpose each operand into that label order, reshape to rank 3
``[prod(batch), prod(free), prod(contracted)]``, ``BatchMatMulV2``, reshape back to the labels'
sizes and transpose into the output order.  A one-operand pure permutation becomes a Transpose.
Everything else (ellipsis, repeated labels, labels summed inside one operand, more than one
unknown dimension) stays an Einsum.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir.attrs import attr_text
from ..ir.graph import Graph, Node, Value
from ..ir.types import DType, Shape
from .base import Editor, RewritePass, add, add_const, register_pass


def parse_equation(equation: str) -> Optional[tuple[list[str], str]]:
    """(operand label strings, output labels) of an explicit equation, or None if unsupported."""
    if "->" not in equation or "." in equation:
        return None
    lhs, out = equation.replace(" ", "").split("->")
    operands = lhs.split(",")
    for labels in (*operands, out):
        if len(set(labels)) != len(labels) or not labels.isalpha() and labels:
            return None
    return operands, out


def _dims(value: Value, rank: int) -> Optional[list[Optional[int]]]:
    shape = value.shape
    if shape is None or shape.dims is None or len(shape.dims) != rank:
        return None
    return list(shape.dims)


def contraction_plan(a: str, b: str, out: str) -> Optional[tuple[str, str, str, str]]:
    """(batch, a_free, contracted, b_free) labels, or None when this is not a plain contraction."""
    if set(out) - set(a) - set(b):
        return None
    if (set(a) - set(b) - set(out)) or (set(b) - set(a) - set(out)):
        return None  # a label summed inside one operand
    batch = "".join(c for c in out if c in a and c in b)
    a_free = "".join(c for c in out if c in a and c not in b)
    b_free = "".join(c for c in out if c in b and c not in a)
    contracted = "".join(c for c in a if c in b and c not in out)
    return batch, a_free, contracted, b_free


def _size(labels: str, sizes: dict[str, Optional[int]]) -> int:
    """Product of the label sizes; -1 when one is unknown (the caller allows at most one)."""
    total = 1
    for c in labels:
        size = sizes[c]
        if size is None:
            return -1
        total *= size
    return total


class _Builder:
    def __init__(self, graph: Graph, name: str, dtype: DType) -> None:
        self.graph, self.name, self.dtype = graph, name, dtype

    def transpose(self, value: Value, src: str, dst: str) -> Value:
        if src == dst:
            return value
        perm = add_const(self.graph, np.array([src.index(c) for c in dst], np.int32), f"{self.name}/perm",
                         DType.INT32)
        return add(self.graph, "Transpose", [value, perm], {"T": self.dtype, "Tperm": DType.INT32},
                   name=f"{self.name}/transpose")

    def shape(self, dims: list[int]) -> Value:
        return add_const(self.graph, np.array(dims, np.int32), f"{self.name}/shape", DType.INT32)

    def reshape(self, value: Value, dims: list[int]) -> Value:
        return add(self.graph, "Reshape", [value, self.shape(dims)], {"T": self.dtype, "Tshape": DType.INT32},
                   name=f"{self.name}/reshape")


def _typed(value: Value, dtype: DType, dims: list[Optional[int]]) -> Value:
    value.dtype = dtype
    value.shape = Shape.of(tuple(dims))
    return value


def rewrite_einsum(ed: Editor, node: Node) -> bool:
    graph = ed.graph
    equation = node.attrs.get("equation", b"")
    parsed = parse_equation(attr_text(equation))
    if parsed is None or len(parsed[0]) != len(node.inputs) or len(node.inputs) not in (1, 2):
        return False
    operands, out = parsed
    dtype = node.attrs.get("T", DType.FLOAT)
    if len(operands) == 1:
        if sorted(operands[0]) != sorted(out):
            return False
        perm = add_const(graph, np.array([operands[0].index(c) for c in out], np.int32),
                         f"{node.name}/perm", DType.INT32)
        ed.replace_with(node, "Transpose", [node.inputs[0], perm], {"T": dtype, "Tperm": DType.INT32})
        return True
    a_labels, b_labels = operands
    plan = contraction_plan(a_labels, b_labels, out)
    a_dims, b_dims = _dims(node.inputs[0], len(a_labels)), _dims(node.inputs[1], len(b_labels))
    if plan is None or a_dims is None or b_dims is None:
        return False
    sizes: dict[str, Optional[int]] = {}
    for labels, dims in ((a_labels, a_dims), (b_labels, b_dims)):
        for c, d in zip(labels, dims):
            known = sizes.get(c)
            if d is not None and known is not None and d != known:
                return False  # broadcasting a size-1 label: leave it to Einsum
            sizes[c] = d if d is not None else known
    if sum(1 for s in sizes.values() if s is None) > 1:
        return False  # several unknown sizes cannot all be -1 in one reshape
    batch, a_free, contracted, b_free = plan
    builder = _Builder(graph, node.name, dtype)
    lhs = builder.transpose(node.inputs[0], a_labels, batch + a_free + contracted)
    rhs = builder.transpose(node.inputs[1], b_labels, batch + contracted + b_free)
    lhs = builder.reshape(lhs, [_size(batch, sizes), _size(a_free, sizes), _size(contracted, sizes)])
    rhs = builder.reshape(rhs, [_size(batch, sizes), _size(contracted, sizes), _size(b_free, sizes)])
    product = add(graph, "BatchMatMulV2", [lhs, rhs], {"T": dtype, "adj_x": False, "adj_y": False},
                  name=f"{builder.name}/matmul")
    natural = batch + a_free + b_free
    unflat = [-1 if sizes[c] is None else int(sizes[c]) for c in natural]  # type: ignore[arg-type]
    if natural == out:
        shape = builder.shape(unflat)
        result = ed.replace_with(node, "Reshape", [product, shape], {"T": dtype, "Tshape": DType.INT32})
    else:
        shaped = builder.reshape(product, unflat)
        perm = add_const(graph, np.array([natural.index(c) for c in out], np.int32), f"{builder.name}/perm",
                         DType.INT32)
        result = ed.replace_with(node, "Transpose", [shaped, perm], {"T": dtype, "Tperm": DType.INT32})
    _typed(result, dtype, [sizes[c] for c in out])
    return True


@register_pass
class RewriteEinsum(RewritePass):
    name = "rewrite_einsum"
    ops = frozenset({"Einsum"})

    def rewrite(self, ed: Editor, node: Node) -> bool:
        return rewrite_einsum(ed, node)
