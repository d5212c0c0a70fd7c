"""Removes ops that provably return their input: Transpose by the identity permutation, Cast to the
type it already has.  (Keras' Tensordot emits the former around every Dense on 3-D inputs.)
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node
from .base import Editor, GraphPass, PassContext, const_of, is_output, register_pass


def _is_noop(node: Node) -> bool:
    if node.op == "Transpose" and len(node.inputs) == 2:
        perm = const_of(node.inputs[1])
        return perm is not None and perm.ndim == 1 and np.array_equal(perm, np.arange(perm.shape[0]))
    if node.op == "Cast":
        src, dst = node.attrs.get("SrcT"), node.attrs.get("DstT")
        return src is not None and src == dst and not node.attrs.get("Truncate", False)
    return False


@register_pass
class RemoveNoopOps(GraphPass):
    name = "remove_noop_ops"

    def run_body(self, graph: Graph, ctx: PassContext, *, is_main: bool) -> bool:
        changed = False
        ed = Editor(graph)
        for node in list(graph.nodes):
            if not _is_noop(node) or node.control_inputs:
                continue
            if is_main and is_output(graph, node.outputs[0]):
                continue  # the output keeps its node (and name)
            ed.replace(node, [node.inputs[0]])
            changed = True
        return ed.finish() or changed
