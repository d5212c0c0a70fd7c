"""Small Keras-2-layout HDF5 files built with h5py, for error-path tests (no Keras needed)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np


def dense_layer(name: str, units: int) -> dict:
    return {"class_name": "Dense", "config": {"name": name, "trainable": True, "dtype": "float32",
                                             "units": units, "activation": "linear", "use_bias": True}}


def sequential_config(layers: list[dict], input_dim: int = 3) -> dict:
    inp = {"class_name": "InputLayer", "config": {"batch_input_shape": [None, input_dim], "dtype": "float32",
                                                  "sparse": False, "ragged": False, "name": "input_1"}}
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [inp, *layers]}}


def write_keras2_h5(path: Path, config: dict, weights: dict[str, dict[str, np.ndarray]]) -> Path:
    """``weights`` maps layer name -> {weight name without ':0' -> array}."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.21.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = np.array([n.encode() for n in weights], dtype="S")
        group.attrs["backend"] = "tensorflow"
        group.attrs["keras_version"] = "2.21.0"
        for layer, arrays in weights.items():
            layer_group = group.create_group(layer)
            names = [f"{layer}/{w}:0" for w in arrays]
            layer_group.attrs["weight_names"] = np.array([n.encode() for n in names], dtype="S")
            for full, array in zip(names, arrays.values()):
                layer_group.create_dataset(full, data=array)
    return path


def dense_model(path: Path, kernel_dtype: str = "float32", kernel_value: float = 0.5) -> Path:
    kernel = np.full((3, 2), kernel_value).astype(kernel_dtype)
    bias = np.zeros(2, np.float32)
    return write_keras2_h5(path, sequential_config([dense_layer("dense", 2)]),
                           {"dense": {"kernel": kernel, "bias": bias}})
