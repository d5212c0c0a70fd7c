"""Keras models -> TF.js layers model: HDF5 (.h5, tf-keras 2 or Keras 3, full model or weights only)
and Keras 3 .keras archives."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ConverterError, UnsupportedError
from ..ir.weight import Weight
from ..lowering.keras.sources import add_graph_hint, check_rebuildable, h5_named_weights
from ..readers.keras.archive import open_keras_archive
from ..readers.keras.config import translate_model_config
from ..readers.keras.h5 import KerasH5, open_keras_h5
from ..readers.keras.rewrites import WeightPlan, apply_weight_plans
from ..readers.keras.weight_check import check_weight_shapes
from ..writers.layers_model import (
    keras2_weight_name,
    keras3_weight_name,
    stacked_cells_to_tfjs,
    write_layers_model,
)
from .base import RouteContext, register_route


def _named_weights(model: KerasH5, layer_classes: dict[str, str],
                   model_names: frozenset[str]) -> list[tuple[str, Sequence[Weight]]]:
    if model.tfjs_names:
        return [(layer.name, [Weight(w.name, w.data) for w in layer.weights]) for layer in model.layers]
    keras3 = (model.keras_major or 0) >= 3
    named = []
    for layer in model.layers:
        stored = stacked_cells_to_tfjs([w.name for w in layer.weights])
        names = [keras3_weight_name(name, layer_classes, model_names) if keras3 else keras2_weight_name(name)
                 for name in stored]
        # tf-keras creates some variables outside the layer's name scope (an adapted Normalization
        # stores bare `mean:0`); TF.js only finds a weight under `<layer>/<weight>`.
        names = [name if "/" in name else f"{layer.name}/{name}" for name in names]
        named.append((layer.name, [Weight(name, w.data) for name, w in zip(names, layer.weights)]))
    return named


def _shapes(layers: Sequence[tuple[str, Sequence[Weight]]]) -> list[tuple[str, tuple[int, ...]]]:
    return [(weight.name, tuple(weight.data.shape)) for _, weights in layers for weight in weights]


@register_route("keras", "tfjs_layers_model")
def keras_h5_to_layers(ctx: RouteContext) -> None:
    options = ctx.options
    quantization = options.quantization_map()
    with open_keras_h5(ctx.input_path) as model:
        if model.keras_major not in (2, 3) and not model.tfjs_names:
            ctx.warn(f"{ctx.input_path}: keras_version {model.keras_version!r} is neither 2.x nor 3.x; "
                     "converting as if it were tf-keras 2")
        model_config = None
        layer_classes: dict[str, str] = {}
        model_names: frozenset[str] = frozenset()
        plans: dict[str, WeightPlan] = {}
        if model.weights_only:
            ctx.warn(f"{ctx.input_path}: weights-only HDF5 file; model.json has no topology "
                     "(modelTopology is null), so TF.js needs the architecture from elsewhere")
        else:
            keras3 = (model.keras_major or 0) >= 3
            check_rebuildable(model.model_config, ctx.input_path)
            try:
                translated = translate_model_config(model.model_config, ctx.input_path, keras3=keras3)
            except UnsupportedError as exc:
                config = model.model_config
                raise add_graph_hint(exc, config, lambda: h5_named_weights(model, config, keras3), keras3,
                                     ctx.input_path) from None
            for message in translated.warnings:
                ctx.warn(message)
            model_config = translated.model_config
            layer_classes = translated.layer_classes
            model_names = translated.model_names
            plans = translated.weight_plans
        layers = apply_weight_plans(_named_weights(model, layer_classes, model_names), plans)
        if model_config is not None:
            check_weight_shapes(model_config, _shapes(layers), ctx.input_path)
        try:
            write_layers_model(
                ctx.output_dir,
                keras_version=model.keras_version,
                backend=model.backend,
                model_config=model_config,
                training_config=None if model.weights_only else model.training_config,
                layers=layers,
                split_weights_by_layer=options.split_weights_by_layer,
                shard_size_bytes=options.shard_size,
                quantization=quantization,
                metadata=options.metadata,
                warnings=ctx.warnings,
            )
        except ConverterError as exc:
            if exc.path is None:  # e.g. an int64 weight out of int32 range: name the input file
                exc.path = str(ctx.input_path)
            raise


@register_route("keras_keras", "tfjs_layers_model")
def keras_archive_to_layers(ctx: RouteContext) -> None:
    options = ctx.options
    quantization = options.quantization_map()
    with open_keras_archive(ctx.input_path) as archive:
        # tf.keras 2.13-2.15 wrote this format too; metadata.json tells which Keras saved it.
        major = (archive.keras_version or "3").split(".", 1)[0]
        keras3 = not major.isdigit() or int(major) >= 3
        check_rebuildable(archive.model_config, ctx.input_path)
        try:
            translated = translate_model_config(archive.model_config, ctx.input_path, keras3=keras3)
        except UnsupportedError as exc:
            def stored() -> list[tuple[str, Sequence[Weight]]]:
                return [(layer.name, [Weight(w.name, w.data) for w in layer.weights])
                        for layer in archive.layers()]

            raise add_graph_hint(exc, archive.model_config, stored, keras3, ctx.input_path) from None
        for message in translated.warnings:
            ctx.warn(message)
        layers = apply_weight_plans([(layer.name, [Weight(w.name, w.data) for w in layer.weights])
                                     for layer in archive.layers()], translated.weight_plans)
        check_weight_shapes(translated.model_config, _shapes(layers), ctx.input_path)
        try:
            write_layers_model(
                ctx.output_dir,
                keras_version=archive.keras_version,
                backend=None,  # a .keras archive does not record the backend that saved it
                model_config=translated.model_config,
                training_config=None,
                layers=layers,
                split_weights_by_layer=options.split_weights_by_layer,
                shard_size_bytes=options.shard_size,
                quantization=quantization,
                metadata=options.metadata,
                warnings=ctx.warnings,
            )
        except ConverterError as exc:
            if exc.path is None:
                exc.path = str(ctx.input_path)
            raise
