"""Reading Keras HDF5 files (full model / weights only), built here with h5py, plus the route's errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional

import h5py
import numpy as np
import pytest

import tfjsconv
from tfjsconv.errors import InputError, UnsupportedError, UnsupportedLayersError
from tfjsconv.readers.keras.h5 import open_keras_h5, read_name_list

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "models"


def names_attr(names: list[str]) -> np.ndarray:
    # An empty list is how Keras writes it: a zero-length float64 array.
    return np.array([n.encode() for n in names], dtype="S") if names else np.zeros(0, np.float64)


def set_names(attrs: h5py.AttributeManager, key: str, names: list[str], chunks: int = 1) -> None:
    if chunks == 1:
        attrs[key] = names_attr(names)
        return
    size = -(-len(names) // chunks)
    for i in range(chunks):
        attrs[f"{key}{i}"] = names_attr(names[i * size:(i + 1) * size])


def write_h5(path: Path, layers: list[tuple[str, list[tuple[str, np.ndarray]]]], *,
             model_config: Optional[dict[str, Any]] = None, keras_version: str = "2.21.0",
             training_config: Optional[dict[str, Any]] = None, chunks: int = 1) -> Path:
    """A Keras-layout HDF5 file; ``model_config`` None writes a weights-only file (groups at the root)."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = keras_version
        f.attrs["backend"] = "tensorflow"
        if model_config is not None:
            f.attrs["model_config"] = json.dumps(model_config)
            if training_config is not None:
                f.attrs["training_config"] = json.dumps(training_config).encode()
            root = f.create_group("model_weights")
        else:
            root = f
        set_names(root.attrs, "layer_names", [name for name, _ in layers], chunks)
        # Create groups in reverse so HDF5's alphabetical/creation order cannot stand in for layer_names.
        for layer, weights in reversed(layers):
            group = root.create_group(layer)
            set_names(group.attrs, "weight_names", [w for w, _ in weights], chunks if weights else 1)
            for name, array in reversed(weights):
                group.create_dataset(name, data=array)
    return path


def dense_config(keras3: bool = False) -> dict[str, Any]:
    shape_key = "batch_shape" if keras3 else "batch_input_shape"
    return {"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "InputLayer", "config": {shape_key: [None, 3], "dtype": "float32", "name": "in"}},
        {"class_name": "Dense", "config": {"name": "zeta", "units": 2, "activation": "linear"}},
        {"class_name": "Dense", "config": {"name": "alpha", "units": 1, "activation": "linear"}}]}}


def dense_layers(keras3: bool = False) -> list[tuple[str, list[tuple[str, np.ndarray]]]]:
    suffix = "" if keras3 else ":0"
    prefix = "seq/" if keras3 else ""
    return [("in", []),
            ("zeta", [(f"{prefix}zeta/kernel{suffix}", np.arange(6, dtype=np.float32).reshape(3, 2)),
                      (f"{prefix}zeta/bias{suffix}", np.array([0.5, -0.5], np.float32))]),
            ("alpha", [(f"{prefix}alpha/kernel{suffix}", np.ones((2, 1), np.float64)),
                       (f"{prefix}alpha/bias{suffix}", np.zeros(1, np.float64))])]


# --- reader ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("chunks", [1, 2, 3])
def test_full_model_layers_and_weights_in_declared_order(tmp_path: Path, chunks: int) -> None:
    path = write_h5(tmp_path / "m.h5", dense_layers(), model_config=dense_config(),
                    training_config={"loss": "mse"}, chunks=chunks)
    with open_keras_h5(path) as model:
        assert model.keras_version == "2.21.0" and model.keras_major == 2
        assert model.backend == "tensorflow"
        assert model.model_config == dense_config()
        assert model.training_config == {"loss": "mse"}
        assert not model.weights_only
        assert [layer.name for layer in model.layers] == ["in", "zeta", "alpha"]
        assert [w.name for w in model.layers[1].weights] == ["zeta/kernel:0", "zeta/bias:0"]
        kernel = model.layers[1].weights[0].data
        assert kernel.shape == (3, 2) and kernel.dtype == np.float32
        np.testing.assert_array_equal(kernel.materialize(), np.arange(6).reshape(3, 2))
        assert model.layers[2].weights[1].data.dtype == np.float64
        assert model.layers[0].weights == ()


