"""Removes pass-through ops (Identity, IdentityN, Snapshot, StopGradient, ...) and NoOps.

A pass-through node's consumers read its input instead; its control inputs move to its consumers
so that ordering survives; nodes that depended on it by control depend on its inputs instead.
In the main graph a node producing a graph output stays: its name is the output's tensor name.
"""

from __future__ import annotations

from ..ir.graph import Graph, Node
from .base import GraphPass, PassContext, is_output, register_pass

PASS_THROUGH = frozenset({"Identity", "IdentityN", "Snapshot", "StopGradient", "PreventGradient"})


def _bypass(graph: Graph, node: Node) -> None:
    sources = [v.producer for v in node.inputs]
    for out, src in zip(node.outputs, node.inputs):
        consumers = [n for n, _ in out.uses]
        graph.replace_uses(out, src)
        for consumer in consumers:  # keep the ordering the node's control inputs imposed
            for dep in node.control_inputs:
                if dep not in consumer.control_inputs and dep is not consumer:
                    consumer.control_inputs.append(dep)
    for other in graph.nodes:
        if node in other.control_inputs:
            kept = [c for c in other.control_inputs if c is not node]
            for dep in sources + list(node.control_inputs):
                if dep not in kept and dep is not other:
                    kept.append(dep)
            other.control_inputs = kept
    graph.remove_node(node)


def _has_control_dependents(graph: Graph, node: Node) -> bool:
    return any(node in other.control_inputs for other in graph.nodes)


@register_pass
class RemoveIdentity(GraphPass):
    name = "remove_identity"

    def run_body(self, graph: Graph, ctx: PassContext, *, is_main: bool) -> bool:
        changed = False
        for node in list(graph.nodes):
            if node.op == "NoOp" or node.op in PASS_THROUGH:
                if node.op != "NoOp" and len(node.outputs) > len(node.inputs):
                    continue
                if is_main and any(is_output(graph, v) for v in node.outputs):
                    continue
                if any(v.uses or is_output(graph, v) for v in node.outputs[len(node.inputs):]):
                    continue
                if any(v.index != 0 for v in node.inputs) and _has_control_dependents(graph, node):
                    # "^node" names a node, i.e. its output 0 (TF.js reads it so): a dependency on
                    # Identity(switch:1) must not become one on switch:0 (TF1 cond pivots).
                    continue
                _bypass(graph, node)
                changed = True
        return changed
