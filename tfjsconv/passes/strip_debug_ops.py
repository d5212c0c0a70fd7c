"""--strip_debug_ops: removes Assert / CheckNumerics / Print / PrintV2 (pass-through for data)."""

from __future__ import annotations

from ..ir.graph import Graph
from ..ops.registry import DEBUG_OPS
from .base import Editor, GraphPass, PassContext, register_pass
from .remove_identity import bypass


@register_pass
class StripDebugOps(GraphPass):
    name = "strip_debug_ops"

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        if not ctx.options.strip_debug_ops:
            return False
        return super().run(graph, ctx)

    def run_body(self, graph: Graph, ctx: PassContext, *, is_main: bool) -> bool:
        ed = Editor(graph)
        for node in list(graph.nodes):
            if node.op not in DEBUG_OPS:
                continue
            if node.op in ("Assert", "PrintV2"):
                # No data output: only control edges point at it.  Assert's inputs must not be
                # kept alive through those edges, so they are dropped rather than forwarded.
                if any(v.uses for v in node.outputs):
                    continue
                ed.remove(node)
            else:  # CheckNumerics / Print forward their first input
                graph.set_inputs(node, node.inputs[:1])
                bypass(ed, node)
        return ed.finish()