def test_weights_only_file(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "w.h5", dense_layers())
    with open_keras_h5(path) as model:
        assert model.weights_only and model.model_config is None
        assert [layer.name for layer in model.layers] == ["in", "zeta", "alpha"]
        np.testing.assert_array_equal(model.layers[1].weights[1].data.materialize(), [0.5, -0.5])


def test_read_name_list_handles_chunks_bytes_and_empty_arrays(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.attrs["names0"] = np.array([b"a", b"b"])
        f.attrs["names1"] = np.array([b"c"])
        f.attrs["names3"] = np.array([b"never read: names2 is missing"])
        f.attrs["empty"] = np.zeros(0, np.float64)
        f.attrs["strs"] = ["x", "y"]
        assert read_name_list(f.attrs, "names") == ["a", "b", "c"]
        assert read_name_list(f.attrs, "empty") == []
        assert read_name_list(f.attrs, "strs") == ["x", "y"]
        assert read_name_list(f.attrs, "absent") is None


def test_reader_opens_read_only(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "m.h5", dense_layers(), model_config=dense_config())
    with open_keras_h5(path) as model:
        dataset = model.layers[1].weights[0]
        assert dataset.data.materialize().sum() == 15
    with h5py.File(path, "r") as f:
        assert f.mode == "r"


@pytest.mark.parametrize("content, reason", [
    (b"this is not an HDF5 file at all\n" * 4, "not a readable HDF5 file"),
    (b"", "not a readable HDF5 file"),
])
def test_not_hdf5_is_an_input_error(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.h5"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        with open_keras_h5(path):
            pass
    assert str(info.value).startswith(f"{path}: {reason}")
    assert "\n" not in str(info.value)


def test_neither_model_config_nor_layer_names(tmp_path: Path) -> None:
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(InputError, match="neither a model_config attribute nor layer_names"):
        with open_keras_h5(path):
            pass


def test_keras3_weights_file_is_read_with_tfjs_names(tmp_path: Path) -> None:
    # save_weights("x.weights.h5"): positional variables, no weight_names (see test_keras_v3_weights).
    path = tmp_path / "m.weights.h5"
    with h5py.File(path, "w") as f:
        f.create_group("vars")
        f.create_dataset("layers/dense/vars/0", data=np.zeros((2, 2)))
        f["layers/dense/vars"].attrs["name"] = "logits"
    with open_keras_h5(path) as model:
        assert model.weights_only and model.tfjs_names and model.keras_version is None
        assert [(layer.name, [w.name for w in layer.weights]) for layer in model.layers] == [
            ("logits", ["logits/kernel"])]


def test_weight_listed_but_missing(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "m.h5", dense_layers(), model_config=dense_config())
    with h5py.File(path, "a") as f:
        del f["model_weights/zeta/zeta/bias:0"]
    with pytest.raises(InputError, match="lists weight 'zeta/bias:0' but the file has no such dataset"):
        with open_keras_h5(path):
            pass


# --- the route: errors are one line naming the file, and nothing is written -----------------------

def convert_error(src: Path, out: Path) -> Exception:
    with pytest.raises(Exception) as info:
        tfjsconv.convert(src, out, input_format="keras")
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}*")) and not list(out.parent.glob(f"{out.name}.*"))
    assert "\n" not in str(info.value) and str(src) in str(info.value)
    return info.value


def test_truncated_file(tmp_path: Path) -> None:
    whole = write_h5(tmp_path / "whole.h5", dense_layers(), model_config=dense_config())
    cut = tmp_path / "cut.h5"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    error = convert_error(cut, tmp_path / "out")
    assert isinstance(error, InputError)


def test_unknown_layer_classes_and_lambda_stop_before_writing(tmp_path: Path) -> None:
    config = dense_config(keras3=True)
    config["config"]["layers"] += [{"class_name": "Lambda", "config": {"name": "lam", "function": {
        "class_name": "__lambda__", "config": {"code": "4wEAAAAA"}}}},
        {"class_name": "SpectralNormalization", "config": {"name": "sn"}}]
    src = write_h5(tmp_path / "lam.h5", dense_layers(keras3=True), model_config=config,
                   keras_version="3.15.1")
    error = convert_error(src, tmp_path / "out")
    assert isinstance(error, UnsupportedLayersError) and isinstance(error, UnsupportedError)
    assert error.classes == ["Lambda", "SpectralNormalization"]
    assert "Python bytecode" in str(error)


def test_int64_weight_out_of_int32_range(tmp_path: Path) -> None:
    layers = [("in", []), ("emb", [("emb/embeddings:0", np.array([[1], [2**40]], np.int64))])]
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer",
         "config": {"batch_input_shape": [None, 1], "dtype": "float32", "name": "in"}},
        {"class_name": "Embedding", "config": {"name": "emb", "input_dim": 2, "output_dim": 1}}]}}
    src = write_h5(tmp_path / "big.h5", layers, model_config=config)
    error = convert_error(src, tmp_path / "out")
    assert isinstance(error, InputError) and "emb/embeddings" in str(error)


