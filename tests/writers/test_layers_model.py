"""The layers-model writer: model.json layout, weight groups and shards, and loading in real TF.js."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import tfjsconv
from tfjsconv.errors import InputError
from tfjsconv.version import CONVERTED_BY
from tfjsconv.writers.layers_model import layers_model_json, weight_groups, write_layers_model
from tfjsconv.writers.weights import Weight

CONFIG = {"class_name": "Sequential", "config": {"name": "s", "layers": []}}


def test_model_json_key_order_and_content() -> None:
    obj = layers_model_json(keras_version="2.21.0", backend="tensorflow", model_config=CONFIG,
                            training_config={"loss": "mse"}, weights_manifest=[{"paths": [], "weights": []}],
                            metadata={"labels": ["a", "b"]})
    assert list(obj) == ["format", "generatedBy", "convertedBy", "userDefinedMetadata", "modelTopology",
                         "weightsManifest"]
    assert obj["format"] == "layers-model"
    assert obj["generatedBy"] == "keras v2.21.0"
    assert obj["convertedBy"] == CONVERTED_BY
    assert obj["userDefinedMetadata"] == {"labels": ["a", "b"]}
    assert list(obj["modelTopology"]) == ["keras_version", "backend", "model_config", "training_config"]
    assert obj["modelTopology"]["model_config"] == CONFIG


def test_weights_only_model_json_has_null_topology() -> None:
    obj = layers_model_json(keras_version="2.21.0", backend="tensorflow", model_config=None,
                            training_config=None, weights_manifest=[], metadata={})
    assert obj == {"format": "layers-model", "generatedBy": None, "convertedBy": CONVERTED_BY,
                   "modelTopology": None, "weightsManifest": []}


def test_no_training_config_key_when_absent() -> None:
    obj = layers_model_json(keras_version="3.15.1", backend="jax", model_config=CONFIG, training_config=None,
                            weights_manifest=[])
    assert list(obj["modelTopology"]) == ["keras_version", "backend", "model_config"]
    assert "userDefinedMetadata" not in obj


def sample_layers() -> list[tuple[str, list[Weight]]]:
    return [("in", []),
            ("d1", [Weight("d1/kernel", np.arange(6, dtype=np.float64).reshape(2, 3)),
                    Weight("d1/bias", np.array([1.5, -2.0, 0.25], np.float32))]),
            ("flat", []),
            ("d2", [Weight("d2/kernel", np.full((3, 1), 7, np.float32))])]


def test_one_group_by_default_and_one_per_layer_when_split() -> None:
    layers = sample_layers()
    single = weight_groups(layers, False)
    assert [[w.name for w in g] for g in single] == [["d1/kernel", "d1/bias", "d2/kernel"]]
    assert [[w.name for w in g] for g in weight_groups(layers, True)] == [["d1/kernel", "d1/bias"],
                                                                         ["d2/kernel"]]


def test_duplicate_weight_names_are_refused() -> None:
    layers = [("a", [Weight("kernel", np.zeros(1))]), ("b", [Weight("kernel", np.zeros(1))])]
    with pytest.raises(InputError, match="duplicate weight name 'kernel' \\(layers 'a' and 'b'\\)"):
        weight_groups(layers, False)


def test_write_layers_model_bytes_and_shards(tmp_path: Path) -> None:
    obj = write_layers_model(tmp_path, keras_version="2.21.0", backend="tensorflow", model_config=CONFIG,
                             training_config=None, layers=sample_layers(), shard_size_bytes=16)
    assert json.loads((tmp_path / "model.json").read_text()) == obj
    group = obj["weightsManifest"]
    assert len(group) == 1
    # 6 + 3 + 3 float32 values = 48 bytes in 16-byte shards.
    assert group[0]["paths"] == ["group1-shard1of3.bin", "group1-shard2of3.bin", "group1-shard3of3.bin"]
    assert group[0]["weights"] == [{"name": "d1/kernel", "shape": [2, 3], "dtype": "float32"},
                                   {"name": "d1/bias", "shape": [3], "dtype": "float32"},
                                   {"name": "d2/kernel", "shape": [3, 1], "dtype": "float32"}]
    data = b"".join((tmp_path / p).read_bytes() for p in group[0]["paths"])
    expected = np.concatenate([np.arange(6), [1.5, -2.0, 0.25], [7, 7, 7]]).astype("<f4").tobytes()
    assert data == expected


def test_split_groups_and_quantization_are_forwarded(tmp_path: Path) -> None:
    obj = write_layers_model(tmp_path, keras_version="2.21.0", backend="tensorflow", model_config=CONFIG,
                             training_config=None, layers=sample_layers(), split_weights_by_layer=True,
                             quantization={"uint8": ("d1/*",)}, metadata={"k": 1})
    groups = obj["weightsManifest"]
    assert [g["paths"] for g in groups] == [["group1-shard1of1.bin"], ["group2-shard1of1.bin"]]
    kernel = groups[0]["weights"][0]
    assert kernel["quantization"]["dtype"] == "uint8"
    assert "quantization" not in groups[1]["weights"][0]
    assert (tmp_path / "group1-shard1of1.bin").stat().st_size == 9  # 6 + 3 uint8 values
    assert obj["userDefinedMetadata"] == {"k": 1}


# --- converted files run in real TF.js ----------------------------------------------------------

def names_attr(names: list[str]) -> np.ndarray:
    return np.array([n.encode() for n in names], dtype="S") if names else np.zeros(0, np.float64)


def keras3_nested_h5(path: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A Keras-3-style file: Functional(inp -> Sequential seqm[Dense, Dense] -> Dense head), all Keras 3
    idioms (batch_shape, DTypePolicy dicts, args/kwargs nodes, bare io triples, model-prefixed names)."""
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
              "registered_name": None}

    def dense(name: str, units: int, activation: str) -> dict[str, Any]:
        return {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
                "config": {"name": name, "trainable": True, "dtype": policy, "units": units,
                           "activation": activation, "use_bias": True, "quantization_config": None},
                "build_config": {"input_shape": [None, 4]}}

    def tensor(source: str) -> dict[str, Any]:
        return {"class_name": "__keras_tensor__",
                "config": {"shape": [None, 4], "dtype": "float32", "keras_history": [source, 0, 0]}}

    seqm = {"module": "keras", "class_name": "Sequential", "registered_name": None, "name": "seqm",
            "config": {"name": "seqm", "trainable": True, "dtype": policy, "layers": [
                {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                 "config": {"batch_shape": [None, 4], "dtype": "float32", "sparse": False, "ragged": False,
                            "name": "inner_in", "optional": False}},
                dense("h1", 5, "tanh"), dense("h2", 3, "relu")], "build_input_shape": [None, 4]},
            "inbound_nodes": [{"args": [tensor("inp")], "kwargs": {"mask": None}}]}
    head = dense("head", 2, "linear")
    head.update(name="head", inbound_nodes=[{"args": [tensor("seqm")], "kwargs": {}}])
    config = {"module": "keras.src.models.functional", "class_name": "Functional",
              "registered_name": "Functional",
              "config": {"name": "functional", "trainable": True, "layers": [
                  {"class_name": "InputLayer", "name": "inp", "inbound_nodes": [],
                   "config": {"batch_shape": [None, 4], "dtype": "float32", "sparse": False, "ragged": False,
                              "name": "inp", "optional": False}},
                  seqm, head], "input_layers": ["inp", 0, 0], "output_layers": ["head", 0, 0]}}
    w = {"h1/kernel": rng.normal(size=(4, 5)), "h1/bias": rng.normal(size=5),
         "h2/kernel": rng.normal(size=(5, 3)), "h2/bias": rng.normal(size=3),
         "head/kernel": rng.normal(size=(3, 2)), "head/bias": rng.normal(size=2)}
    w = {k: v.astype(np.float32) for k, v in w.items()}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "3.15.1"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        root = f.create_group("model_weights")
        root.attrs["layer_names"] = names_attr(["inp", "seqm", "head"])
        root.create_group("inp").attrs["weight_names"] = names_attr([])
        seq_names = [f"seqm/{k}" for k in ("h1/kernel", "h1/bias", "h2/kernel", "h2/bias")]
        group = root.create_group("seqm")
        group.attrs["weight_names"] = names_attr(seq_names)
        for name in seq_names:
            group.create_dataset(name, data=w[name[len("seqm/"):]])
        group = root.create_group("head")
        group.attrs["weight_names"] = names_attr(["head/kernel", "head/bias"])
        for name in ("head/kernel", "head/bias"):
            group.create_dataset(name, data=w[name])
    return w


