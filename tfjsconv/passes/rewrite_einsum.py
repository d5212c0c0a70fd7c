"""Einsum -> MatMul / BatchMatMulV2 + Transpose + Reshape (+ Sum), for every equation without a
repeated label (an ellipsis needs the operands' ranks: it becomes one label per dim).

TF.js runs ``Einsum`` on cpu and webgl only (the wasm backend has no kernel at all) and its kernel is
a broadcast-multiply-and-sum, so the rewrite is done always.  Any such equation is a batched matrix
product once labels are grouped::

    batch      in both operands and the output       -> leading batch dims of BatchMatMulV2
    a_free     in the first operand and the output   -> rows      (merged into one dim)
    contracted in both operands, not in the output   -> inner dim (merged into one dim)
    b_free     in the second operand and the output  -> columns   (merged into one dim)

and a label that only one operand has and the output lacks is summed out of that operand first.
Each operand is transposed into its group order and reshaped when a group has several labels (or
none: a size-1 dim is inserted); ``adj_x`` / ``adj_y`` and the order inside each group are chosen
to need as few Transpose/Reshape nodes as possible.  When there are no batch labels, the first
operand's leading free labels may stay separate dims that a rank-2 second operand broadcasts over
(``x[B,T,D] @ W[D,N*H]``, Keras' EinsumDense).  The product is reshaped back to one dim per label
and transposed into the output order.  Reshape targets with more than one unknown size are computed
at run time from the operands' Shape.  Rank-2 products use MatMul, so a bias can fuse into it.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..ir.attrs import attr_text
from ..ir.graph import Graph, Node, Value
from ..ir.types import DType, Shape
from .base import Editor, RewritePass, add, add_const, register_pass, take_name

Sizes = dict[str, Optional[int]]


def _expand_ellipsis(inputs: list[str], out: Optional[str], ranks: Sequence[Optional[int]]
                     ) -> Optional[tuple[list[str], Optional[str]]]:
    """Each "..." replaced by letters the equation does not use, one per dim it stands for (numpy's
    right-aligned broadcasting: a shorter "..." takes the rightmost letters); None when a rank is
    unknown."""
    used = set("".join(inputs) + (out or ""))
    spare = [c for c in string.ascii_letters if c not in used]
    counts = []
    for labels, rank in zip(inputs, ranks):
        if "..." not in labels:
            counts.append(0)
            continue
        if rank is None:
            return None
        counts.append(rank - (len(labels) - 3))
    width = max(counts, default=0)
    if min(counts, default=0) < 0 or width > len(spare):
        return None
    letters = "".join(spare[:width])
    expanded = [labels.replace("...", letters[width - n:]) for labels, n in zip(inputs, counts)]
    return expanded, None if out is None else out.replace("...", letters)


def parse_equation(equation: str, operands: int, ranks: Optional[Sequence[Optional[int]]] = None
                   ) -> Optional[tuple[list[str], str]]:
    """(operand label strings, output labels), or None (repeated label, bad syntax, or an ellipsis
    without the operands' ranks)."""
    text = equation.replace(" ", "")
    lhs, arrow, out_text = text.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != operands:
        return None
    out: Optional[str] = out_text if arrow else None
    if "." in text:
        if text.count(".") != 3 * text.count("...") or ranks is None:
            return None
        expanded = _expand_ellipsis(inputs, out, ranks)
        if expanded is None:
            return None
        ellipsis = set("".join(expanded[0])) - set(lhs)
        inputs, out = expanded
    else:
        ellipsis = set()
    if out is None:  # implicit output: the "..." dims, then the labels seen once, alphabetically
        joined = "".join(inputs)
        counts = {c: joined.count(c) for c in joined}
        out = "".join(sorted(ellipsis)) + "".join(sorted(c for c, n in counts.items()
                                                         if n == 1 and c not in ellipsis))
    for labels in (*inputs, out):
        if len(set(labels)) != len(labels) or any(not c.isalpha() for c in labels):
            return None
    if set(out) - set("".join(inputs)):
        return None
    return inputs, out


@dataclass(frozen=True)
class Operand:
    """How one operand enters the product: label order after the transpose, then its dims as
    groups of labels (one group per dim; "" is an inserted size-1 dim)."""

    order: str
    groups: tuple[str, ...]

    def needs_reshape(self) -> bool:
        return any(len(g) != 1 for g in self.groups)


@dataclass(frozen=True)
class Plan:
    lhs: Operand
    rhs: Operand
    adj_x: bool
    adj_y: bool
    product: tuple[str, ...]  # label groups of the product's dims

    def cost(self, a: str, b: str, out: str, sizes: Sizes) -> int:
        """Nodes added (a run-time reshape target counts 3 more)."""
        cost = int(self.lhs.order != a) + int(self.rhs.order != b)
        for groups in (self.lhs.groups, self.rhs.groups):
            if any(len(g) != 1 for g in groups):
                cost += 1 + 3 * int(_unknown(groups, sizes) > 1)
        natural = "".join(self.product)
        if any(len(g) != 1 for g in self.product):
            cost += 1 + 3 * int(_unknown(tuple(natural), sizes) > 1)
        return cost + int(natural != out)


def _product(labels: str, sizes: Sizes) -> int:
    return int(np.prod([sizes[c] for c in labels], dtype=np.int64))


def _unknown(groups: tuple[str, ...], sizes: Sizes) -> int:
    return sum(1 for g in groups if any(sizes.get(c) is None for c in g))


def plans(a: str, b: str, out: str) -> list[Plan]:
    """Every grouping of a two-operand contraction (no label summed inside one operand)."""
    batch_set = set(a) & set(b) & set(out)
    contracted_set = (set(a) & set(b)) - set(out)
    a_free_set, b_free_set = set(a) - set(b), set(b) - set(a)

    def orders(labels: set[str], *sources: str) -> set[str]:
        return {"".join(c for c in src if c in labels) for src in sources}

    found = []
    for batch, k, af, bf in itertools.product(orders(batch_set, a, b, out), orders(contracted_set, a, b),
                                              orders(a_free_set, a, out), orders(b_free_set, b, out)):
        lead_options = [("", af)]
        if not batch and len(af) > 1 and len(b) == len(k) + len(bf):
            lead_options.append((af[:-1], af[-1]))  # leading rows broadcast over a rank-2 rhs
        for lead, rows in lead_options:
            for adj_x, adj_y in itertools.product((False, True), repeat=2):
                inner_a = (k, rows) if adj_x else (rows, k)
                inner_b = (bf, k) if adj_y else (k, bf)
                lhs = Operand(batch + lead + "".join(inner_a), tuple(batch) + tuple(lead) + inner_a)
                rhs = Operand(batch + "".join(inner_b), tuple(batch) + inner_b)
                found.append(Plan(lhs, rhs, adj_x, adj_y, tuple(batch) + tuple(lead) + (rows, bf)))
    return found


class _Builder:
    """Adds the nodes of one rewrite, named under the Einsum's name."""

    def __init__(self, graph: Graph, name: str, dtype: DType, sources: list[tuple[Value, str]],
                 sizes: Sizes) -> None:
        self.graph, self.name, self.dtype = graph, name, dtype
        self.sources, self.sizes = sources, sizes
        self._shapes: dict[int, Value] = {}
        self.created: set[int] = set()  # ids of the nodes this rewrite added

    def const(self, array: np.ndarray, suffix: str) -> Value:
        return add_const(self.graph, array, f"{self.name}/{suffix}", DType.from_numpy(array.dtype))

    def node(self, op: str, inputs: list[Value], attrs: dict, suffix: str) -> Value:
        value = add(self.graph, op, inputs, attrs, name=self.graph.unique_name(f"{self.name}/{suffix}"))
        self.created.add(id(value.producer))
        return value

    def transpose(self, value: Value, src: str, dst: str) -> Value:
        if src == dst:
            return value
        perm = self.const(np.array([src.index(c) for c in dst], np.int32), "perm")
        return self.node("Transpose", [value, perm], {"T": self.dtype, "Tperm": DType.INT32}, "transpose")

    def sum_out(self, value: Value, labels: str, keep: str) -> tuple[Value, str]:
        axes = [i for i, c in enumerate(labels) if c not in keep]
        if not axes:
            return value, labels
        idx = self.const(np.array(axes, np.int32), "sum_axes")
        summed = self.node("Sum", [value, idx], {"T": self.dtype, "Tidx": DType.INT32, "keep_dims": False},
                           "sum")
        return summed, "".join(c for c in labels if c in keep)

    def _dim_source(self, label: str) -> tuple[Value, int]:
        for value, labels in self.sources:
            if label in labels:
                return value, labels.index(label)
        raise AssertionError(label)

    def _shape_of(self, value: Value) -> Value:
        if id(value) not in self._shapes:
            self._shapes[id(value)] = self.node("Shape", [value], {"T": self.dtype, "out_type": DType.INT32},
                                                "shape_of")
        return self._shapes[id(value)]

    def target(self, groups: tuple[str, ...]) -> Value:
        """The Reshape target: one dim per group (the product of its labels' sizes)."""
        sizes = self.sizes
        if _unknown(groups, sizes) <= 1:
            dims = [-1 if any(sizes[c] is None for c in g) else _product(g, sizes) for g in groups]
            return self.const(np.array(dims, np.int32), "shape")
        pieces = []  # more than one unknown size: computed from the operands' shapes at run time
        for group in groups:
            if all(sizes[c] is not None for c in group):
                pieces.append(self.const(np.array([_product(group, sizes)], np.int32), "dim"))
                continue
            dims = []
            for c in group:
                value, axis = self._dim_source(c)
                index = self.const(np.array([axis], np.int32), "axis")
                zero = self.const(np.array(0, np.int32), "zero")
                dims.append(self.node("GatherV2", [self._shape_of(value), index, zero],
                                      {"Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32,
                                       "batch_dims": 0}, "dim"))
            piece = dims[0]
            for other in dims[1:]:
                piece = self.node("Mul", [piece, other], {"T": DType.INT32}, "dim_product")
            pieces.append(piece)
        axis = self.const(np.array(0, np.int32), "concat_axis")
        attrs = {"T": DType.INT32, "N": len(pieces), "Tidx": DType.INT32}
        return self.node("ConcatV2", [*pieces, axis], attrs, "target")

    def reshape(self, value: Value, groups: tuple[str, ...]) -> Value:
        return self.node("Reshape", [value, self.target(groups)], {"T": self.dtype, "Tshape": DType.INT32},
                         "reshape")


def _sizes(node: Node, operands: list[str], broadcast: set[str]) -> Optional[Sizes]:
    """Each label's size (None: unknown).  ``broadcast`` labels (from "...", where TF broadcasts a
    size 1 against a larger one) must have the same known size in every operand."""
    sizes: Sizes = {}
    seen: dict[str, list[Optional[int]]] = {}
    for value, labels in zip(node.inputs, operands):
        dims = value.shape.dims if value.shape is not None else None
        if dims is not None and len(dims) != len(labels):
            return None
        for i, c in enumerate(labels):
            d = None if dims is None else dims[i]
            seen.setdefault(c, []).append(d)
            known = sizes.get(c)
            if d is not None and known is not None and d != known:
                return None  # a size-1 label broadcast against a larger one: no exact grouping
            sizes[c] = d if d is not None else known
    if any(len(set(seen[c])) > 1 or None in seen[c] for c in broadcast if len(seen.get(c, [])) > 1):
        return None
    return sizes


def _finish(ed: Editor, node: Node, b: _Builder, value: Value, labels: str, out: str) -> None:
    """Transposes ``value`` (one dim per label) into ``out`` order and replaces the Einsum."""
    graph = ed.graph
    if labels != out:
        perm = b.const(np.array([labels.index(c) for c in out], np.int32), "perm")
        result = ed.replace_with(node, "Transpose", [value, perm], {"T": b.dtype, "Tperm": DType.INT32})
    elif id(value.producer) not in b.created:  # "ij->ij": nothing was built
        result = ed.replace_with(node, "Identity", [value], {"T": b.dtype})
    else:  # the last node built takes the Einsum's name
        name = take_name(graph, node)
        ed.replace(node, [value], keep_controls=True)
        graph.rename(value.producer, name)
        result = value
    result.dtype = b.dtype
    result.shape = Shape.of(tuple(b.sizes[c] for c in out))


def rewrite_einsum(ed: Editor, node: Node) -> bool:
    ranks = [None if v.shape is None else v.shape.rank for v in node.inputs]
    parsed = parse_equation(attr_text(node.attrs.get("equation", b"")), len(node.inputs), ranks)
    if parsed is None or len(node.inputs) not in (1, 2):
        return False
    operands, out = parsed
    written = set(attr_text(node.attrs.get("equation", b"")))
    sizes = _sizes(node, operands, set("".join(operands)) - written)
    if sizes is None:
        return False
    dtype = node.attrs.get("T", DType.FLOAT)
    values = list(node.inputs)
    b = _Builder(ed.graph, node.name, dtype, list(zip(values, operands)), sizes)
    if len(operands) == 1:
        value, labels = b.sum_out(values[0], operands[0], out)
        _finish(ed, node, b, value, labels, out)
        return True
    (a, bl) = operands
    lhs, a = b.sum_out(values[0], a, set(bl) | set(out))
    rhs, bl = b.sum_out(values[1], bl, set(a) | set(out))
    plan = min(plans(a, bl, out), key=lambda p: p.cost(a, bl, out, sizes))
    operand_values = []
    for value, labels, spec in ((lhs, a, plan.lhs), (rhs, bl, plan.rhs)):
        value = b.transpose(value, labels, spec.order)
        if spec.needs_reshape():
            value = b.reshape(value, spec.groups)
        operand_values.append(value)
    if len(plan.lhs.groups) == 2 and len(plan.rhs.groups) == 2:
        product = b.node("MatMul", operand_values, {"T": dtype, "transpose_a": plan.adj_x,
                                                    "transpose_b": plan.adj_y}, "matmul")
    else:
        product = b.node("BatchMatMulV2", operand_values, {"T": dtype, "adj_x": plan.adj_x,
                                                           "adj_y": plan.adj_y}, "matmul")
    natural = "".join(plan.product)
    if any(len(g) != 1 for g in plan.product):
        product = b.reshape(product, tuple(natural))
    _finish(ed, node, b, product, natural, out)
    return True


@register_pass
class RewriteEinsum(RewritePass):
    name = "rewrite_einsum"
    ops = frozenset({"Einsum"})

    def rewrite(self, ed: Editor, node: Node) -> bool:
        return rewrite_einsum(ed, node)
