"""Folds an inference-mode batch norm into the Conv2D / DepthwiseConv2dNative feeding it.

``BN(conv(x, W) [+ b])`` with Const scale/offset/mean/variance becomes ``BiasAdd(conv(x, W'), o)``
with ``s = gamma / sqrt(var + eps)``, ``W' = W * s`` per output channel and
``o = beta + (b - mean) * s``.  The BiasAdd takes the batch norm's name; the fusion passes then
turn conv + BiasAdd into a fused op.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir.attrs import attr_text
from ..ir.derived import derive
from ..ir.graph import Graph, Node
from ..ir.types import DType
from .base import Editor, RewritePass, add, add_const, const_shape, register_pass
from .fusion_util import channel_vector, sole_use

_BN = frozenset({"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"})
_CONV = frozenset({"Conv2D", "DepthwiseConv2dNative"})


def _source(graph: Graph, bn: Node, is_main: bool) -> Optional[tuple[Node, Optional[Node], np.ndarray]]:
    """(conv, bias node or None, bias values) feeding the batch norm, each read only by the next."""
    x = bn.inputs[0]
    node = x.producer
    bias_node: Optional[Node] = None
    if node.op in ("BiasAdd", "Add", "AddV2") and sole_use(graph, x, is_main) is bn:
        bias = channel_vector(node.inputs[1])
        if bias is None or node.inputs[0].producer.op not in _CONV:
            return None
        if node.op == "BiasAdd" and attr_text(node.attrs.get("data_format", b"NHWC")) != "NHWC":
            return None
        bias_node, x, node = node, node.inputs[0], node.inputs[0].producer
    else:
        bias = None
    if node.op not in _CONV or sole_use(graph, x, is_main) is not (bias_node or bn):
        return None
    if attr_text(node.attrs.get("data_format", b"NHWC")) != "NHWC" or const_shape(node.inputs[1]) is None:
        return None
    return node, bias_node, bias


def _scaled(w: np.ndarray, factor: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``(w * factor).astype(dtype)`` computed in float64: a folded weight is computed while it is
    written, and a float64 copy of all of it would triple its memory, so numpy casts each buffer of the
    product back as it goes (the same rounding as ``astype``, no whole-size temporary)."""
    out = np.empty(w.shape, dtype)
    rows_in = w.reshape((-1, *factor.shape))
    np.multiply(rows_in, factor, out=out.reshape(rows_in.shape), dtype=np.float64, casting="unsafe")
    return out


def _fold(ed: Editor, bn: Node) -> bool:
    graph = ed.graph
    if bool(bn.attrs.get("is_training", False)) or attr_text(bn.attrs.get("data_format", b"NHWC")) != "NHWC":
        return False
    if any(v.uses for v in bn.outputs[1:]) or any(v is o for _, v in graph.outputs for o in bn.outputs[1:]):
        return False
    params = [channel_vector(v) for v in bn.inputs[1:5]]
    if any(p is None for p in params):
        return False
    found = _source(graph, bn, ed.is_main)
    if found is None:
        return False
    conv, bias_node, bias = found
    gamma, beta, mean, var = (p.astype(np.float64) for p in params)  # type: ignore[union-attr]
    eps = float(bn.attrs.get("epsilon", 1e-4))
    scale = gamma / np.sqrt(var + eps)
    kernel = conv.inputs[1].producer.attrs["value"]  # read only by derive, when it is written
    shape, w_dtype = tuple(kernel.shape), np.dtype(kernel.dtype)
    if len(shape) != 4:
        return False
    if conv.op == "Conv2D":
        if shape[3] != scale.shape[0]:
            return False
        factor = scale
    else:
        c, m = shape[2], shape[3]
        if c * m != scale.shape[0]:
            return False
        factor = scale.reshape(c, m)
    new_w = derive(lambda w: _scaled(w, factor, w_dtype), (kernel,), dtype=w_dtype, shape=shape)
    shift = -mean if bias is None else bias.astype(np.float64) - mean
    offset = beta + shift * scale
    dtype: DType = conv.attrs.get("T", DType.FLOAT)
    weights = add_const(graph, new_w, f"{conv.name}_weights", dtype)
    offsets = add_const(graph, offset.astype(w_dtype), f"{conv.name}_bn_offset", dtype)
    new_conv = add(graph, conv.op, [conv.inputs[0], weights], dict(conv.attrs),
                   name=graph.unique_name(f"{conv.name}_bn"), like=conv.outputs[0], device=conv.device)
    # The batch norm's other outputs (batch statistics) are unused: checked above.
    biased = ed.replace_with(bn, "BiasAdd", [new_conv, offsets], {"T": dtype, "data_format": b"NHWC"})
    if bias_node is not None:
        ed.replace(bias_node, [biased], keep_controls=True)
    ed.replace(conv, [new_conv], keep_controls=True)
    return True


@register_pass
class FoldBatchNorm(RewritePass):
    name = "fold_batch_norm"
    ops = _BN

    def rewrite(self, ed: Editor, node: Node) -> bool:
        if _fold(ed, node):
            return True
        ed.ctx.warn(f"batch norm {node.name} was not folded (no constant conv input); "
                    "it stays a FusedBatchNorm op")
        return False
