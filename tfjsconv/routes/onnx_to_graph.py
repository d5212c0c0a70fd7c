"""ONNX models -> TF.js graph model (no onnxruntime involved: the graph is lowered op by op)."""

from __future__ import annotations

from ..errors import ConverterError
from ..passes import sink_transposes  # noqa: F401  (registers the pass this route adds)
from ..passes.pipeline import DEFAULT_PASSES, optimize
from ..writers.graph_model import write_graph_model
from .base import RouteContext, register_route

# The default pipeline plus sink_transposes right after the first cleanup: NCHW ops arrive wrapped
# in Transpose pairs, and cancelling them early lets batch-norm folding and the conv fusions match.
ONNX_PASSES = DEFAULT_PASSES[:1] + ("sink_transposes",) + DEFAULT_PASSES[1:]


@register_route("onnx", "tfjs_graph_model")
def onnx_to_graph(ctx: RouteContext) -> None:
    from ..readers.onnx.model import load_onnx_graph

    graph = load_onnx_graph(ctx.input_path, ctx.warnings)
    optimize(graph, ctx.options, warnings=ctx.warnings, passes=ONNX_PASSES)
    try:
        write_graph_model(
            graph,
            ctx.output_dir,
            ctx.options,
            generated_by=graph.attrs.get("producer_name") or None,
            warnings=ctx.warnings,
        )
    except ConverterError as exc:
        if exc.path is None:
            exc.path = str(ctx.input_path)
        raise
