"""tf-keras 2 SavedModel directories (with keras_metadata.pb) -> TF.js layers model."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ConverterError, UnsupportedError
from ..ir.weight import Weight
from ..lowering.keras.sources import add_graph_hint
from ..readers.keras.config import translate_model_config
from ..readers.keras.rewrites import apply_weight_plans
from ..readers.keras.saved_model import KerasSavedModel, open_keras_saved_model
from ..readers.keras.weight_check import check_weight_shapes
from ..writers.layers_model import keras2_weight_name, stacked_cells_to_tfjs, write_layers_model
from .base import RouteContext, register_route


def _named_weights(model: KerasSavedModel) -> list[tuple[str, Sequence[Weight]]]:
    named = []
    for layer in model.layers:
        names = [keras2_weight_name(name) for name in stacked_cells_to_tfjs([w.name for w in layer.weights])]
        # Variables created outside the layer's name scope carry a bare name; TF.js only finds a
        # weight under `<layer>/<weight>`.
        names = [name if "/" in name else f"{layer.name}/{name}" for name in names]
        named.append((layer.name, [Weight(name, w.data) for name, w in zip(names, layer.weights)]))
    return named


@register_route("keras_saved_model", "tfjs_layers_model")
def keras_saved_model_to_layers(ctx: RouteContext) -> None:
    options = ctx.options
    model = open_keras_saved_model(ctx.input_path)
    try:
        translated = translate_model_config(model.model_config, ctx.input_path, keras3=False)
    except UnsupportedError as exc:
        raise add_graph_hint(exc, model.model_config, lambda: _named_weights(model), False,
                             ctx.input_path) from None
    for message in translated.warnings:
        ctx.warn(message)
    layers = apply_weight_plans(_named_weights(model), translated.weight_plans)
    check_weight_shapes(translated.model_config,
                        [(w.name, tuple(w.data.shape)) for _, weights in layers for w in weights],
                        ctx.input_path)
    try:
        write_layers_model(
            ctx.output_dir,
            keras_version=model.keras_version,
            backend="tensorflow",
            model_config=translated.model_config,
            training_config=model.training_config,
            layers=layers,
            split_weights_by_layer=options.split_weights_by_layer,
            shard_size_bytes=options.shard_size,
            quantization=options.quantization_map(),
            metadata=options.metadata,
            warnings=ctx.warnings,
        )
    except ConverterError as exc:
        if exc.path is None:  # e.g. an int64 weight out of int32 range: name the input directory
            exc.path = str(ctx.input_path)
        raise
