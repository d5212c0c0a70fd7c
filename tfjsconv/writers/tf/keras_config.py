"""A TF.js layers model's topology (Keras 2 form) -> the Keras 3 ``config.json`` form.

TF.js keeps models in the Keras 2 serialization: ``{"class_name", "config"}`` objects, dtype strings,
functional calls as ``[[layer, node, tensor, kwargs], ...]``.  Keras 3 writes every object as
``{"module", "class_name", "config", "registered_name"}``, dtypes as ``DTypePolicy`` objects and each
call as ``{"args": [keras tensors], "kwargs": {...}}`` where a keras tensor records its shape, dtype
and ``keras_history``.  Calls whose input shapes cannot be worked out statically keep the Keras 2 list
form, which Keras 3 still reads.  Keys and class names that changed between the two are handled by
one registered fix per layer class; the model itself becomes ``Functional`` (or stays
``Sequential``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Optional

from ...registry import Registry
from .keras_shapes import call_shapes

JsonDict = dict[str, Any]
Fix = Callable[[JsonDict], None]
FIXES: Registry[str, Fix] = Registry("Keras 3 config fix")

MODEL_CLASSES = frozenset({"Sequential", "Functional", "Model"})
_SUBLAYER_KEYS = ("layer", "backward_layer", "cell")
# Keras 2 keys Keras 3 layers no longer accept (they raise on unknown keyword arguments).
_DROPPED = {
    "LSTM": ("time_major", "implementation"), "GRU": ("time_major", "implementation"),
    "SimpleRNN": ("time_major",), "LSTMCell": ("implementation",), "GRUCell": ("implementation",),
    "BatchNormalization": ("renorm", "renorm_clipping", "renorm_momentum", "fused", "virtual_batch_size",
                           "adjustment"),
    "Embedding": ("input_length",),
}
_MODULES = {"initializer": "keras.initializers", "regularizer": "keras.regularizers",
            "constraint": "keras.constraints"}


def serialized(module: str, class_name: str, config: JsonDict) -> JsonDict:
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


def dtype_policy(name: Any) -> JsonDict:
    return serialized("keras", "DTypePolicy", {"name": name if isinstance(name, str) else "float32"})


def _objects(config: JsonDict) -> None:
    """Initializers, regularizers and constraints as Keras 3 serialized objects (in place)."""
    for key, value in list(config.items()):
        if not isinstance(value, dict) or "class_name" not in value:
            continue
        kind = key.rsplit("_", 1)[-1]
        if kind in _MODULES:
            inner = dict(value.get("config") or {})
            config[key] = serialized(_MODULES[kind], str(value["class_name"]), inner)


def layer_config(entry: JsonDict) -> JsonDict:
    """One layer's ``{"class_name", "config"}`` (at any depth) in Keras 3 form."""
    class_name = str(entry.get("class_name"))
    if class_name in MODEL_CLASSES:
        return model_config(entry)
    config = copy.deepcopy(entry.get("config") or {})
    for key in _DROPPED.get(class_name, ()):
        config.pop(key, None)
    if class_name != "InputLayer":
        config.pop("batch_input_shape", None)  # Keras 3 puts it on an InputLayer (see _sequential_input)
    if "dtype" in config and not isinstance(config["dtype"], dict):
        config["dtype"] = dtype_policy(config["dtype"])
    _objects(config)
    for key in _SUBLAYER_KEYS:
        if isinstance(config.get(key), dict):
            config[key] = layer_config(config[key])
    if isinstance(config.get("cells"), list):
        config["cells"] = [layer_config(c) for c in config["cells"]]
    fix = FIXES.get(class_name)
    if fix is not None:
        fix(config)
    return serialized("keras.layers", class_name, config)


@FIXES.register("InputLayer")
def _input_layer(config: JsonDict) -> None:
    if "batch_input_shape" in config:
        config["batch_shape"] = config.pop("batch_input_shape")
    if isinstance(config.get("dtype"), dict):  # InputLayer keeps a plain dtype string
        config["dtype"] = config["dtype"]["config"]["name"]
    config.setdefault("sparse", False)
    config.setdefault("ragged", False)


@FIXES.register("LeakyReLU")
def _leaky_relu(config: JsonDict) -> None:
    if "alpha" in config:
        config["negative_slope"] = config.pop("alpha")


@FIXES.register("BatchNormalization")
def _batch_norm(config: JsonDict) -> None:
    axis = config.get("axis")
    if isinstance(axis, list) and len(axis) == 1:  # Keras 2 serialized a one-axis list; Keras 3 an int
        config["axis"] = axis[0]


# ----- functional graphs ---------------------------------------------------------------------------------

def _history(entry: Any) -> Optional[tuple[str, int, int, JsonDict]]:
    if isinstance(entry, list) and len(entry) >= 3 and isinstance(entry[0], str):
        kwargs = entry[3] if len(entry) > 3 and isinstance(entry[3], dict) else {}
        return entry[0], int(entry[1]), int(entry[2]), kwargs
    return None


