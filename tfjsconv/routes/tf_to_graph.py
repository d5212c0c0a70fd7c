"""TensorFlow graphs (SavedModel, frozen GraphDef, TF Hub) -> TF.js graph model."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from ..detect import is_url
from ..errors import ConverterError
from ..ir.graph import Graph
from ..passes.pipeline import optimize
from ..writers.graph_model import write_graph_model
from .base import RouteContext, register_route


@contextmanager
def _naming(path: Path) -> Iterator[None]:
    """Errors found deep inside a graph (a missing function, a call cycle) name the model file."""
    try:
        yield
    except ConverterError as exc:
        if exc.path is None:
            exc.path = str(path)
        raise


@contextmanager
def _hub_naming(handle: str, module_dir: Path) -> Iterator[None]:
    """A downloaded module lives in a temporary directory that is gone when the user reads the error:
    name the handle (and the file inside the module) instead."""
    try:
        yield
    except ConverterError as exc:
        if exc.path is not None and is_url(handle):
            try:
                inner = Path(exc.path).relative_to(module_dir)
            except ValueError:
                pass
            else:
                exc.path = f"{handle} ({inner.as_posix()})" if str(inner) != "." else handle
        raise


def _write(ctx: RouteContext, graph: Graph, initializer: Optional[Graph],
           generated_by: Optional[str]) -> None:
    # The initializer is already minimal (table nodes, constant keys/values and the fill ops, which
    # have no outputs and would look dead to the optimizer): it is written as it is.
    with _naming(Path(ctx.source or str(ctx.input_path))):
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
    from ..readers.tf.saved_model import load_saved_model
    from ..readers.tf.tables import capture_tables

    options = ctx.options
    signature = options.signature_name or default_signature
    with _naming(directory):
        loaded = load_saved_model(directory, set(options.tags) if tags is None else tags, signature)
    for message in loaded.warnings:
        ctx.warn(message)
    if loaded.is_tf2 and loaded.initializer is not None:
        # TF2 as the official converter writes it: tables reach the main graph as DT_RESOURCE inputs
        # linked by resourceId to initializerSignature outputs.  TF1 models (and TF1 Hub modules)
        # keep sharing the table by node name, with no initializerSignature, as it does for them.
        capture_tables(loaded.graph, loaded.initializer)
    # As the official converter: the TensorFlow version that wrote the SavedModel.
    _write(ctx, loaded.graph, loaded.initializer, loaded.tensorflow_version or None)


@register_route("tf_saved_model", "tfjs_graph_model")
def tf_saved_model_to_graph(ctx: RouteContext) -> None:
    convert_saved_model(ctx, ctx.input_path, "serving_default")


@register_route("tf_frozen_model", "tfjs_graph_model")
def tf_frozen_to_graph(ctx: RouteContext) -> None:
    from ..readers.tf.graphdef import load_frozen_graph

    names = [n.strip() for n in (ctx.options.output_node_names or "").split(",") if n.strip()]
    with _naming(ctx.input_path):
        graph = load_frozen_graph(ctx.input_path, names)
    # The official converter writes its own tf.__version__ here; a GraphDef does not record which
    # TensorFlow wrote it, and no TensorFlow runs here, so the field stays null.
    _write(ctx, graph, None, None)


@register_route("tf_hub", "tfjs_graph_model")
def tf_hub_to_graph(ctx: RouteContext) -> None:
    from ..readers.tf.hub import hub_tags, resolve_hub_module
    from ..readers.tf.saved_model import read_saved_model, select_meta_graph, user_signatures

    handle = ctx.source or str(ctx.input_path)
    with resolve_hub_module(handle) as module, _hub_naming(handle, module.path):
        model = read_saved_model(module.path)
        tags = hub_tags(module, set(ctx.options.tags), [set(m.meta_info_def.tags) for m in model.meta_graphs])
        signature = "default"
        signatures = user_signatures(select_meta_graph(model, tags, module.path))
        if ctx.options.signature_name is None and "default" not in signatures \
                and "serving_default" in signatures:
            # TF2 models published on hubs are often plain SavedModels without a `default` signature.
            signature = "serving_default"
            ctx.warn(f"{ctx.source or ctx.input_path}: no `default` signature; converting `serving_default`")
        convert_saved_model(ctx, module.path, signature, tags)
