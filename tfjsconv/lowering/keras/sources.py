"""What the routes need to hand a Keras file to the lowering: weights named as the layers route
names them, and the check that a config describes a layer graph at all."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, Optional

from ...errors import ConverterError, UnsupportedError
from ...ir.weight import Weight
from ...readers.keras.config import MODEL_CLASSES
from ...readers.keras.h5 import KerasH5
from ...writers.layers_model import keras2_weight_name, keras3_weight_name, stacked_cells_to_tfjs

JsonDict = dict[str, Any]


def layer_classes(config: JsonDict) -> tuple[dict[str, str], frozenset[str]]:
    """Every layer name at any model depth -> its class, and the names of the (nested) models."""
    classes: dict[str, str] = {}
    models: set[str] = set()

    def visit(entry: Any) -> None:
        if not isinstance(entry, dict):
            return
        cls = str(entry.get("class_name"))
        inner = entry.get("config")
        name = entry.get("name") or (inner.get("name") if isinstance(inner, dict) else None)
        if isinstance(name, str):
            classes.setdefault(name, cls)
        if cls in MODEL_CLASSES:
            if isinstance(name, str):
                models.add(name)
            layers = inner.get("layers") if isinstance(inner, dict) else inner
            for layer in layers if isinstance(layers, list) else ():
                visit(layer)

    visit(config)
    return classes, frozenset(models)


def h5_named_weights(model: KerasH5, config: JsonDict, keras3: bool) -> list[tuple[str, Sequence[Weight]]]:
    """The file's weights per layer group, named ``<layer>/<variable>`` as tfjs-layers names them."""
    if model.tfjs_names:
        return [(layer.name, [Weight(w.name, w.data) for w in layer.weights]) for layer in model.layers]
    classes, models = layer_classes(config)
    named: list[tuple[str, Sequence[Weight]]] = []
    for layer in model.layers:
        stored = stacked_cells_to_tfjs([w.name for w in layer.weights])
        names = [keras3_weight_name(n, classes, models) if keras3 else keras2_weight_name(n) for n in stored]
        names = [n if "/" in n else f"{layer.name}/{n}" for n in names]
        named.append((layer.name, [Weight(n, w.data) for n, w in zip(names, layer.weights)]))
    return named


def library_class(config: Any) -> Optional[str]:
    """The class of a model config that holds only a library class's constructor arguments (e.g. a
    keras-hub ``*Backbone``) instead of a layer graph, else None."""
    if not isinstance(config, dict):
        return None
    inner = config.get("config")
    cls = str(config.get("class_name"))
    if cls in MODEL_CLASSES or (isinstance(inner, dict) and isinstance(inner.get("layers"), list)):
        return None
    registered = config.get("registered_name")
    module = config.get("module")
    if isinstance(registered, str) and registered:
        return registered
    return f"{module}.{cls}" if isinstance(module, str) and module else cls


def check_rebuildable(config: Any, path: Optional[Path]) -> None:
    """Refuses a config that names a library model class instead of describing its layers."""
    cls = library_class(config)
    if cls is None:
        return
    library = cls.split(">", 1)[0] if ">" in cls else cls.split(".", 1)[0]
    raise UnsupportedError(f"the model config only holds the constructor arguments of {cls}, not its layer "
                           f"graph; it cannot be rebuilt without the code of {library}. In Python, export "
                           "a SavedModel with model.export(dir) and convert that directory "
                           "(--input_format=tf_saved_model)", path)


GRAPH_HINT = "the graph route can convert it: use --output_format=tfjs_graph_model"


def add_graph_hint(error: ConverterError, config: JsonDict,
                   weights: Callable[[], Sequence[tuple[str, Sequence[Weight]]]], keras3: bool,
                   path: Optional[Path]) -> ConverterError:
    """``error`` (a layers-route refusal) with the graph-route hint when lowering the same model works.

    The config is checked first, so weights are only read for a model the graph route may convert."""
    from .model import KerasModelSource, config_refusals, lower_keras_model

    if config_refusals(config):
        return error
    try:
        lower_keras_model(KerasModelSource(config, weights(), keras3, path))
    except ConverterError:
        return error
    error.message = f"{error.message}; {GRAPH_HINT}"
    return error
