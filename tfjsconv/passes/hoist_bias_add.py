"""Moves a bias add from after a Reshape to before it when the Reshape keeps the last dimension:
``BiasAdd(Reshape(MatMul(x, W), s), b)`` -> ``Reshape(BiasAdd(MatMul(x, W), b), s)``.

Exact: adding a per-channel vector commutes with any reshape that keeps the channel (last)
dimension.  Keras' Tensordot (Dense on 3-D inputs) has exactly this shape, and afterwards
MatMul + BiasAdd fuse into one _FusedMatMul.  The new Reshape takes the bias add's name.
"""

from __future__ import annotations

from typing import Optional

from ..ir.attrs import attr_text
from ..ir.graph import Graph, Node, Value
from .base import Editor, RewritePass, add, const_of, register_pass
from .fusion_util import bias_length, sole_use


def _last_target_dim(shape: Value) -> Optional[int]:
    """The last entry of a Reshape's target shape when it is a constant (also inside Pack/ConcatV2)."""
    value = const_of(shape)
    if value is not None:
        return int(value.reshape(-1)[-1]) if value.size else None
    node = shape.producer
    if node.op == "Pack" and node.inputs:
        last = const_of(node.inputs[-1])
        return int(last.reshape(-1)[-1]) if last is not None and last.size == 1 else None
    if node.op == "ConcatV2" and len(node.inputs) >= 2:
        last = const_of(node.inputs[-2])
        return int(last.reshape(-1)[-1]) if last is not None and last.size else None
    return None


def _match(graph: Graph, node: Node, is_main: bool) -> Optional[tuple[Node, Value]]:
    """(reshape, bias) when ``node`` adds a 1-D Const to a Reshape only it reads."""
    if node.op == "BiasAdd":
        if attr_text(node.attrs.get("data_format", b"NHWC")) != "NHWC":
            return None
        pairs: tuple[tuple[int, int], ...] = ((0, 1),)
    else:
        pairs = ((0, 1), (1, 0))
    for a, b in pairs:
        reshape, bias = node.inputs[a].producer, const_of(node.inputs[b])
        if reshape.op == "Reshape" and bias is not None and bias.ndim == 1 \
                and sole_use(graph, node.inputs[a], is_main) is node:
            return reshape, node.inputs[b]
    return None


def _hoist(ed: Editor, node: Node) -> bool:
    graph, is_main = ed.graph, ed.is_main
    match = _match(graph, node, is_main)
    if match is None:
        return False
    reshape, bias = match
    source = reshape.inputs[0].producer
    channels = int(const_of(bias).shape[0])  # type: ignore[union-attr]  (_match checked it)
    if source.op != "MatMul":
        return False
    if bias_length(source) != channels or _last_target_dim(reshape.inputs[1]) != channels:
        return False
    if sole_use(graph, reshape.inputs[0], is_main) is not reshape:
        return False
    attrs = {"T": node.attrs["T"]} if "T" in node.attrs else {}
    attrs["data_format"] = b"NHWC"
    hoisted = graph.unique_name(f"{node.name}/hoisted")
    biased = add(graph, "BiasAdd", [reshape.inputs[0], bias], attrs, name=hoisted, like=reshape.inputs[0])
    reshaped = ed.replace_with(node, "Reshape", [biased, reshape.inputs[1]], dict(reshape.attrs))
    ed.replace(reshape, [reshaped], keep_controls=True)
    return True


@register_pass
class HoistBiasAdd(RewritePass):
    name = "hoist_bias_add"
    ops = frozenset({"BiasAdd", "Add", "AddV2"})

    def rewrite(self, ed: Editor, node: Node) -> bool:
        return _hoist(ed, node)
