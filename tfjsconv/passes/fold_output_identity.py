"""Main-graph outputs that are an ``Identity`` of another node: that node takes the Identity's name
and the Identity goes.

TF's SavedModel signatures end in ``Identity`` nodes whose names are the output tensor names, so
``remove_identity`` keeps them; renaming the node they copy keeps every output name (and what a
caller passes to ``model.execute``) while TF.js runs one node fewer per output.  The copied node
must be an ordinary op output 0 (``node:1`` cannot be renamed into ``identity:0``) that is not
itself a graph input or output, and not a lookup table (tables are found by node name).
"""

from __future__ import annotations

from ..ir.graph import Node
from ..ops.traits import GRAPH_INPUTS
from .base import Editor, RewritePass, is_output, register_pass, take_name

_KEEP_NAME = GRAPH_INPUTS | frozenset({"HashTableV2", "HashTable", "MutableHashTableV2", "MutableHashTable",
                                       "MutableDenseHashTableV2", "Const"})


@register_pass
class FoldOutputIdentity(RewritePass):
    name = "fold_output_identity"
    ops = frozenset({"Identity"})

    def rewrite(self, ed: Editor, node: Node) -> bool:
        graph = ed.graph
        out = node.outputs[0]
        if not ed.is_main or len(node.inputs) != 1 or not is_output(graph, out) or node.control_inputs:
            return False
        src = node.inputs[0]
        producer = src.producer
        if src.index != 0 or producer.op in _KEEP_NAME:
            return False
        if any(is_output(graph, v) for v in producer.outputs) or ed.control_dependents(node):
            return False
        name = take_name(graph, node)
        graph.replace_uses(out, src)
        ed.remove(node)
        graph.rename(producer, name)
        return True
