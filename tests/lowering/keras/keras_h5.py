"""Tiny tf-keras 2 layout .h5 models written with h5py (no Keras), for the lowering tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np


def input_layer(name: str = "x", shape: tuple[int, ...] = (3,)) -> dict[str, Any]:
    return {"class_name": "InputLayer", "name": name, "inbound_nodes": [],
            "config": {"batch_input_shape": [None, *shape], "dtype": "float32", "name": name}}


def layer(cls: str, name: str, source: str, **config: Any) -> dict[str, Any]:
    return {"class_name": cls, "name": name, "inbound_nodes": [[[source, 0, 0, {}]]],
            "config": {"name": name, "trainable": True, "dtype": "float32", **config}}


def functional(layers: list[dict[str, Any]], output: str, shape: tuple[int, ...] = (3,)) -> dict[str, Any]:
    return {"class_name": "Functional",
            "config": {"name": "model", "layers": [input_layer(shape=shape), *layers],
                       "input_layers": [["x", 0, 0]], "output_layers": [[output, 0, 0]]}}


def write_keras2_h5(path: Path, config: dict[str, Any], weights: dict[str, dict[str, np.ndarray]]) -> Path:
    """A tf-keras 2 layout .h5 (``weights``: layer -> {variable: array})."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.21.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = np.array([n.encode() for n in ["x", *weights]], dtype="S")
        group.create_group("x").attrs["weight_names"] = np.zeros((0,), "float64")
        for owner, arrays in weights.items():
            names = [f"{owner}/{w}:0" for w in arrays]
            sub = group.create_group(owner)
            sub.attrs["weight_names"] = np.array([n.encode() for n in names], dtype="S")
            for full, array in zip(names, arrays.values()):
                sub.create_dataset(full, data=array)
    return path


def dense(name: str = "d", units: int = 2, source: str = "x", **config: Any) -> dict[str, Any]:
    return layer("Dense", name, source, units=units, activation=config.pop("activation", "linear"),
                  use_bias=True, **config)


def dense_weights(rows: int = 3, units: int = 2) -> dict[str, np.ndarray]:
    return {"kernel": np.ones((rows, units), np.float32), "bias": np.zeros(units, np.float32)}
