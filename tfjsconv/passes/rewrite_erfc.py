"""Erfc(x) -> Sub(1, Erf(x)): TF.js has Erf but no Erfc (GELU blocks use Erfc)."""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph
from ..ir.types import DType
from .base import GraphPass, PassContext, add, add_const, register_pass, replace_node_output, take_name


@register_pass
class RewriteErfc(GraphPass):
    name = "rewrite_erfc"

    def run_body(self, graph: Graph, ctx: PassContext, *, is_main: bool) -> bool:
        changed = False
        for node in graph.find("Erfc"):
            dtype = node.attrs.get("T", DType.FLOAT)
            out = node.outputs[0]
            name = take_name(graph, node)
            one = add_const(graph, np.array(1, dtype=dtype.numpy), f"{name}/one", dtype)
            erf = add(graph, "Erf", [node.inputs[0]], {"T": dtype}, name=f"{name}/Erf", like=out)
            sub = add(graph, "Sub", [one, erf], {"T": dtype}, name=name, like=out)
            replace_node_output(graph, node, [sub])
            changed = True
        return changed
