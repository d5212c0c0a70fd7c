"""TF.js layers models as input: re-sharding/re-quantizing and writing Keras HDF5 files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tfjs_runner import TfjsRunner

import tfjsconv
from tfjsconv.errors import InputError, OutputError
from tfjsconv.options import ConvertOptions
from tfjsconv.readers.tfjs.layers_model import read_tfjs_layers_model
from tfjsconv.routes.base import RouteContext
from tfjsconv.routes.tfjs_layers_routes import layers_model_to_keras_h5
from tfjsconv.writers.keras_h5_writer import tf_keras_model_config
from tfjsconv.writers.output_dir import atomic_output_file

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "models"
MODELS = ("keras2_conv_pool", "keras3_multi_io")


def _spec(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name / "fixture.json").read_text())


def _to_layers(name: str, out: Path, **options: Any) -> Path:
    tfjsconv.convert(FIXTURES / name / _spec(name)["source"], out, **options)
    return out


def _relayer(source: Path, out: Path, **options: Any) -> Path:
    tfjsconv.convert(source, out, input_format="tfjs_layers_model", output_format="tfjs_layers_model",
                     **options)
    return out


def _model_json(model_dir: Path) -> dict[str, Any]:
    return json.loads((model_dir / "model.json").read_text())


def _group_bytes(model_dir: Path, group: dict[str, Any]) -> bytes:
    return b"".join((model_dir / p).read_bytes() for p in group["paths"])


def _decoded(model_dir: Path) -> dict[str, np.ndarray]:
    model = read_tfjs_layers_model(model_dir)
    return {w.name: w.array() for w in model.weights()}


def _check_in_tfjs(tfjs: TfjsRunner, model_dir: Path, name: str, label: str) -> None:
    spec = _spec(name)
    inputs = np.load(FIXTURES / name / "inputs.npz")
    expected = np.load(FIXTURES / name / "expected.npz")
    outputs = tfjs.run(model_dir, "layers", [(k, inputs[k]) for k in spec["inputs"]], label=label)
    assert len(outputs) == len(spec["outputs"])
    for key, got in zip(spec["outputs"], outputs):
        np.testing.assert_allclose(got, expected[key], rtol=spec["rtol"], atol=spec["atol"], err_msg=key)


def _to_keras(source: Path, out_file: Path) -> Path:
    """The keras route placed as a single file, as api.convert does for file outputs."""
    with atomic_output_file(out_file) as staging:
        layers_model_to_keras_h5(RouteContext(source, staging, ConvertOptions(
            input_format="tfjs_layers_model", output_format="keras")))
    return out_file


# ----- tfjs_layers_model -> tfjs_layers_model ------------------------------------------------------------

def test_reshard_into_three_shards_keeps_bytes(tmp_path: Path) -> None:
    original = _to_layers("keras2_conv_pool", tmp_path / "a")
    before = _model_json(original)
    total = len(_group_bytes(original, before["weightsManifest"][0]))
    resharded = _relayer(original / "model.json", tmp_path / "b",
                         weight_shard_size_bytes=math.ceil(total / 3))
    after = _model_json(resharded)
    [group] = after["weightsManifest"]
    assert group["paths"] == [f"group1-shard{i}of3.bin" for i in (1, 2, 3)]
    assert _group_bytes(resharded, group) == _group_bytes(original, before["weightsManifest"][0])
    assert group["weights"] == before["weightsManifest"][0]["weights"]
    assert after["modelTopology"] == before["modelTopology"]


@pytest.mark.parametrize("name", MODELS)
def test_resharded_split_model_runs_in_tfjs(name: str, tfjs: TfjsRunner, tmp_path: Path) -> None:
    original = _to_layers(name, tmp_path / "a")
    resharded = _relayer(original, tmp_path / "b", weight_shard_size_bytes=100, split_weights_by_layer=True)
    manifest = _model_json(resharded)["weightsManifest"]
    for group in manifest:  # one layer per group: every name shares the part before its last '/'
        assert len({w["name"].rpartition("/")[0] for w in group["weights"]}) == 1
    assert len(manifest) > 1 and any(len(g["paths"]) > 1 for g in manifest)
    _check_in_tfjs(tfjs, resharded, name, f"reshard-{name}")


def test_uint8_requantization_error_is_within_half_a_step(tmp_path: Path) -> None:
    original = _to_layers("keras3_multi_io", tmp_path / "a")
    quantized = _relayer(original, tmp_path / "b", quantize_uint8=True)
    entries = {w["name"]: w for g in _model_json(quantized)["weightsManifest"] for w in g["weights"]}
    exact, approx = _decoded(original), _decoded(quantized)
    assert set(exact) == set(approx)
    for name, values in exact.items():
        q = entries[name]["quantization"]
        assert q["dtype"] == "uint8"
        # Nudging the range to hit 0 exactly can cost up to one more half step at the range ends.
        assert np.max(np.abs(approx[name] - values)) <= q["scale"] + 1e-6, name


def test_quantized_input_is_dequantized_like_decode_weight(tmp_path: Path) -> None:
    original = _to_layers("keras2_conv_pool", tmp_path / "a")
    quantized = _relayer(original, tmp_path / "b", quantize_uint8=True)
    restored = _relayer(quantized, tmp_path / "c")
    q_group = _model_json(quantized)["weightsManifest"][0]
    raw = np.frombuffer(_group_bytes(quantized, q_group), dtype=np.uint8)
    expected = []
    at = 0
    for entry in q_group["weights"]:
        count = int(np.prod(entry["shape"], dtype=np.int64))
        q = entry["quantization"]
        # decodeWeight: `v * scale + min` in JS doubles, stored into a Float32Array.
        expected.append((raw[at:at + count].astype(np.float64) * q["scale"] + q["min"]).astype("<f4"))
        at += count
    r_group = _model_json(restored)["weightsManifest"][0]
    assert all("quantization" not in w and w["dtype"] == "float32" for w in r_group["weights"])
    assert _group_bytes(restored, r_group) == b"".join(e.tobytes() for e in expected)


def _hand_made_model(directory: Path, weights: list[dict[str, Any]], payload: bytes,
                     extra: dict[str, Any]) -> Path:
    directory.mkdir()
    (directory / "w.bin").write_bytes(payload)
    document = {"format": "layers-model", "generatedBy": None, "convertedBy": "hand", **extra,
                "modelTopology": None, "weightsManifest": [{"paths": ["w.bin"], "weights": weights}]}
    (directory / "model.json").write_text(json.dumps(document))
    return directory


def test_int32_uint8_dequantization_rounds_like_math_round(tmp_path: Path) -> None:
    # v * 0.5 - 2 for v = 0..5 is -2, -1.5, -1, -0.5, 0, 0.5: Math.round sends ties to +infinity.
    entry = {"name": "t/ids", "shape": [6], "dtype": "int32",
             "quantization": {"dtype": "uint8", "min": -2.0, "scale": 0.5}}
    source = _hand_made_model(tmp_path / "in", [entry], bytes(range(6)), {})
    out = _relayer(source, tmp_path / "out")
    [group] = _model_json(out)["weightsManifest"]
    assert group["weights"] == [{"name": "t/ids", "shape": [6], "dtype": "int32"}]
    values = np.frombuffer(_group_bytes(out, group), dtype="<i4")
    assert values.tolist() == [-2, -1, -1, 0, 0, 1]


def test_float16_and_string_weights_are_decoded(tmp_path: Path) -> None:
    halves = np.array([1.5, -0.0001, 65504.0], dtype="<f2")
    strings = b"".join(len(s).to_bytes(4, "little") + s for s in (b"ab", b"", "\u00e9".encode()))
    weights = [{"name": "l/h", "shape": [3], "dtype": "float32",
                "quantization": {"dtype": "float16", "original_dtype": "float32"}},
               {"name": "l/s", "shape": [3], "dtype": "string"},
               {"name": "l/b", "shape": [2], "dtype": "bool"}]
    source = _hand_made_model(tmp_path / "in", weights, halves.tobytes() + strings + b"\x01\x00", {})
    decoded = _decoded(source)
    assert decoded["l/h"].tolist() == halves.astype(np.float32).tolist()
    assert decoded["l/s"].tolist() == [b"ab", b"", "\u00e9".encode()]
    assert decoded["l/b"].tolist() == [True, False]
    out = _relayer(source, tmp_path / "out")
    assert _group_bytes(out, _model_json(out)["weightsManifest"][0]) == (
        halves.astype("<f4").tobytes() + strings + b"\x01\x00")


def test_metadata_is_kept_and_extended(tmp_path: Path) -> None:
    original = _to_layers("keras2_conv_pool", tmp_path / "a", metadata={"owner": "me", "v": 1})
    out = _relayer(original, tmp_path / "b", metadata={"v": 2, "extra": [1, 2]})
    document = _model_json(out)
    assert document["userDefinedMetadata"] == {"owner": "me", "v": 2, "extra": [1, 2]}
    assert list(document) == ["format", "generatedBy", "convertedBy", "userDefinedMetadata",
                              "modelTopology", "weightsManifest"]
    assert document["modelTopology"] == _model_json(original)["modelTopology"]


def test_missing_shard_is_named(tmp_path: Path) -> None:
    original = _to_layers("keras2_conv_pool", tmp_path / "a", weight_shard_size_bytes=1000)
    victim = original / _model_json(original)["weightsManifest"][0]["paths"][1]
    victim.unlink()
    with pytest.raises(InputError, match="missing") as info:
        _relayer(original, tmp_path / "b")
    assert info.value.path == str(victim)
    assert not (tmp_path / "b").exists()


def test_short_shard_is_named(tmp_path: Path) -> None:
    original = _to_layers("keras2_conv_pool", tmp_path / "a", weight_shard_size_bytes=1000)
    last = original / _model_json(original)["weightsManifest"][0]["paths"][-1]
    last.write_bytes(last.read_bytes()[:-3])
    with pytest.raises(InputError, match="too short") as info:
        _relayer(original, tmp_path / "b")
    assert info.value.path == str(last)


# ----- tfjs_layers_model -> keras ----------------------------------------------------------------------

@pytest.mark.parametrize("name", MODELS)
def test_keras_h5_round_trip(name: str, tfjs: TfjsRunner, tmp_path: Path) -> None:
    first = _to_layers(name, tmp_path / "first")
    h5_file = _to_keras(first / "model.json", tmp_path / "back.h5")
    assert h5_file.is_file()
    second = _to_layers_from_h5(h5_file, tmp_path / "second")
    one, two = _model_json(first), _model_json(second)
    assert two["modelTopology"]["model_config"] == tf_keras_model_config(one["modelTopology"]["model_config"])
    a, b = _decoded(first), _decoded(second)
    assert sorted(a) == sorted(b)
    for weight in a:
        assert a[weight].tobytes() == b[weight].tobytes(), weight
    _check_in_tfjs(tfjs, second, name, f"h5-roundtrip-{name}")


def _to_layers_from_h5(h5_file: Path, out: Path) -> Path:
    tfjsconv.convert(h5_file, out, input_format="keras", output_format="tfjs_layers_model")
    return out


def test_keras_output_refuses_a_directory_and_weights_only_input(tmp_path: Path) -> None:
    original = _to_layers("keras2_conv_pool", tmp_path / "a")
    with pytest.raises(OutputError, match="directory"):
        _to_keras(original / "model.json", tmp_path)
    weights_only = _hand_made_model(tmp_path / "w", [{"name": "d/k", "shape": [1], "dtype": "float32"}],
                                    b"\x00" * 4, {})
    with pytest.raises(InputError, match="weights-only"):
        _to_keras(weights_only / "model.json", tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()


def test_reshard_refuses_a_manifest_without_a_weight_the_topology_needs(tmp_path: Path) -> None:
    # Found by the unseen-model sweep: the layers -> layers route copied such a model, and TF.js then
    # failed to load the output ("d1/kernel").
    source = _to_layers("keras2_conv_pool", tmp_path / "layers")
    document = _model_json(source)
    dropped = document["weightsManifest"][0]["weights"].pop(0)
    (source / "model.json").write_text(json.dumps(document))
    out = tmp_path / "again"
    with pytest.raises(InputError, match=f"missing {dropped['name'].rsplit('/', 1)[1]}"):
        _relayer(source / "model.json", out)
    assert not out.exists()
