"""Erfc(x) -> Sub(1, Erf(x)): TF.js has Erf but no Erfc (GELU blocks use Erfc)."""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph
from ..ir.types import DType
from .base import Editor, GraphPass, PassContext, add, add_const, register_pass, take_name


@register_pass
class RewriteErfc(GraphPass):
    name = "rewrite_erfc"

    def run_body(self, graph: Graph, ctx: PassContext, *, is_main: bool) -> bool:
        changed = False
        ed = Editor(graph)
        for node in graph.find("Erfc"):
            dtype = node.attrs.get("T", DType.FLOAT)
            out = node.outputs[0]
            name = take_name(graph, node)
            one = add_const(graph, np.array(1, dtype=dtype.numpy), f"{name}/one", dtype)
            erf = add(graph, "Erf", [node.inputs[0]], {"T": dtype}, name=f"{name}/Erf", like=out)
            sub = add(graph, "Sub", [one, erf], {"T": dtype}, name=name, like=out)
            ed.replace(node, [sub], keep_controls=True)
            changed = True
        return ed.finish() or changed