def test_crafted_keras3_model_runs_in_tfjs(tfjs: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    w = keras3_nested_h5(tmp_path / "k3.h5", rng)
    out = tmp_path / "out"
    tfjsconv.convert(tmp_path / "k3.h5", out, input_format="keras", split_weights_by_layer=True)
    manifest = json.loads((out / "model.json").read_text())["weightsManifest"]
    assert [[e["name"] for e in g["weights"]] for g in manifest] == [
        ["h1/kernel", "h1/bias", "h2/kernel", "h2/bias"], ["head/kernel", "head/bias"]]
    x = rng.normal(size=(3, 4)).astype(np.float32)
    hidden = np.maximum(np.tanh(x @ w["h1/kernel"] + w["h1/bias"]) @ w["h2/kernel"] + w["h2/bias"], 0)
    expected = hidden @ w["head/kernel"] + w["head/bias"]
    (got,) = tfjs.run(out, "layers", [("inp", x)])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "models"
WEIGHTS_ONLY = sorted(p for p in FIXTURES.glob("keras*_weights_only") if (p / "fixture.json").is_file())


@pytest.mark.parametrize("fixture", WEIGHTS_ONLY, ids=lambda p: p.name)
def test_weights_only_output_loads_into_the_matching_topology(tfjs: Any, tmp_path: Path,
                                                              fixture: Path) -> None:
    """A weights-only conversion has no topology; its weight names must still be the ones tfjs-layers
    looks up, so the topology converted from the full model plus these weights must give Keras's
    outputs for these weights."""
    spec = json.loads((fixture / "fixture.json").read_text())
    topology_dir = FIXTURES / spec["topology_from"]
    topology_spec = json.loads((topology_dir / "fixture.json").read_text())
    tfjsconv.convert(topology_dir / topology_spec["source"], tmp_path / "topology", input_format="keras")
    report = tfjsconv.convert(fixture / spec["source"], tmp_path / "weights", input_format="keras")
    assert any("weights-only" in w for w in report.warnings)
    weights = json.loads((tmp_path / "weights" / "model.json").read_text())
    assert weights["modelTopology"] is None and weights["generatedBy"] is None
    combined = tmp_path / "combined"
    combined.mkdir()
    model = json.loads((tmp_path / "topology" / "model.json").read_text())
    model["weightsManifest"] = weights["weightsManifest"]
    (combined / "model.json").write_text(json.dumps(model))
    for group in weights["weightsManifest"]:
        for name in group["paths"]:
            (combined / name).write_bytes((tmp_path / "weights" / name).read_bytes())
    with np.load(fixture / "inputs.npz") as inputs, np.load(fixture / "expected.npz") as expected:
        got = tfjs.run(combined, "layers", [(name, inputs[name]) for name in spec["inputs"]])
        for actual, name in zip(got, spec["outputs"]):
            np.testing.assert_allclose(actual, expected[name], rtol=1e-4, atol=1e-4)
