"""Composes two constant matrix products in a row: ``(x @ K1 + b1) @ K2`` becomes
``x @ (K1 @ K2) + b1 @ K2``.

Two linear layers with nothing non-linear between them (a Keras ``EinsumDense`` splitting heads
followed by one merging them, a projection into a bottleneck that is projected again) compute one
linear map.  Both products are MatMul or BatchMatMul (V2/V3) whose second operand is a rank-2 Const;
the bias between them (BiasAdd, Add or AddV2 of a per-channel Const) is optional; each intermediate
value is read only by the next node.  The composed kernel is computed in float64 and cast back.

Composed only when ``K1 @ K2`` holds no more numbers than K1 and K2 together: then the weights and
the multiply-adds per row do not grow (a deliberate low-rank factorization ``[768, 64] @ [64, 768]``
is left alone).  The new bias ``b1 @ K2`` is a BiasAdd after the product, which ``fold_affine`` merges
with a bias the second product already had and the fusion passes fuse.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir.attrs import attr_text
from ..ir.derived import derive
from ..ir.graph import Node, Value, const_shape
from ..ir.types import DType
from .base import Editor, RewritePass, add, add_const, const_of, register_pass
from .fusion_util import sole_use

_PRODUCTS = frozenset({"MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"})
_BIASES = frozenset({"BiasAdd", "Add", "AddV2"})


def _transposed_b(node: Node) -> bool:
    return bool(node.attrs.get("transpose_b") if node.op == "MatMul" else node.attrs.get("adj_y"))


def _transposed_a(node: Node) -> bool:
    return bool(node.attrs.get("transpose_a") if node.op == "MatMul" else node.attrs.get("adj_x"))


def _kernel_shape(node: Node) -> Optional[tuple[int, int]]:
    """(rows, columns) of ``node``'s Const rank-2 float kernel as it multiplies, else None."""
    if node.op not in _PRODUCTS or len(node.inputs) != 2 or _transposed_a(node):
        return None
    if const_shape(node.inputs[0]) is not None:
        return None
    shape = const_shape(node.inputs[1])
    if shape is None or len(shape) != 2:
        return None
    stored = node.inputs[1].producer.attrs["value"]
    if np.dtype(stored.dtype) != np.float32:
        return None
    rows, cols = shape
    return (cols, rows) if _transposed_b(node) else (rows, cols)


def _kernel(node: Node, array: np.ndarray) -> np.ndarray:
    return array.T if _transposed_b(node) else array


def _bias(ed: Editor, node: Node, cur: Value, channels: int) -> Optional[Value]:
    """The per-channel Const ``node`` adds to ``cur``, else None."""
    if node.op == "BiasAdd":
        if node.inputs[0] is not cur or attr_text(node.attrs.get("data_format", b"NHWC")) != "NHWC":
            return None
        other = node.inputs[1]
    else:
        if len(node.inputs) != 2 or node.inputs[0] is node.inputs[1]:
            return None
        other = node.inputs[1] if node.inputs[0] is cur else node.inputs[0]
    shape = const_shape(other)
    if shape is None or len(shape) != 1 or shape[0] not in (1, channels):
        return None  # a scalar or rank-1 channel vector broadcasts along the last axis only
    value = const_of(other)
    if value is None or value.dtype != np.float32:
        return None
    return other


def compose(ed: Editor, second: Node) -> bool:
    graph = ed.graph
    k2 = _kernel_shape(second)
    if k2 is None:
        return False
    cur = second.inputs[0]
    bias_node: Optional[Node] = None
    bias: Optional[Value] = None
    if cur.producer.op in _BIASES:
        bias_node = cur.producer
        if sole_use(graph, cur, ed.is_main) is not second:
            return False
        for candidate in bias_node.inputs[:2]:
            if candidate.producer.op in _PRODUCTS:
                cur = candidate
                break
        else:
            return False
        bias = _bias(ed, bias_node, cur, k2[0])
        if bias is None:
            return False
    first = cur.producer
    k1 = _kernel_shape(first)
    if k1 is None or k1[1] != k2[0]:
        return False
    if sole_use(graph, cur, ed.is_main) is not (bias_node or second):
        return False
    if k1[0] * k2[1] > k1[0] * k1[1] + k2[0] * k2[1]:
        return False  # the composed kernel would be bigger (a low-rank factorization)
    # The first product's result rank: MatMul keeps 2; a BatchMatMul with a rank-2 kernel keeps x's.
    # The second product must not broadcast batch dims in: with a rank-2 kernel it cannot.
    if first.op == "MatMul" and second.op != "MatMul":
        shape = second.outputs[0].shape
        if shape is None or shape.rank != 2:
            return False
    s1, s2 = first.inputs[1].producer.attrs["value"], second.inputs[1].producer.attrs["value"]
    t1, t2 = _transposed_b(first), _transposed_b(second)

    def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a64 = (a.T if t1 else a).astype(np.float64)
        return (a64 @ (b.T if t2 else b).astype(np.float64)).astype(np.float32)

    composed = derive(kernel, (s1, s2), dtype=np.dtype(np.float32), shape=(k1[0], k2[1]))
    new_kernel = add_const(graph, composed, f"{second.name}/composed_kernel", DType.FLOAT)
    attrs = dict(first.attrs)
    attrs["transpose_b" if first.op == "MatMul" else "adj_y"] = False
    inputs = [first.inputs[0], new_kernel]
    if bias is None:  # the product takes the second one's name (it may be a graph output)
        product = ed.replace_with(second, first.op, inputs, attrs, device=first.device)
    else:
        assert bias_node is not None
        name = graph.unique_name(f"{second.name}/composed")
        product = add(graph, first.op, inputs, attrs, name=name, like=second.outputs[0], device=first.device)
        b1 = np.broadcast_to(np.asarray(const_of(bias), np.float64), (k2[0],))
        b2 = _kernel(second, np.asarray(const_of(second.inputs[1]))).astype(np.float64)
        offset = add_const(graph, (b1 @ b2).astype(np.float32), f"{second.name}/composed_bias", DType.FLOAT)
        ed.replace_with(second, "BiasAdd", [product, offset], {"T": DType.FLOAT, "data_format": b"NHWC"})
        ed.replace(bias_node, [product], keep_controls=True)
    ed.replace(first, [product], keep_controls=True)
    return True


@register_pass
class ComposeContractions(RewritePass):
    name = "compose_contractions"
    ops = _PRODUCTS

    def rewrite(self, ed: Editor, node: Node) -> bool:
        return compose(ed, node)
