"""Keras model configs -> the Keras 2 form tfjs-layers 4.22 deserializes (FORMATS.md §4.4, §5.5).

The same pass serves tf-keras 2 and Keras 3 files: the rewrites are no-ops on a config already in
Keras 2 form, and the writer's version is only consulted where the two disagree on meaning (node
numbering of nested models, Bidirectional's inner layer name, Keras 3's ``hard_sigmoid``).
Everything TF.js would refuse at load time - or, worse, load and compute differently - is collected
while walking and reported together before any output exists.  Nothing in a config is ever
executed: a ``Lambda`` layer is refused, not unmarshalled.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ...errors import InputError, UnsupportedError, UnsupportedLayersError
from .layer_args import check_window_args
from .layer_fixes import Findings, JsonDict, fix_layer, tfjs_catalog
from .masks import check_masks
from .rewrites import (
    WeightPlan,
    drop_automatic_masks,
    rewrite_inference_identity,
    rewrite_normalization,
    rewrite_subtract,
)
from .shapes import infer_input_shapes

MODEL_CLASSES = frozenset({"Sequential", "Functional", "Model"})

# Keys Keras 3 (and recent tf-keras) add to serialized objects; tfjs-layers has no use for them.
_DROPPED_KEYS = frozenset({"module", "registered_name", "build_config", "compile_config", "shared_object_id"})

# The official converter's renames for classes tf.keras 2 serialized under internal names.
_CLASS_RENAMES = {"BatchNormalizationV1": "BatchNormalization", "UnifiedGRU": "GRU", "UnifiedLSTM": "LSTM"}

# Layer config keys that hold further layer configs (wrappers, RNN cells).
_SUBLAYER_KEYS = ("layer", "backward_layer", "cell", "cells")

_LAMBDA_REASON = ("Lambda layers hold marshalled Python bytecode, which tfjsconv never runs and TF.js "
                  "cannot run; rewrite the Lambda as a built-in layer (or a custom layer registered in "
                  "TF.js) before converting")


def translate_class_names(obj: Any) -> Any:
    """Recursively renames ``class_name`` values as the official converter does."""
    if isinstance(obj, dict):
        return {key: (_CLASS_RENAMES.get(value, value) if key == "class_name" and isinstance(value, str)
                      else translate_class_names(value)) for key, value in obj.items()}
    if isinstance(obj, list):
        return [translate_class_names(item) for item in obj]
    return obj


@dataclass(frozen=True)
class TranslatedConfig:
    model_config: JsonDict
    layer_classes: dict[str, str]  # every layer name at any nesting depth -> its class
    model_names: frozenset[str]  # names of the model and of every nested model
    warnings: tuple[str, ...]
    # Layers rewritten as other TF.js classes (keras_rewrites), by name: how their weights change.
    weight_plans: dict[str, WeightPlan] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Generic cleanup: applies to every dict in the config.


def _is_dtype_policy(value: Any) -> bool:
    return isinstance(value, dict) and str(value.get("class_name", "")).endswith("DTypePolicy")


def _policy_dtype(policy: JsonDict) -> str:
    name = str(policy.get("config", {}).get("name", "float32"))
    if name.startswith("mixed_"):
        return "float32"  # variables are float32 under mixed precision; TF.js computes in float32
    return name


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if key in _DROPPED_KEYS:
                continue
            out[key] = _policy_dtype(value) if _is_dtype_policy(value) else _clean(value)
        return out
    if isinstance(obj, list):
        return [_clean(item) for item in obj]
    return obj


def _known_input_shape(entry: JsonDict) -> Optional[list[int]]:
    """A layer's input shape without the batch axis, when Keras 3 recorded it (build_config or the
    shape of the first keras tensor it was called on) and every dimension is known."""
    shape = (entry.get("build_config") or {}).get("input_shape")
    if shape is None:
        for node in entry.get("inbound_nodes") or ():
            tensors = _keras_tensor_shapes(node.get("args", [])) if isinstance(node, dict) else []
            if len(tensors) == 1:
                shape = tensors[0]
            break
    if not isinstance(shape, list) or len(shape) < 2:
        return None
    dims = shape[1:]
    return dims if all(isinstance(d, int) and d >= 0 for d in dims) else None


def _recorded_input_shape(entry: JsonDict) -> Optional[tuple[Optional[int], ...]]:
    """A single-input layer's input shape (batch axis included) when the file records it (Keras 3
    and tf-keras .keras archives do, in build_config or in the keras tensors of its first call)."""
    shape = (entry.get("build_config") or {}).get("input_shape")
    if shape is None:
        for node in entry.get("inbound_nodes") or ():
            tensors = _keras_tensor_shapes(node.get("args", [])) if isinstance(node, dict) else []
            shape = tensors[0] if len(tensors) == 1 else None
            break
    if isinstance(shape, list) and shape and all(d is None or isinstance(d, int) for d in shape):
        return tuple(shape)
    return None


def _record_shapes(obj: Any, shapes: dict[str, tuple[Optional[int], ...]]) -> None:
    """Recorded input shapes by layer name, read before the cleanup drops build_config."""
    if isinstance(obj, list):
        for item in obj:
            _record_shapes(item, shapes)
        return
    if not isinstance(obj, dict):
        return
    config = obj.get("config")
    if "class_name" in obj and isinstance(config, dict) and isinstance(config.get("name"), str):
        shape = _recorded_input_shape(obj)
        if shape is not None:
            shapes[config["name"]] = shape
    for value in obj.values():
        _record_shapes(value, shapes)


def _model_configs(entry: Any) -> list[JsonDict]:
    """``entry`` and every model nested in it (each infers from its own declared inputs)."""
    if not isinstance(entry, dict):
        return []
    found = [entry] if entry.get("class_name") in MODEL_CLASSES else []
    for layer in _model_layers(entry.get("config")) if found else ():
        found.extend(_model_configs(layer))
    return found


def _input_shapes(raw: JsonDict) -> dict[str, tuple[Optional[int], ...]]:
    """Input shapes of single-input layers: recorded ones, else inferred from the graph (tf-keras .h5),
    nested models included."""
    shapes: dict[str, tuple[Optional[int], ...]] = {}
    for model in _model_configs(raw):
        for name, inputs in infer_input_shapes(model).items():
            if len(inputs) == 1:
                shapes.setdefault(name, inputs[0])
    _record_shapes(raw, shapes)  # recorded shapes win over inferred ones
    return shapes


def _keras_tensor_shapes(arg: Any) -> list[Any]:
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        return [arg.get("config", {}).get("shape")]
    if isinstance(arg, (list, tuple)):
        return [shape for item in arg for shape in _keras_tensor_shapes(item)]
    return []


def _resolve_reshapes(obj: Any, warnings: list[str], shapes: dict[str, tuple[Optional[int], ...]]) -> None:
    """Fills in the -1 of Reshape target shapes.

    tfjs-layers 4.22's Reshape.computeOutputShape treats the (always unknown) batch axis as an
    unknown input dimension and passes -1 through, so the next layer that needs the size (Flatten,
    Conv1D, Dense) fails to build.  Keras 3 records the input shape, from which -1 follows; this must
    run before the cleanup drops build_config.
    """
    if isinstance(obj, list):
        for item in obj:
            _resolve_reshapes(item, warnings, shapes)
        return
    if not isinstance(obj, dict):
        return
    config = obj.get("config")
    target = config.get("target_shape") if isinstance(config, dict) else None
    if obj.get("class_name") == "Reshape" and isinstance(target, list) and -1 in target:
        dims = _known_input_shape(obj)
        inferred = shapes.get(str(config.get("name")))
        if dims is None and inferred is not None and all(isinstance(d, int) for d in inferred[1:]):
            dims = [int(d) for d in inferred[1:] if d is not None]
        known = 1
        for d in target:
            known *= d if d != -1 else 1
        total = 1
        for d in dims or ():
            total *= d
        if dims is not None and known > 0 and total % known == 0 and target.count(-1) == 1:
            config["target_shape"] = [total // known if d == -1 else d for d in target]
        else:
            warnings.append(f"layer {config.get('name')!r}: Reshape target {target} keeps its -1, which "
                            "tfjs-layers 4.22 cannot infer when building the model; give the full shape")
    for value in obj.values():
        _resolve_reshapes(value, warnings, shapes)


# ---------------------------------------------------------------------------------------------
# Functional wiring.


def _keras_tensors(arg: Any) -> list[tuple[str, int, int]]:
    """``keras_history`` triples of every ``__keras_tensor__`` in a (nested) call argument."""
    if isinstance(arg, dict):
        if arg.get("class_name") == "__keras_tensor__":
            source, node, tensor = arg["config"]["keras_history"]
            return [(str(source), int(node), int(tensor))]
        return [t for value in arg.values() for t in _keras_tensors(value)]
    if isinstance(arg, (list, tuple)):
        return [t for item in arg for t in _keras_tensors(item)]
    return []


def _convert_node(node: Any, layer: str, cls: str, shifted: frozenset[str], found: Findings) -> Any:
    if isinstance(node, list):
        return node  # already [[name, node_index, tensor_index, kwargs], ...]
    kwargs = {key: value for key, value in (node.get("kwargs") or {}).items() if value is not None}
    if _keras_tensors(kwargs):
        found.refuse(layer, cls, "receives tensors through keyword arguments ("
                     + ", ".join(sorted(k for k, v in kwargs.items() if _keras_tensors(v)))
                     + "), which a TF.js layers config cannot express")
    return [[source, index + (1 if source in shifted else 0), tensor, kwargs]
            for source, index, tensor in _keras_tensors(node.get("args", []))]


def _endpoint_list(value: Any, shifted: frozenset[str]) -> list[list[Any]]:
    """``input_layers``/``output_layers`` as a list of triples (Keras 3 may write one bare triple).

    ``shifted`` names the source layers whose node index must grow by one (see ``_walk_model``).
    """
    if isinstance(value, dict):
        value = list(value.values())
    if (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and all(isinstance(v, int) for v in value[1:])):
        value = [value]
    return [[source, index + (1 if source in shifted else 0), tensor] for source, index, tensor in value]


# ---------------------------------------------------------------------------------------------
# The walk.


def _layer_name(entry: JsonDict) -> str:
    config = entry.get("config")
    name = entry.get("name")
    if name is None and isinstance(config, dict):
        name = config.get("name")
    return str(name) if name is not None else f"<unnamed {entry.get('class_name')}>"


def _model_layers(config: Any) -> list[Any]:
    if isinstance(config, list):  # very old Sequential configs are a bare list of layers
        return config
    layers = config.get("layers", []) if isinstance(config, dict) else []
    return layers if isinstance(layers, list) else []


def _collect_names(entry: JsonDict, found: Findings, models: set[str]) -> None:
    cls = str(entry.get("class_name"))
    name = _layer_name(entry)
    found.layer_classes.setdefault(name, cls)
    config = entry.get("config")
    if cls in MODEL_CLASSES:
        models.add(name)
        for layer in _model_layers(config):
            if isinstance(layer, dict):
                _collect_names(layer, found, models)


_GLOBAL_POOLING = re.compile(r"^Global(Average|Max)Pooling([123])D$")


def _keepdims_to_window(entry: JsonDict, shape: Optional[tuple[Optional[int], ...]]) -> None:
    """GlobalXPooling(keepdims=True) -> XPooling over the whole (known) spatial extent.

    TF.js's global pooling layers have no keepdims; a pooling window as large as the input gives the
    same values with the kept unit axes (MobileNet's head).  Left unchanged (and then refused) when
    the spatial size is not known.
    """
    match = _GLOBAL_POOLING.match(str(entry.get("class_name")))
    config = entry["config"]
    rank = int(match.group(2)) if match else 0
    if match is None or shape is None or len(shape) != rank + 2:
        return
    first = config.get("data_format") == "channels_first"
    spatial = shape[2:] if first else shape[1:-1]
    if not all(isinstance(d, int) and d > 0 for d in spatial):
        return
    entry["class_name"] = f"{match.group(1)}Pooling{rank}D"
    entry["config"] = {**{key: config[key] for key in ("name", "trainable", "dtype") if key in config},
                       "pool_size": list(spatial), "strides": list(spatial), "padding": "valid",
                       "data_format": config.get("data_format", "channels_last")}


def _walk_layer(entry: JsonDict, found: Findings, models: frozenset[str]) -> None:
    cls = str(entry.get("class_name"))
    name = _layer_name(entry)
    if cls == "Normalization" and isinstance(entry.get("config"), dict):
        plan = rewrite_normalization(entry, lambda why: found.refuse(name, "Normalization", why))
        if plan is None:
            return
        found.weight_plans[name] = plan
        cls = str(entry["class_name"])
    if rewrite_inference_identity(entry):
        cls = str(entry["class_name"])
    if cls.startswith("Global") and isinstance(entry.get("config"), dict) and entry["config"].get("keepdims"):
        _keepdims_to_window(entry, found.input_shapes.get(name))
        cls = str(entry["class_name"])
    if cls not in tfjs_catalog()["layers"]:
        found.unknown.setdefault(cls, []).append(name)
    config = entry.get("config")
    if cls in MODEL_CLASSES:
        if cls == "Functional":
            entry["class_name"] = "Model"
        _walk_model(config, found, models)
        return
    if not isinstance(config, dict):
        return
    fix_layer(name, cls, config, found)
    for key in _SUBLAYER_KEYS:
        sub = config.get(key)
        for item in sub if isinstance(sub, list) else [sub]:
            if isinstance(item, dict) and "class_name" in item:
                _walk_layer(item, found, models)


def _walk_model(config: Any, found: Findings, models: frozenset[str]) -> None:
    layers = [layer for layer in _model_layers(config) if isinstance(layer, dict)]
    # Node indices of nested models: Keras 2 and TF.js count the nested model's own internal node,
    # so its first call is node 1.  Keras 3 does not in `inbound_nodes` (first call = 0, for nested
    # Sequential and Functional alike), while its `output_layers` are re-indexed Keras-2 style for
    # Functional sources but not for Sequential ones (observed with Keras 3.15).
    keras3_wiring = found.keras3 or any(isinstance(node, dict) for layer in layers
                                        for node in layer.get("inbound_nodes") or ())
    inbound_shift = models if keras3_wiring else frozenset()
    output_shift = frozenset(name for name in models if found.layer_classes.get(name) == "Sequential"
                             ) if keras3_wiring else frozenset()
    for layer in layers:
        _walk_layer(layer, found, models)
        if "inbound_nodes" in layer:
            # TF.js 4.22 never finishes loading a functional model with a layer lacking this key.
            layer.setdefault("name", _layer_name(layer))
            layer["inbound_nodes"] = [
                _convert_node(node, _layer_name(layer), str(layer.get("class_name")), inbound_shift, found)
                for node in layer["inbound_nodes"]]
    if isinstance(config, dict):
        if "input_layers" in config:
            config["input_layers"] = _endpoint_list(config["input_layers"], frozenset())
        if "output_layers" in config:
            config["output_layers"] = _endpoint_list(config["output_layers"], output_shift)


def _refuse_ops(obj: Any, found: Findings) -> None:
    """Keras 3 records tensor operations in a functional model (``x * 2.0``, ``keras.ops.add``) as
    nodes whose class names can equal layer names (``Multiply``, ``Add``) but whose module is
    ``keras.src.ops.*``: TF.js would load them as merge layers, which they are not."""
    if isinstance(obj, list):
        for item in obj:
            _refuse_ops(item, found)
        return
    if not isinstance(obj, dict):
        return
    module = obj.get("module")
    if "class_name" in obj and isinstance(module, str) and module.startswith(("keras.src.ops", "keras.ops")):
        op = f"{module.rsplit('.', 1)[-1]}.{obj['class_name']}"
        found.refuse(_layer_name(obj), str(obj["class_name"]),
                     f"is the Keras operation {op} applied to a tensor, not a layer; a TF.js layers model "
                     "cannot express it (use the equivalent Keras layer, e.g. Rescaling, Add, Multiply)")
        return
    for value in obj.values():
        _refuse_ops(value, found)


def _check_structure(entry: Any, where: str) -> None:
    """The skeleton every Keras model config has: models hold a list of {class_name, config} layers.

    Raises ValueError naming the first place that departs from it; the walk then stays on safe ground.
    """
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise ValueError(f"{where} is not a {{class_name, config}} object")
    config = entry.get("config")
    if entry["class_name"] not in MODEL_CLASSES:
        if not isinstance(config, dict):
            raise ValueError(f"{where} ({entry['class_name']}) has no config object")
        return
    layers = config.get("layers") if isinstance(config, dict) else config
    if not isinstance(layers, list):
        raise ValueError(f"{where} ({entry['class_name']}) has no list of layers")
    for index, layer in enumerate(layers):
        _check_structure(layer, f"layer #{index} of {where}")
        nodes = layer.get("inbound_nodes", [])
        if not isinstance(nodes, list):
            raise ValueError(f"layer #{index} of {where}: inbound_nodes is not a list")


def translate_model_config(model_config: JsonDict, path: Optional[Path] = None,
                           keras3: bool = False) -> TranslatedConfig:
    """Returns the tfjs-layers form of ``model_config`` or raises, listing every problem at once.

    ``keras3`` says the file was written by Keras 3 (see the module docstring for what that changes).
    """
    if not isinstance(model_config, dict) or "class_name" not in model_config or "config" not in model_config:
        raise InputError("model_config is not a Keras {class_name, config} object", path)
    try:
        _check_structure(model_config, "the model")
        check_window_args(model_config)
        raw = translate_class_names(copy.deepcopy(model_config))
        reshape_warnings: list[str] = []
        shapes = _input_shapes(raw)
        _resolve_reshapes(raw, reshape_warnings, shapes)
        found = Findings(keras3=keras3, warnings=reshape_warnings, input_shapes=shapes)
        drop_automatic_masks(raw)
        rewrite_subtract(raw)
        _refuse_ops(raw, found)
        config = _clean(raw)
        models: set[str] = set()
        _collect_names(config, found, models)
        frozen_models = frozenset(models)
        _walk_layer(config, found, frozen_models)
        check_masks(config, found)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError, ArithmeticError) as exc:
        # The walk trusts the Keras layout (dicts where Keras writes dicts); a config that breaks
        # that trust is damaged or hand-made, not something to convert by guessing.
        raise InputError(f"model_config is not a well-formed Keras model config ({type(exc).__name__}: "
                         f"{exc})", path) from exc
    if found.unknown:
        detail = "layers " + ", ".join(f"{name!r} ({cls})" for cls, names in sorted(found.unknown.items())
                                       for name in names)
        if "Lambda" in found.unknown:
            detail += "; " + _LAMBDA_REASON
        raise UnsupportedLayersError(found.unknown, path, detail=detail)
    if found.unsupported:
        raise UnsupportedError("TF.js cannot load or run this model as saved: "
                               + "; ".join(found.unsupported), path)
    return TranslatedConfig(config, dict(found.layer_classes), frozen_models, tuple(found.warnings),
                            dict(found.weight_plans))
