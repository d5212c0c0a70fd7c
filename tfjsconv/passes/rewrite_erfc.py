"""Erfc(x) -> Sub(1, Erf(x)): TF.js has Erf but no Erfc (GELU blocks use Erfc)."""

from __future__ import annotations

import numpy as np

from ..ir.graph import Node
from ..ir.types import DType
from .base import Editor, RewritePass, add, add_const, register_pass


@register_pass
class RewriteErfc(RewritePass):
    name = "rewrite_erfc"
    ops = frozenset({"Erfc"})

    def rewrite(self, ed: Editor, node: Node) -> bool:
        graph = ed.graph
        dtype = node.attrs.get("T", DType.FLOAT)
        out = node.outputs[0]
        one = add_const(graph, np.array(1, dtype=dtype.numpy), f"{node.name}/one", dtype)
        erf = add(graph, "Erf", [node.inputs[0]], {"T": dtype}, name=f"{node.name}/Erf", like=out)
        ed.replace_with(node, "Sub", [one, erf], {"T": dtype})
        return True