def _keras_tensor(shape: Any, dtype: str, source: tuple[str, int, int, JsonDict]) -> JsonDict:
    history = [source[0], source[1], source[2]]
    config = {"shape": list(shape), "dtype": dtype, "keras_history": history}
    return {"class_name": "__keras_tensor__", "config": config}


def _renumber(entry: Any, models: frozenset[str]) -> Any:
    """Keras 2 (and TF.js) count a nested model's own internal node, so its first call is node 1;
    Keras 3 counts calls from 0."""
    source = _history(entry)
    if source is None or source[0] not in models or source[1] == 0:
        return entry
    return [source[0], source[1] - 1, *entry[2:]]


def _input_shapes(node: Any, shapes: dict[tuple[str, int], list[Any]]) -> Optional[list[Any]]:
    found = []
    for entry in node if isinstance(node, list) else []:
        source = _history(entry)
        outputs = shapes.get((source[0], source[1])) if source is not None else None
        if source is None or not outputs or source[2] >= len(outputs):
            return None
        found.append(outputs[source[2]])
    return found


def _node(node: Any, shapes: dict[tuple[str, int], list[Any]], dtypes: dict[str, str],
          models: frozenset[str]) -> Any:
    """A Keras 2 call (list of inbound tensors) in Keras 3 form, when every input shape is known."""
    if not isinstance(node, list):
        return node
    input_shapes = _input_shapes(node, shapes)
    node = [_renumber(entry, models) for entry in node]
    sources = [_history(entry) for entry in node]
    if not sources or any(s is None for s in sources) or input_shapes is None:
        return node
    tensors = [_keras_tensor(shape, dtypes.get(s[0], "float32"), s) for s, shape in zip(sources, input_shapes)
               if s is not None]
    kwargs = sources[0][3] if sources[0] is not None else {}
    return {"args": [tensors[0] if len(tensors) == 1 else tensors], "kwargs": dict(kwargs)}


def _output_dtypes(layers: list[JsonDict]) -> dict[str, str]:
    out = {}
    for layer in layers:
        config = layer.get("config") or {}
        dtype = config.get("dtype")
        name = layer.get("name") or config.get("name")
        if isinstance(name, str):
            out[name] = dtype if isinstance(dtype, str) else "float32"
    return out


def _sequential_input(layers: list[JsonDict]) -> list[JsonDict]:
    """The InputLayer Keras 3 lists first in a Sequential that Keras 2 gave its first layer's
    ``batch_input_shape`` instead."""
    first = (layers[0].get("config") or {}) if layers else {}
    if not layers or layers[0].get("class_name") == "InputLayer" or "batch_input_shape" not in first:
        return []
    dtype = first.get("dtype") if isinstance(first.get("dtype"), str) else "float32"
    config = {"batch_shape": first["batch_input_shape"], "dtype": dtype, "sparse": False, "ragged": False,
              "name": f"{first.get('name', 'input')}_input"}
    return [serialized("keras.layers", "InputLayer", config)]


def model_config(entry: JsonDict) -> JsonDict:
    """A Sequential or functional model (``Model``/``Functional``) in Keras 3 form."""
    class_name = str(entry.get("class_name"))
    config = copy.deepcopy(entry.get("config") or {})
    raw_layers = config.get("layers") if isinstance(config.get("layers"), list) else []
    if class_name == "Sequential":
        config["layers"] = _sequential_input(raw_layers) + [layer_config(layer) for layer in raw_layers]
        if isinstance(config.get("dtype"), str):
            config["dtype"] = dtype_policy(config["dtype"])
        return serialized("keras", "Sequential", config)
    shapes = call_shapes(entry)
    dtypes = _output_dtypes(raw_layers)
    models = frozenset(str(layer.get("name") or (layer.get("config") or {}).get("name"))
                       for layer in raw_layers if layer.get("class_name") in MODEL_CLASSES)
    sequential = frozenset(str(layer.get("name") or (layer.get("config") or {}).get("name"))
                           for layer in raw_layers if layer.get("class_name") == "Sequential")
    layers = []
    for layer in raw_layers:
        name = layer.get("name") or (layer.get("config") or {}).get("name")
        converted = layer_config(layer)
        converted["name"] = name
        nodes = layer.get("inbound_nodes") or []
        converted["inbound_nodes"] = [_node(node, shapes, dtypes, models) for node in nodes]
        layers.append(converted)
    config["layers"] = layers
    if isinstance(config.get("output_layers"), list):
        # Keras 3 numbers a nested Sequential's node Keras-3 style here, a nested Functional's not.
        config["output_layers"] = [_renumber(entry, sequential) for entry in config["output_layers"]]
    for key in ("input_layers", "output_layers"):
        value = config.get(key)
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
            config[key] = value[0]  # Keras 3 writes one input/output unwrapped
    out = serialized("keras.src.models.functional", "Functional", config)
    out["registered_name"] = "Functional"
    return out
