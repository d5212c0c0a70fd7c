"""--strip_debug_ops: removes Assert / CheckNumerics / Print / PrintV2 (pass-through for data)."""

from __future__ import annotations

from ..ir.graph import Graph, Node
from ..ops.traits import DEBUG_OPS
from .base import Editor, PassContext, RewritePass, register_pass
from .remove_identity import bypass


@register_pass
class StripDebugOps(RewritePass):
    name = "strip_debug_ops"
    ops = DEBUG_OPS

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        if not ctx.options.strip_debug_ops:
            return False
        return super().run(graph, ctx)

    def rewrite(self, ed: Editor, node: Node) -> bool:
        if node.op in ("Assert", "PrintV2"):
            # No data output: only control edges point at it.  Assert's inputs must not be
            # kept alive through those edges, so they are dropped rather than forwarded.
            if any(v.uses for v in node.outputs):
                return False
            ed.remove(node)
        else:  # CheckNumerics / Print forward their first input
            ed.graph.set_inputs(node, node.inputs[:1])
            bypass(ed, node)
        return True
