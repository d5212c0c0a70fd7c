"""Keras models -> TF.js graph model, without TensorFlow: each layer is lowered to TF ops
(``tfjsconv.lowering.keras``), then the graph goes through the optimizer and the graph writer like
a SavedModel's would.

Inputs: Keras HDF5 (tf-keras 2 or Keras 3), ``.keras`` archives, TF.js layers models, and tf-keras
SavedModels - those already hold their traced serving graph, which is converted as it is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

from ..errors import ConverterError, InputError
from ..ir.weight import Weight
from ..lowering.keras.model import KerasModelSource, check_lowerable, lower_keras_model
from ..lowering.keras.registry import LoweringOptions
from ..lowering.keras.sources import check_rebuildable, h5_named_weights
from ..passes.pipeline import optimize
from ..readers.keras.archive import open_keras_archive
from ..readers.keras.h5 import open_keras_h5
from ..readers.tfjs.layers_model import read_tfjs_layers_model
from ..writers.graph_model import write_graph_model
from .base import RouteContext, register_route


@contextmanager
def _naming(path: Path) -> Iterator[None]:
    try:
        yield
    except ConverterError as exc:
        if exc.path is None:
            exc.path = str(path)
        raise


def convert_keras_source(ctx: RouteContext, source: KerasModelSource, generated_by: Optional[str]) -> None:
    """Lower, optimize and write; nothing is written when any step raises."""
    with _naming(ctx.input_path):
        graph = lower_keras_model(source, LoweringOptions(unroll_loops=not ctx.options.control_flow_v2))
        optimize(graph, ctx.options, warnings=ctx.warnings)
        write_graph_model(graph, ctx.output_dir, ctx.options, generated_by=generated_by,
                          warnings=ctx.warnings)


def _generated_by(version: Optional[str]) -> Optional[str]:
    return f"keras v{version}" if version else None


def _keras3(version: Optional[str], default: bool) -> bool:
    head = (version or "").split(".", 1)[0]
    return int(head) >= 3 if head.isdigit() else default


@register_route("keras", "tfjs_graph_model")
def keras_h5_to_graph(ctx: RouteContext) -> None:
    with open_keras_h5(ctx.input_path) as model:
        if model.weights_only:
            raise InputError("a weights-only Keras file has no model config; a graph model needs the "
                             "architecture (convert the full model file)", ctx.input_path)
        assert model.model_config is not None
        check_rebuildable(model.model_config, ctx.input_path)
        check_lowerable(model.model_config, ctx.input_path)
        keras3 = _keras3(model.keras_version, False)
        weights = h5_named_weights(model, model.model_config, keras3)
        source = KerasModelSource(model.model_config, weights, keras3, ctx.input_path)
        convert_keras_source(ctx, source, _generated_by(model.keras_version))


@register_route("keras_keras", "tfjs_graph_model")
def keras_archive_to_graph(ctx: RouteContext) -> None:
    with open_keras_archive(ctx.input_path) as archive:
        check_rebuildable(archive.model_config, ctx.input_path)
        check_lowerable(archive.model_config, ctx.input_path)
        keras3 = _keras3(archive.keras_version, True)
        weights: list[tuple[str, Sequence[Weight]]] = [
            (layer.name, [Weight(w.name, w.data) for w in layer.weights]) for layer in archive.layers()]
        source = KerasModelSource(archive.model_config, weights, keras3, ctx.input_path)
        convert_keras_source(ctx, source, _generated_by(archive.keras_version))


@register_route("tfjs_layers_model", "tfjs_graph_model")
def layers_model_to_graph(ctx: RouteContext) -> None:
    model = read_tfjs_layers_model(ctx.input_path)
    topology: Any = model.topology or {}
    config = topology.get("model_config") if isinstance(topology, dict) else None
    if not isinstance(config, dict):
        raise InputError("model.json has no modelTopology.model_config (a weights-only model); a graph "
                         "model needs the architecture", model.model_json)
    # A layers model carries TF.js's (= Keras 2) semantics whatever Keras wrote the original file.
    source = KerasModelSource(config, [("", model.weights())], False, model.model_json)
    version = topology.get("keras_version") if isinstance(topology, dict) else None
    convert_keras_source(ctx, source, _generated_by(version if isinstance(version, str) else None))


@register_route("keras_saved_model", "tfjs_graph_model")
def keras_saved_model_to_graph(ctx: RouteContext) -> None:
    # The SavedModel already holds the model's traced serving function, keyed by the Keras input and
    # output layer names: convert that graph, as tf_saved_model does.
    from .tf_to_graph import convert_saved_model

    convert_saved_model(ctx, ctx.input_path, "serving_default")
