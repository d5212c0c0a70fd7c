"""Writes a Keras HDF5 model in the tf-keras 2 legacy layout (FORMATS.md §4), the file
``tf_keras.models.load_model`` reads.

Layout: root attributes ``keras_version``, ``backend``, ``model_config`` (JSON) and optionally
``training_config``; group ``model_weights`` with ``layer_names`` (every top-level layer, model order)
and one group per layer whose ``weight_names`` are ``<weight>:0`` with a dataset at that path.
tf-keras assigns a layer's weights by position, so the order inside a layer must be the layer's own
weight order - which is the order TF.js manifests keep (they come from the same ``weight_names``).

Also here: ``atomic_output_file``, the single-file counterpart of ``atomic_output_dir`` (a Keras
output is one .h5 file, not a directory).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import h5py
import numpy as np

from ..errors import InputError, OutputError
from ..ir.weight import Weight

KERAS_H5_FILE = "model.h5"
# HDF5 keeps attributes in the object header, limited to 64 KiB; tf-keras splits longer name lists
# into `name0`, `name1`, ... below this size, and so do we.
_HDF5_ATTRIBUTE_LIMIT = 64512
_MODEL_CLASSES = frozenset({"Sequential", "Functional", "Model"})
# Keras >= 3.12 adds these to every VarianceScaling-family initializer config; TF.js ignores them,
# tf-keras rejects them as unknown arguments.  Only the default (null) values can be dropped safely.
_KERAS3_INITIALIZER_KEYS = ("input_axes", "output_axes")
# Layer options Keras 3 added, which tf-keras rejects as unknown arguments: dropped at their default
# (the only value tf-keras can compute).
_KERAS3_LAYER_DEFAULTS = {"LayerNormalization": {"rms_scaling": False}}


def tf_keras_model_config(config: Any) -> Any:
    """``config`` with what tf-keras cannot deserialize removed (a copy; the input is not changed)."""
    if isinstance(config, list):
        return [tf_keras_model_config(item) for item in config]
    if not isinstance(config, dict):
        return config
    out = {key: tf_keras_model_config(value) for key, value in config.items()}
    inner = out.get("config")
    if "class_name" in out and isinstance(inner, dict):
        for key in _KERAS3_INITIALIZER_KEYS:
            if key in inner and inner[key] is None:
                del inner[key]
        for key, default in _KERAS3_LAYER_DEFAULTS.get(str(out["class_name"]), {}).items():
            if key in inner and inner[key] == default:
                del inner[key]
    return out


# ----- which top-level layer owns which weight ---------------------------------------------------------

def _layer_entries(config: Any) -> list[dict[str, Any]]:
    """The layer dicts of a Sequential/Functional config (old Sequential configs are a bare list)."""
    layers = config if isinstance(config, list) else (config or {}).get("layers", [])
    return [layer for layer in layers if isinstance(layer, dict)]


def _layer_name(layer: Mapping[str, Any]) -> Optional[str]:
    name = (layer.get("config") or {}).get("name", layer.get("name"))
    return name if isinstance(name, str) else None


def _scope_names(layer: Mapping[str, Any]) -> set[str]:
    """The first path segments of the weights a layer owns: its name, plus every layer name inside
    it when it is a nested model (tf-keras and TF.js scope those weights by the inner layer)."""
    names = {_layer_name(layer)} - {None}
    if layer.get("class_name") in _MODEL_CLASSES:
        for inner in _layer_entries(layer.get("config")):
            names |= _scope_names(inner)
    return {name for name in names if name is not None}


def layers_with_weights(model_config: Mapping[str, Any], weights: Sequence[Weight],
                        where: Path) -> list[tuple[str, list[Weight]]]:
    """Every top-level layer of ``model_config`` in model order with the weights it owns (manifest
    order kept).  A weight no layer owns is an InputError: tf-keras could not place it."""
    layers = [(name, layer) for layer in _layer_entries(model_config.get("config"))
              for name in [_layer_name(layer)] if name is not None]
    if not layers:
        raise InputError("modelTopology.model_config lists no layers", where)
    # A top-level layer's own name wins over the same name inside a nested model.
    owner: dict[str, str] = {}
    for name, layer in layers:
        for scope in _scope_names(layer):
            owner.setdefault(scope, name)
    for name, _ in layers:
        owner[name] = name
    owned: dict[str, list[Weight]] = {name: [] for name, _ in layers}
    for weight in weights:
        scope = weight.name.split("/", 1)[0]
        if scope not in owner:
            raise InputError(f"weight {weight.name!r} belongs to no layer of the model topology", where)
        owned[owner[scope]].append(weight)
    return [(name, owned[name]) for name, _ in layers]


# ----- the HDF5 file ------------------------------------------------------------------------------------

def _save_name_list(attrs: h5py.AttributeManager, name: str, values: Sequence[str]) -> None:
    if not values:
        attrs[name] = np.asarray([], dtype=np.float64)  # what tf-keras writes for an empty list
        return
    data = np.asarray([v.encode("utf-8") for v in values])
    chunks = 1
    while any(part.nbytes > _HDF5_ATTRIBUTE_LIMIT for part in np.array_split(data, chunks)):
        chunks += 1
    if chunks == 1:
        attrs[name] = data
    else:
        for index, part in enumerate(np.array_split(data, chunks)):
            attrs[f"{name}{index}"] = part


def _dataset(group: h5py.Group, path: str, data: np.ndarray) -> None:
    if data.dtype == object:  # strings (bytes or str elements)
        group.create_dataset(path, data=data, dtype=h5py.string_dtype())
    else:
        group.create_dataset(path, data=data)


def write_keras_h5(path: Path, *, keras_version: str, backend: str, model_config: Mapping[str, Any],
                   training_config: Optional[Mapping[str, Any]],
                   layers: Sequence[tuple[str, Sequence[Weight]]]) -> None:
    """Writes the model; weights are materialized one at a time."""
    names = [name for name, _ in layers]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:  # an .h5 file keys each layer's weights by its name (found by fuzzing)
        raise InputError(f"layer name(s) {', '.join(map(repr, twice))} appear more than once in the model; "
                         "a Keras .h5 file needs a distinct name per layer")
    # h5py reads "a/b" as group b inside group a, so it collides with a layer named "a".
    known = set(names)
    clashes = sorted(f"{prefix!r} and {name!r}" for name in names
                     for prefix in ("/".join(name.split("/")[:i]) for i in range(1, name.count("/") + 1))
                     if prefix in known)
    if clashes:
        raise InputError(f"layer names {', '.join(clashes)} collide in a Keras .h5 file, whose groups are "
                         "keyed by layer name with '/' as the path separator")
    try:
        with h5py.File(path, "w") as handle:
            handle.attrs["keras_version"] = keras_version
            handle.attrs["backend"] = backend
            handle.attrs["model_config"] = json.dumps(tf_keras_model_config(model_config))
            if training_config is not None:
                handle.attrs["training_config"] = json.dumps(training_config)
            root = handle.create_group("model_weights")
            _save_name_list(root.attrs, "layer_names", [name for name, _ in layers])
            root.attrs["backend"] = backend
            root.attrs["keras_version"] = keras_version
            for name, weights in layers:
                group = root.create_group(name)
                stored = [f"{weight.name}:0" for weight in weights]
                _save_name_list(group.attrs, "weight_names", stored)
                for weight, dataset in zip(weights, stored):
                    _dataset(group, dataset, weight.array())
    except OSError as exc:
        raise OutputError(f"cannot write the Keras HDF5 file: {exc}", path) from None


# ----- single-file output -------------------------------------------------------------------------------

