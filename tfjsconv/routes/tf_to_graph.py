"""TensorFlow graphs (SavedModel, frozen GraphDef, TF Hub) -> TF.js graph model."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..errors import ConverterError
from ..ir.graph import Graph
from ..passes.pipeline import optimize
from ..writers.graph_model import write_graph_model
from .base import RouteContext, register_route

_GENERATED_BY = "TensorFlow SavedModel (read by tfjsconv without TensorFlow)"


def _write(ctx: RouteContext, graph: Graph, initializer: Optional[Graph], generated_by: str) -> None:
    # The initializer is already minimal (table nodes, constant keys/values and the fill ops, which
    # have no outputs and would look dead to the optimizer): it is written as it is.
    optimize(graph, ctx.options, warnings=ctx.warnings)
    try:
        write_graph_model(graph, ctx.output_dir, ctx.options, generated_by=generated_by,
                          initializer=initializer, warnings=ctx.warnings)
    except ConverterError as exc:
        if exc.path is None:  # e.g. an int64 constant out of int32 range: name the input
            exc.path = ctx.source or str(ctx.input_path)
        raise


def convert_saved_model(ctx: RouteContext, directory: Path, default_signature: str,
                        tags: Optional[set[str]] = None) -> None:
    from ..readers.tf_saved_model import load_saved_model

    options = ctx.options
    signature = options.signature_name or default_signature
    loaded = load_saved_model(directory, set(options.tags) if tags is None else tags, signature)
    for message in loaded.warnings:
        ctx.warn(message)
    _write(ctx, loaded.graph, loaded.initializer, _GENERATED_BY)


@register_route("tf_saved_model", "tfjs_graph_model")
def tf_saved_model_to_graph(ctx: RouteContext) -> None:
    convert_saved_model(ctx, ctx.input_path, "serving_default")


@register_route("tf_frozen_model", "tfjs_graph_model")
def tf_frozen_to_graph(ctx: RouteContext) -> None:
    from ..readers.tf_graphdef import load_frozen_graph

    names = [n.strip() for n in (ctx.options.output_node_names or "").split(",") if n.strip()]
    graph = load_frozen_graph(ctx.input_path, names)
    _write(ctx, graph, None, "TensorFlow frozen GraphDef (read by tfjsconv without TensorFlow)")


@register_route("tf_hub", "tfjs_graph_model")
def tf_hub_to_graph(ctx: RouteContext) -> None:
    from ..readers.tf_hub import hub_tags, resolve_hub_module
    from ..readers.tf_saved_model import read_saved_model

    with resolve_hub_module(ctx.source or str(ctx.input_path)) as module:
        available = [set(m.meta_info_def.tags) for m in read_saved_model(module.path).meta_graphs]
        tags = hub_tags(module, set(ctx.options.tags), available)
        convert_saved_model(ctx, module.path, "default", tags)
