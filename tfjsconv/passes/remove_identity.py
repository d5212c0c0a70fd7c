"""Removes pass-through ops (Identity, IdentityN, Snapshot, StopGradient, ...) and NoOps.

A pass-through node's consumers read its input instead; its control inputs move to its consumers
so that ordering survives; nodes that depended on it by control depend on its inputs instead.
In the main graph a node producing a graph output stays: its name is the output's tensor name.
"""

from __future__ import annotations

from ..ir.graph import Node
from ..ops.traits import PASS_THROUGH
from .base import Editor, RewritePass, is_output, register_pass


def bypass(ed: Editor, node: Node) -> None:
    """Consumers read the node's inputs; its control edges are passed on; the node goes."""
    sources = [v.producer for v in node.inputs]
    for out, src in zip(node.outputs, node.inputs):
        consumers = [n for n, _ in out.uses]
        ed.graph.replace_uses(out, src)
        for consumer in consumers:  # keep the ordering the node's control inputs imposed
            for dep in node.control_inputs:
                ed.add_control(consumer, dep)
    for other in ed.control_dependents(node):
        ed.drop_control(other, node)
        for dep in sources + list(node.control_inputs):
            ed.add_control(other, dep)
    ed.remove(node)


@register_pass
class RemoveIdentity(RewritePass):
    name = "remove_identity"
    ops = PASS_THROUGH | {"NoOp"}

    def rewrite(self, ed: Editor, node: Node) -> bool:
        graph = ed.graph
        if node.op != "NoOp" and len(node.outputs) > len(node.inputs):
            return False
        if ed.is_main and any(is_output(graph, v) for v in node.outputs):
            return False
        if any(v.uses or is_output(graph, v) for v in node.outputs[len(node.inputs):]):
            return False
        if any(v.index != 0 for v in node.inputs) and ed.control_dependents(node):
            # "^node" names a node, i.e. its output 0 (TF.js reads it so): a dependency on
            # Identity(switch:1) must not become one on switch:0 (TF1 cond pivots).
            return False
        bypass(ed, node)
        return True