def test_input_file_is_not_modified(tmp_path: Path) -> None:
    src = write_h5(tmp_path / "m.h5", dense_layers(keras3=True), model_config=dense_config(keras3=True),
                   keras_version="3.15.1")
    before = (hashlib.sha256(src.read_bytes()).hexdigest(), src.stat().st_mtime_ns)
    report = tfjsconv.convert(src, tmp_path / "out", input_format="keras")
    assert (hashlib.sha256(src.read_bytes()).hexdigest(), src.stat().st_mtime_ns) == before
    assert report.files[0][0] == "model.json"


# --- committed fixtures (written by real tf-keras 2 / Keras 3) ------------------------------------

def h5_fixtures() -> list[Path]:
    sources = []
    for spec in sorted(FIXTURES.glob("keras*/fixture.json")):
        source = spec.parent / json.loads(spec.read_text())["source"]
        if source.suffix == ".h5":
            sources.append(source)
    return sources


@pytest.mark.parametrize("source", h5_fixtures(), ids=lambda p: p.parent.name)
def test_fixture_files_read_in_layer_order(source: Path) -> None:
    with open_keras_h5(source) as model, h5py.File(source, "r") as raw:
        if model.tfjs_names:  # Keras 3 weights layout: no layer_names to follow
            stored: list[str] = []
            raw["layers"].visit(lambda name: stored.append(name) if "/vars/" in name else None)
            assert sum(len(layer.weights) for layer in model.layers) == len(stored)
            return
        assert model.keras_major in (2, 3)
        root = raw if model.weights_only else raw["model_weights"]
        assert [layer.name for layer in model.layers] == read_name_list(root.attrs, "layer_names")
        for layer in model.layers:
            for weight in layer.weights:
                stored = root[layer.name][weight.name]
                assert weight.data.shape == stored.shape
                np.testing.assert_array_equal(weight.data.materialize(), stored[()])


BAD = sorted((FIXTURES.parent / "bad").glob("keras*.h5"))


@pytest.mark.parametrize("source", BAD, ids=lambda p: p.name)
def test_committed_bad_keras_files_are_refused(tmp_path: Path, source: Path) -> None:
    error = convert_error(source, tmp_path / "out")
    assert isinstance(error, UnsupportedLayersError)
    if "lambda" in source.name:
        assert error.classes == ["Lambda"] and "Python bytecode" in str(error)
