"""A TF.js layers model's weights in the Keras 3 layout (``model.weights.h5``, the layout
``readers/keras/v3_weights`` reads).

Keras 3 stores variables by position under the path of the object that owns them: a layer's
``layers/<key>/vars/0, 1, ...`` where ``<key>`` is the snake-cased class name made unique among its
siblings (``dense``, ``dense_1``), an RNN's cell under ``cell/vars``, Bidirectional's directions under
``forward_layer``/``backward_layer``, TimeDistributed's layer under ``layer``, and a nested model's
layers under its own ``layers`` group.  A Sequential's InputLayer is not among its layers; a
functional model's are.  Every object gets a ``vars`` group (empty when it owns no variable) whose
``name`` attribute is the object's name, as Keras >= 3.6 writes it.  Within one object, TF.js keeps
Keras's variable order, so the manifest order is the storage order.  Weights are written one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py

from ...errors import OutputError
from ...ir.weight import Weight
from ...readers.keras.v3_weights import snake_case
from ..keras_h5_writer import layers_with_weights

JsonDict = dict[str, Any]
_RNN_LAYERS = frozenset({"LSTM", "GRU", "SimpleRNN", "RNN", "ConvLSTM2D", "ConvLSTM1D", "ConvLSTM3D"})
_MODELS = {"Sequential": "Sequential", "Functional": "Functional", "Model": "Functional"}


def _name(entry: JsonDict) -> str:
    return str(entry.get("name") or (entry.get("config") or {}).get("name") or "")


def sibling_keys(entries: Sequence[JsonDict]) -> list[str]:
    """Keras 3's group keys for sibling objects: snake-cased class names, unique in list order."""
    used: dict[str, int] = {}
    keys = []
    for entry in entries:
        class_name = str(entry.get("class_name"))
        base = snake_case(_MODELS.get(class_name, class_name))
        count = used.get(base, 0)
        used[base] = count + 1
        keys.append(base if count == 0 else f"{base}_{count}")
    return keys


def _vars(group: h5py.Group, name: str, weights: Sequence[Weight]) -> None:
    vars_group = group.create_group("vars")
    vars_group.attrs["name"] = name
    for index, weight in enumerate(weights):
        vars_group.create_dataset(str(index), data=weight.array())


def _rnn_cell_name(class_name: str) -> str:
    return snake_case(class_name) + "_cell"


def _layer(group: h5py.Group, entry: JsonDict, weights: Sequence[Weight], where: Path) -> None:
    class_name = str(entry.get("class_name"))
    config = entry.get("config") or {}
    name = _name(entry)
    if class_name in _MODELS:
        _model(group, entry, weights, where)
        return
    if class_name in _RNN_LAYERS:
        _vars(group, name, [])
        _vars(group.create_group("cell"), _rnn_cell_name(class_name), weights)
        return
    inner = config.get("layer") if isinstance(config.get("layer"), dict) else None
    if class_name == "Bidirectional" and inner is not None:
        _vars(group, name, [])
        inner_name = _name(inner)
        for side in ("forward", "backward"):
            part = [w for w in weights if w.name.split("/")[1:2] == [f"{side}_{inner_name}"]]
            sub = dict(inner, config=dict(inner.get("config") or {}, name=f"{side}_{inner_name}"))
            _layer(group.create_group(f"{side}_layer"), sub, part, where)
        return
    if inner is not None:  # TimeDistributed (and other single-layer wrappers)
        _vars(group, name, [])
        _layer(group.create_group("layer"), inner, weights, where)
        return
    _vars(group, name, weights)


def _model(group: h5py.Group, entry: JsonDict, weights: Sequence[Weight], where: Path) -> None:
    config = entry.get("config") or {}
    layers = [layer for layer in (config.get("layers") or []) if isinstance(layer, dict)]
    if entry.get("class_name") == "Sequential" and layers and layers[0].get("class_name") == "InputLayer":
        layers = layers[1:]
    owned = dict(layers_with_weights({"config": {"layers": layers}}, weights, where)) if layers else {}
    container = group.create_group("layers")
    for key, layer in zip(sibling_keys(layers), layers):
        _layer(container.create_group(key), layer, owned.get(_name(layer), []), where)
    _vars(group, _name(entry) or str(config.get("name") or ""), [])


def write_keras3_weights(path: Path, model_config: JsonDict, weights: Sequence[Weight], where: Path) -> None:
    """Writes ``model.weights.h5`` for ``model_config`` (the TF.js, Keras 2 form topology)."""
    try:
        with h5py.File(path, "w") as handle:
            _model(handle, model_config, list(weights), where)
    except OSError as exc:
        raise OutputError(f"cannot write the Keras weights file: {exc}", path) from None
