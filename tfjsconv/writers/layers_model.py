"""Writes a TF.js layers model: ``model.json`` (format "layers-model") plus weight shards.

Key order and content follow the official ``keras_h5_conversion.write_artifacts`` (OFFICIAL_CONVERTER.md
§2).  Weight names must equal what tfjs-layers calls a variable's ``originalName`` - ``<layer>/<weight>``
- because ``loadWeights`` matches by that name (with one fallback: it retries with the second-to-last
path component removed, which is how Keras 2's ``lstm/lstm_cell/kernel`` still finds ``lstm/kernel``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, Union

from ..errors import InputError
from ..version import CONVERTED_BY
from .model_json import write_model_json
from .weights import Weight, write_weights

QuantizationMap = Mapping[str, Union[bool, tuple[str, ...]]]

# Sub-object scopes Keras 3 puts between an RNN layer and its variables (`lstm/lstm_cell/kernel`);
# tfjs-layers creates the variables directly under the layer (`lstm/kernel`).
_RNN_CELL_SCOPE = re.compile(r"^(simple_rnn|lstm|gru|conv_lstm[123]d)_cell(_\d+)?$")


def keras2_weight_name(stored: str) -> str:
    """tf-keras names are already layer-scoped; only the TF variable suffix goes (``c1/kernel:0``)."""
    return re.sub(r":\d+$", "", stored)


def stacked_cells_to_tfjs(names: Sequence[str]) -> list[str]:
    """One layer's weight names with Keras's ``stacked_rnn_cells/<cell>`` scopes (``RNN([cell, ...])``)
    replaced by tfjs-layers' ``RNNCell_<i>`` (i = the cell's position in the stack)."""
    positions: dict[str, int] = {}
    renamed = []
    for name in names:
        parts = name.split("/")
        if "stacked_rnn_cells" in parts[:-2]:
            at = parts.index("stacked_rnn_cells")
            index = positions.setdefault("/".join(parts[:at + 2]), len(positions))
            parts = [*parts[:at], f"RNNCell_{index}", *parts[at + 2:]]
        renamed.append("/".join(parts))
    return renamed


def keras3_weight_name(stored: str, layer_classes: Mapping[str, str], model_names: frozenset[str]) -> str:
    """The tfjs-layers name of a weight Keras 3 stored under its variable path.

    Keras 3 paths carry the scopes of enclosing models (``seqm/dense/kernel``, or the Sequential's
    own name for its layers) and of sub-objects (RNN cells, a TimeDistributed's wrapped layer).
    tfjs-layers scopes a variable by the layer that owns it only - nested models included - and calls
    DepthwiseConv2D's kernel ``depthwise_kernel``.
    """
    parts = keras2_weight_name(stored).split("/")
    # The owner is the first layer named on the path that is not an enclosing model; whatever comes
    # before it is model scopes or name scopes (NASNet's `reduction_A_block_stem_1/...`).
    owners = [i for i, part in enumerate(parts[:-1]) if part in layer_classes]
    plain = [i for i in owners if parts[i] not in model_names]
    if owners:
        parts = parts[(plain or owners)[-1 if not plain else 0]:]
    owner, middle, leaf = parts[0], parts[1:-1], parts[-1]
    cls = layer_classes.get(owner)
    if cls == "TimeDistributed" and middle:
        middle = middle[1:]  # the wrapped layer's own name; TF.js builds it inside the wrapper's scope
    middle = [part for part in middle if not _RNN_CELL_SCOPE.match(part)]
    if cls == "DepthwiseConv2D" and not middle and leaf == "kernel":
        leaf = "depthwise_kernel"
    return "/".join([owner, *middle, leaf])


def weight_groups(layers: Sequence[tuple[str, Sequence[Weight]]], split_by_layer: bool) -> list[list[Weight]]:
    """One group for the whole model, or one per layer that has weights (``--split_weights_by_layer``).

    Raises InputError when two weights end up with the same name: TF.js could not tell them apart.
    """
    seen: dict[str, str] = {}
    for layer, weights in layers:
        for weight in weights:
            if weight.name in seen:
                raise InputError(f"duplicate weight name {weight.name!r} (layers {seen[weight.name]!r} "
                                 f"and {layer!r})")
            seen[weight.name] = layer
    if split_by_layer:
        return [list(weights) for _, weights in layers if weights]
    return [[weight for _, weights in layers for weight in weights]]


def layers_model_json(*, keras_version: Optional[str], backend: Optional[str],
                      model_config: Optional[Mapping[str, Any]], training_config: Optional[Mapping[str, Any]],
                      weights_manifest: list[dict[str, Any]],
                      metadata: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """The model.json object; ``model_config`` None means a weights-only model (no topology)."""
    has_topology = model_config is not None
    obj: dict[str, Any] = {
        "format": "layers-model",
        "generatedBy": f"keras v{keras_version}" if has_topology and keras_version else None,
        "convertedBy": CONVERTED_BY,
    }
    if metadata:
        obj["userDefinedMetadata"] = dict(metadata)
    topology: Optional[dict[str, Any]] = None
    if has_topology:
        topology = {"keras_version": keras_version, "backend": backend, "model_config": dict(model_config)}
        if training_config is not None:
            topology["training_config"] = dict(training_config)
    obj["modelTopology"] = topology
    obj["weightsManifest"] = weights_manifest
    return obj


def write_layers_model(out_dir: Path, *, keras_version: Optional[str], backend: Optional[str],
                       model_config: Optional[Mapping[str, Any]],
                       training_config: Optional[Mapping[str, Any]],
                       layers: Sequence[tuple[str, Sequence[Weight]]],
                       split_weights_by_layer: bool = False,
                       shard_size_bytes: int = 4 * 1024 * 1024,
                       quantization: Optional[QuantizationMap] = None,
                       metadata: Optional[Mapping[str, Any]] = None,
                       warnings: Optional[list[str]] = None) -> dict[str, Any]:
    """Writes weight shards and model.json into ``out_dir``; returns the model.json object.

    ``layers`` lists ``(layer name, weights already carrying their tfjs-layers names)`` in model order;
    ``warnings`` receives the weights writer's notes (unmatched quantization patterns, lossy values).
    """
    groups = weight_groups(layers, split_weights_by_layer)
    manifest = write_weights(groups, Path(out_dir), shard_size_bytes=shard_size_bytes,
                             quantization=quantization or None, warnings=warnings)
    obj = layers_model_json(keras_version=keras_version, backend=backend, model_config=model_config,
                            training_config=training_config, weights_manifest=manifest, metadata=metadata)
    write_model_json(Path(out_dir), obj)
    return obj
