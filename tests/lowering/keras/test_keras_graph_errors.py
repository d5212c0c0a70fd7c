"""Keras -> graph model: bad input and unlowerable layers give one clear line and write nothing."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from cli_checks import assert_clean_failure, run_cli
from keras_h5 import dense as _dense
from keras_h5 import dense_weights as _weights
from keras_h5 import functional as _functional
from keras_h5 import layer as _layer
from keras_h5 import write_keras2_h5 as _write

import tfjsconv
from tfjsconv.errors import ConverterError, InputError, UnsupportedError

ROOT = Path(__file__).resolve().parents[3]
BAD = ROOT / "fixtures" / "bad"


def _convert(model: Path, out: Path):  # type: ignore[no-untyped-def]
    return run_cli("--input_format", "keras", "--output_format", "tfjs_graph_model", str(model), str(out))


def _refused(model: Path, out: Path, error: type[ConverterError], *needles: str) -> str:
    """The API raises ``error`` naming the file and every needle, and writes nothing."""
    with pytest.raises(error) as info:
        tfjsconv.convert(str(model), str(out), input_format="keras", output_format="tfjs_graph_model")
    text = str(info.value)
    assert text.startswith(f"{model}: ") and "\n" not in text
    for needle in needles:
        assert needle in text, text
    assert not out.exists()
    return text


def test_unknown_activation(tmp_path: Path) -> None:
    model = _write(tmp_path / "m.h5", _functional([_dense(activation="swishy")], "d"), {"d": _weights()})
    line = assert_clean_failure(_convert(model, tmp_path / "out"), tmp_path / "out", "layer 'd' (Dense)",
                                "unknown activation 'swishy'")
    assert str(model) in line


def test_weight_shape_contradicts_config(tmp_path: Path) -> None:
    model = _write(tmp_path / "m.h5", _functional([_dense(units=2)], "d"), {"d": _weights(3, 5)})
    assert_clean_failure(_convert(model, tmp_path / "out"), tmp_path / "out", "layer 'd' (Dense)",
                         "'kernel' has shape (3, 5) but the config implies (3, 2)")


def test_layer_name_used_twice_with_different_weights(tmp_path: Path) -> None:
    config = _functional([_dense("d", 2), _dense("d", 4, source="d")], "d")
    model = _write(tmp_path / "m.h5", config, {"d": _weights(3, 2)})
    assert_clean_failure(_convert(model, tmp_path / "out"), tmp_path / "out",
                         "names 2 layers 'd'", "cannot be told apart")


def test_stored_weight_the_config_does_not_use(tmp_path: Path) -> None:
    layer = _dense(units=2)
    layer["config"]["use_bias"] = False
    model = _write(tmp_path / "m.h5", _functional([layer], "d"), {"d": _weights()})
    _refused(model, tmp_path / "out", InputError, "layer 'd' stores bias that its config does not use")


def test_every_unlowerable_layer_in_one_error(tmp_path: Path) -> None:
    layers = [_layer("Lambda", "lam", "x", function=["4wEAAA==", None, None]),
              _layer("my_pkg>Scale", "scale", "lam"),
              _layer("NotAKerasLayer", "odd", "scale"),
              _dense("d", source="odd", activation="nope")]
    model = _write(tmp_path / "m.h5", _functional(layers, "d"), {"d": _weights()})
    text = _refused(model, tmp_path / "out", UnsupportedError, "layer 'lam' (Lambda)", "never runs",
                    "layer 'scale' (my_pkg>Scale): a custom class",
                    "layer 'odd' (NotAKerasLayer): no lowering", "unknown activation 'nope'")
    assert text.count("layer '") == 4


def test_saved_lambda_and_custom_layers_refused(tmp_path: Path) -> None:
    for name, needle in (("keras2_lambda.h5", "(Lambda)"), ("keras3_lambda.h5", "(Lambda)"),
                         ("keras2_custom_layer.h5", "a custom class"),
                         ("keras3_custom_layer.h5", "a custom class")):
        _refused(BAD / name, tmp_path / name, UnsupportedError, needle)


def test_weights_only_file_needs_the_architecture(tmp_path: Path) -> None:
    source = ROOT / "fixtures" / "models" / "keras3zip_weightsonly_multi_io" / "model.weights.h5"
    _refused(source, tmp_path / "out", InputError, "weights-only", "needs the architecture")


def test_layers_route_points_to_the_graph_route(tmp_path: Path) -> None:
    """tfjs-layers has no causal padding; the graph route lowers it, and the layers refusal says so."""
    conv = _layer("Conv1D", "conv", "x", filters=2, kernel_size=[3], strides=[1], padding="causal",
                  data_format="channels_last", dilation_rate=[1], groups=1, activation="relu", use_bias=True)
    config = _functional([conv], "conv", shape=(8, 2))
    kernel = np.arange(12, dtype=np.float32).reshape(3, 2, 2) / 10
    model = _write(tmp_path / "m.h5", config, {"conv": {"kernel": kernel, "bias": np.zeros(2, np.float32)}})
    with pytest.raises(UnsupportedError) as info:
        tfjsconv.convert(str(model), str(tmp_path / "layers"), input_format="keras",
                         output_format="tfjs_layers_model")
    assert "padding='causal'" in str(info.value)
    assert "use --output_format=tfjs_graph_model" in str(info.value)
    tfjsconv.convert(str(model), str(tmp_path / "graph"), input_format="keras",
                     output_format="tfjs_graph_model")
    assert (tmp_path / "graph" / "model.json").is_file()


def _keras_archive(path: Path, config: dict[str, Any]) -> Path:
    weights = path.with_suffix(".weights.h5")
    with h5py.File(weights, "w") as f:
        f.create_group("layers")
        f.create_group("vars")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.write(weights, "model.weights.h5")
    return path


def test_library_model_config_suggests_a_saved_model(tmp_path: Path) -> None:
    config = {"module": "keras_hub.src.models.gemma.gemma_backbone", "class_name": "GemmaBackbone",
              "registered_name": "keras_hub>GemmaBackbone",
              "config": {"vocabulary_size": 100, "num_layers": 2}}
    model = _keras_archive(tmp_path / "backbone.keras", config)
    for output_format in ("tfjs_layers_model", "tfjs_graph_model"):
        with pytest.raises(UnsupportedError) as info:
            tfjsconv.convert(str(model), str(tmp_path / output_format), input_format="keras_keras",
                             output_format=output_format)
        text = str(info.value)
        assert "keras_hub>GemmaBackbone" in text and "without the code of keras_hub" in text, text
        assert "model.export(dir)" in text
        assert not (tmp_path / output_format).exists()


def test_unknown_tfjs_layer_classes_point_to_the_graph_route(tmp_path: Path) -> None:
    source = ROOT / "fixtures" / "models" / "kg_keras3_normalization" / "model.keras"
    with pytest.raises(UnsupportedError) as info:
        tfjsconv.convert(str(source), str(tmp_path / "layers"), input_format="keras_keras",
                         output_format="tfjs_layers_model")
    text = str(info.value)
    assert "GroupNormalization" in text and "use --output_format=tfjs_graph_model" in text


# The three bad inputs of issue 8, in every kind of source the graph route reads: a tf-keras .h5, a
# Keras 3 .keras archive and a TF.js layers model (the last two made by editing the config of a real
# fixture). Each gives one line naming the file, the documented exit code (errors.py: 2 bad input,
# 3 unsupported content) and writes nothing.
def _bad_config(config: dict[str, Any], kind: str) -> None:
    layers = config["config"]["layers"]
    dense = [entry for entry in layers if entry["class_name"] == "Dense"]
    if kind == "unknown_activation":
        dense[0]["config"]["activation"] = "swishy"
    elif kind == "weight_shape":
        dense[-1]["config"]["units"] += 1  # the stored kernel and bias keep the old width
    else:  # two layers of one class under one name, with weights of different shapes
        dense[1]["config"]["name"] = dense[0]["config"]["name"]
        dense[1]["name"] = dense[0]["config"]["name"]


def _bad_archive(tmp_path: Path, kind: str) -> Path:
    source = ROOT / "fixtures" / "models" / "keras3zip_dense_dropout_bn" / "model.keras"
    path = tmp_path / "bad.keras"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w") as archive:
        for member in original.namelist():
            data = original.read(member)
            if member == "config.json":
                config = json.loads(data)
                _bad_config(config, kind)
                data = json.dumps(config).encode()
            archive.writestr(member, data)
    return path


def _bad_layers_model(tmp_path: Path, kind: str) -> Path:
    source = ROOT / "fixtures" / "models" / "keras2_dense_dropout_bn" / "model.h5"
    path = tmp_path / "layers"
    tfjsconv.convert(str(source), str(path), input_format="keras", output_format="tfjs_layers_model")
    model = json.loads((path / "model.json").read_text(encoding="utf-8"))
    _bad_config(model["modelTopology"]["model_config"], kind)
    (path / "model.json").write_text(json.dumps(model), encoding="utf-8")
    return path


def _bad_h5(tmp_path: Path, kind: str) -> Path:
    if kind == "unknown_activation":
        config, weights = _functional([_dense(activation="swishy")], "d"), {"d": _weights()}
    elif kind == "weight_shape":
        config, weights = _functional([_dense(units=2)], "d"), {"d": _weights(3, 5)}
    else:
        config = _functional([_dense("d", 2), _dense("d", 4, source="d")], "d")
        weights = {"d": _weights(3, 2)}
    return _write(tmp_path / "bad.h5", config, weights)


BAD_SOURCES = {"keras": _bad_h5, "keras_keras": _bad_archive, "tfjs_layers_model": _bad_layers_model}
# kind -> (exit code, what the line says)
BAD_KINDS = {"unknown_activation": (3, "unknown activation 'swishy'"),
             "weight_shape": (2, "has shape"),
             "name_twice": (2, "cannot be told apart")}


@pytest.mark.parametrize("kind", sorted(BAD_KINDS))
@pytest.mark.parametrize("input_format", sorted(BAD_SOURCES))
def test_bad_input_one_line_exit_code_nothing_written(input_format: str, kind: str, tmp_path: Path) -> None:
    source = BAD_SOURCES[input_format](tmp_path, kind)
    before = sorted((p.relative_to(tmp_path), p.stat().st_size) for p in tmp_path.rglob("*"))
    out = tmp_path / "out"
    result = run_cli("--input_format", input_format, "--output_format", "tfjs_graph_model", str(source),
                     str(out))
    code, needle = BAD_KINDS[kind]
    line = assert_clean_failure(result, out, needle)
    assert result.returncode == code, (result.returncode, line)
    assert str(source) in line
    assert sorted((p.relative_to(tmp_path), p.stat().st_size) for p in tmp_path.rglob("*")) == before
