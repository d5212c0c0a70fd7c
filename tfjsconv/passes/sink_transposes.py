"""Cancels and sinks the Transpose pairs that NCHW sources (ONNX) wrap around NHWC ops.

Rules, applied to every ``Transpose(x, p)`` with a Const permutation until none fires:

* a Transpose of a Transpose composes into one; an identity permutation disappears;
* a Transpose read only by an element-wise op moves below it: ``f(T(x), c) -> T(f(x, c'))``, where each
  other operand is a scalar, a Const (re-laid out with the inverse permutation) or a Transpose with
  the same permutation (its input is used);
* likewise below reductions with Const axes (axes renumbered), Pad/PadV2/MirrorPad (paddings rows
  permuted) and ConcatV2 whose inputs are all same-permutation Transposes or Consts (axis renumbered);
* a Transpose that only moves size-1 dims and feeds a Reshape is dropped (same element order);
* a Transpose with several readers sinks a copy into each element-wise reader whose other operands
  can be re-laid out (``x * hard_sigmoid(x)``: the copies meet again at the Mul and cancel).

Moving transposes down brings inverse pairs next to each other, which the first rule removes: a
chain ``conv -> NCHW -> relu -> NHWC -> conv`` keeps no transpose in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np

from ..ir.graph import Graph, Node, Value
from ..ir.types import DType, Shape
from ..ops.traits import ELEMENTWISE, ELEMENTWISE_UNARY, PADS, REDUCTIONS
from .base import Editor, RewritePass, add_const, const_of, is_output, only_consumer, register_pass

_POINTWISE = ELEMENTWISE_UNARY | ELEMENTWISE
_MAX_STEPS = 100000


def perm_of(node: Node) -> Optional[list[int]]:
    if node.op != "Transpose" or len(node.inputs) != 2:
        return None
    perm = const_of(node.inputs[1])
    return None if perm is None else [int(p) for p in np.asarray(perm).reshape(-1)]


def _permuted(shape: Optional[Shape], perm: Sequence[int]) -> Optional[Shape]:
    if shape is None or shape.dims is None or len(shape.dims) != len(perm):
        return None
    return Shape(tuple(shape.dims[p] for p in perm))


def _inverse(perm: Sequence[int]) -> list[int]:
    return [int(i) for i in np.argsort(perm)]


class _Sinker:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def transpose(self, x: Value, perm: Sequence[int], name: str) -> Value:
        perm_value = add_const(self.graph, np.asarray(list(perm), dtype=np.int32), f"{name}/perm")
        node = self.graph.add_node(
            "Transpose",
            [x, perm_value],
            {"T": x.dtype, "Tperm": DType.INT32},
            name=self.graph.unique_name(name),
        )
        out = node.outputs[0]
        out.dtype, out.shape = x.dtype, _permuted(x.shape, perm)
        return out

    def drop_if_dead(self, node: Node) -> None:
        if (
            self.graph.get(node.name) is node
            and not any(v.uses for v in node.outputs)
            and not any(is_output(self.graph, v) for v in node.outputs)
        ):
            self.graph.remove_node(node)

    # ----- rules ---------------------------------------------------------------------------------
    def step(self, node: Node) -> bool:
        perm = perm_of(node)
        if perm is None:
            return False
        x, out = node.inputs[0], node.outputs[0]
        if perm == list(range(len(perm))):
            self.graph.replace_uses(out, x)
            self.drop_if_dead(node)
            return True
        inner = perm_of(x.producer)
        if inner is not None and len(inner) == len(perm):
            composed = [inner[p] for p in perm]
            source = x.producer.inputs[0]
            new = (
                source if composed == list(range(len(perm))) else self.transpose(source, composed, node.name)
            )
            self.graph.replace_uses(out, new)
            self.drop_if_dead(node)
            self.drop_if_dead(x.producer)
            return True
        if is_output(self.graph, out):
            return False
        consumer = only_consumer(out)
        if consumer is not None:
            return self.push(node, perm, consumer)
        # Several readers (x * hard_sigmoid(x), swish, residual branches): sink a copy into each
        # element-wise reader whose other operands can be re-laid out; the copies meet again below
        # (both operands of the final Mul then carry the same permutation) and cancel.
        readers = list({id(n): n for n, _ in out.uses}.values())
        ready = [r for r in readers if self._elementwise_ready(node, perm, r)]
        for reader in ready:
            self.push(node, perm, reader)
        return bool(ready)

    def _elementwise_ready(self, t: Node, perm: list[int], c: Node) -> bool:
        if (c.op not in _POINTWISE) or len(c.outputs) != 1 or c.control_inputs:
            return False
        for value in c.inputs:
            if value is t.outputs[0] or perm_of(value.producer) == perm:
                continue
            data = const_of(value)
            if data is None or np.ndim(data) > len(perm):
                return False
        return True

    def push(self, t: Node, perm: list[int], c: Node) -> bool:
        if len(c.outputs) != 1 or c.control_inputs:
            return False
        if c.op == "Reshape":
            return self._into_reshape(t, perm, c)
        if c.op in _POINTWISE:
            inputs = self._operands(t, perm, c.inputs)
            if inputs is None:
                return False
            return self._rebuild(t, c, inputs, dict(c.attrs), perm)
        if c.op in REDUCTIONS and c.inputs[0] is t.outputs[0]:
            return self._into_reduction(t, perm, c)
        if c.op in PADS and c.inputs[0] is t.outputs[0]:
            paddings = const_of(c.inputs[1])
            if paddings is None:
                return False
            rows = np.asarray(paddings).reshape(len(perm), 2)[_inverse(perm)]
            new_pad = add_const(self.graph, rows.astype(paddings.dtype), f"{c.name}/paddings")
            return self._rebuild(t, c, [t.inputs[0], new_pad, *c.inputs[2:]], dict(c.attrs), perm)
        if c.op == "ConcatV2":
            axis = const_of(c.inputs[-1])
            operands = self._operands(t, perm, c.inputs[:-1], scalars=False)
            if axis is None or operands is None:
                return False
            a = int(np.asarray(axis).reshape(()))
            a = a + len(perm) if a < 0 else a
            new_axis = add_const(self.graph, np.asarray(perm[a], dtype=np.int32), f"{c.name}/axis")
            return self._rebuild(t, c, [*operands, new_axis], dict(c.attrs), perm)
        return False

    def _operands(
        self, t: Node, perm: list[int], inputs: Sequence[Value], scalars: bool = True
    ) -> Optional[list[Value]]:
        """The operands in the untransposed layout, or None when one cannot be re-laid out cheaply."""
        rank = len(perm)
        inverse = _inverse(perm)
        out: list[Value] = []
        for value in inputs:
            if value is t.outputs[0]:
                out.append(t.inputs[0])
                continue
            other = perm_of(value.producer)
            if other == perm:
                out.append(value.producer.inputs[0])
                continue
            data = const_of(value)
            if data is None:
                return None
            data = np.asarray(data)
            if scalars and data.size == 1 and data.ndim <= rank:
                out.append(value)
                continue
            if data.ndim > rank:
                return None
            full = data.reshape((1,) * (rank - data.ndim) + data.shape)
            relaid = np.ascontiguousarray(np.transpose(full, inverse))
            dtype = value.dtype if value.dtype is not None else DType.from_numpy(relaid.dtype)
            out.append(add_const(self.graph, relaid, f"{value.producer.name}/relaid", dtype))
        return out

    def _rebuild(
        self,
        t: Node,
        c: Node,
        inputs: list[Value],
        attrs: dict,
        perm: list[int],
        out_perm: Optional[list[int]] = None,
    ) -> bool:
        """Replaces ``c`` by ``Transpose(c'(inputs), out_perm or perm)``."""
        graph = self.graph
        old = c.outputs[0]
        out_perm = perm if out_perm is None else out_perm
        new = graph.add_node(c.op, inputs, attrs, name=graph.unique_name(f"{c.name}/sunk"), device=c.device)
        value = new.outputs[0]
        value.dtype = old.dtype
        value.shape = _permuted(old.shape, _inverse(out_perm))
        result = (
            value
            if out_perm == list(range(len(out_perm)))
            else self.transpose(value, out_perm, c.name + "/t")
        )
        graph.replace_uses(old, result)
        graph.remove_node(c)
        self.drop_if_dead(t)
        return True

    def _into_reduction(self, t: Node, perm: list[int], c: Node) -> bool:
        axes = const_of(c.inputs[1])
        if axes is None:
            return False
        rank = len(perm)
        reduced = sorted({int(a) + rank if int(a) < 0 else int(a) for a in np.asarray(axes).reshape(-1)})
        new_axes = sorted(perm[a] for a in reduced)
        axes_value = add_const(self.graph, np.asarray(new_axes, dtype=np.int32), f"{c.name}/axes")
        if bool(c.attrs.get("keep_dims", False)):
            return self._rebuild(t, c, [t.inputs[0], axes_value], dict(c.attrs), perm)
        kept = [perm[i] for i in range(rank) if i not in reduced]
        order = sorted(kept)
        return self._rebuild(
            t, c, [t.inputs[0], axes_value], dict(c.attrs), perm, out_perm=[order.index(k) for k in kept]
        )

    def _into_reshape(self, t: Node, perm: list[int], c: Node) -> bool:
        x = t.inputs[0]
        if c.inputs[0] is not t.outputs[0] or x.shape is None or x.shape.dims is None:
            return False
        big = [i for i, d in enumerate(x.shape.dims) if d != 1]  # unknown dims count as big
        moved = [p for p in perm if p in big]
        if moved != big:
            return False
        self.graph.set_input(c, 0, x)
        self.drop_if_dead(t)
        return True


@register_pass
class SinkTransposes(RewritePass):
    name = "sink_transposes"
    ops = frozenset({"Transpose"})
    sweeps = _MAX_STEPS  # each sweep moves transposes one op down; repeat until none moves

    def rewrite(self, ed: Editor, node: Node) -> bool:
        return _Sinker(ed.graph).step(node)
