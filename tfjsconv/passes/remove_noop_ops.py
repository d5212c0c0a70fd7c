"""Removes ops that provably return their input: Transpose by the identity permutation, Cast to the
type it already has.  (Keras' Tensordot emits the former around every Dense on 3-D inputs.)
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Node
from .base import Editor, RewritePass, const_of, is_output, register_pass


def _is_noop(node: Node) -> bool:
    if node.op == "Transpose" and len(node.inputs) == 2:
        perm = const_of(node.inputs[1])
        return perm is not None and perm.ndim == 1 and np.array_equal(perm, np.arange(perm.shape[0]))
    if node.op == "Cast":
        src, dst = node.attrs.get("SrcT"), node.attrs.get("DstT")
        return src is not None and src == dst and not node.attrs.get("Truncate", False)
    return False


@register_pass
class RemoveNoopOps(RewritePass):
    name = "remove_noop_ops"
    ops = frozenset({"Transpose", "Cast"})

    def rewrite(self, ed: Editor, node: Node) -> bool:
        if not _is_noop(node) or node.control_inputs:
            return False
        if ed.is_main and is_output(ed.graph, node.outputs[0]):
            return False  # the output keeps its node (and name)
        ed.replace(node, [node.inputs[0]])
        return True
