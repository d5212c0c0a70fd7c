"""TF.js layers models back to Keras, checked without Keras: Keras 3 ``.keras`` archives (the round trip
fixture -> TF.js -> .keras has the weights layout Keras 3.15 itself wrote and reads back through
tfjsconv into the same numbers in the real TF.js) and tf-keras SavedModels (both the revivable layers
and the serving signature read back into the same numbers)."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from tfjs_runner import TfjsRunner

import tfjsconv
from tfjsconv.errors import InputError
from tfjsconv.readers.keras.archive import open_keras_archive
from tfjsconv.readers.tfjs.layers_model import read_tfjs_layers_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from e2e.fixture_cases import FixtureCase, compare_outputs, discover_cases  # noqa: E402

CASES = {case.name: case for case in discover_cases() if not case.variant}
# tf-keras and Keras 3 sources; RNNs and wrappers, nested models, multiple inputs and outputs.
ROUND_TRIP = ("keras2_dense_dropout_bn", "keras2_embedding_lstm", "keras2_nested_sequential",
              "keras3_bidirectional_simplernn", "keras3_time_distributed", "keras3_multi_io",
              "keras3zip_conv_variants", "keras2_misc_layers")
# Archives Keras 3.15 wrote: our rewrite must store every variable where Keras put it.
KERAS_WRITTEN = ("keras3zip_bidirectional_simplernn", "keras3zip_nested_sequential", "keras3zip_multi_io",
                 "keras3zip_time_distributed", "keras3zip_conv_variants", "keras3zip_dense_dropout_bn",
                 "keras3zip_embedding_lstm", "keras3zip_misc_layers")


def to_tfjs(case: FixtureCase, out: Path) -> Path:
    tfjsconv.convert(case.source, out, **case.convert_options())
    return out


def to_keras3(model_dir: Path, out: Path) -> Path:
    report = tfjsconv.convert(model_dir, out, output_format="keras_keras")
    assert report.input_format == "tfjs_layers_model" and report.files == ((out.name, out.stat().st_size),)
    return out


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_keras3_archive_round_trip_in_tfjs(tmp_path: Path, tfjs: TfjsRunner, name: str) -> None:
    case = CASES[name]
    archive = to_keras3(to_tfjs(case, tmp_path / "tfjs"), tmp_path / "model.keras")
    again = tmp_path / "tfjs_again"
    assert tfjsconv.convert(archive, again).input_format == "keras_keras"
    named = tfjs.run_named(again, "layers", case.inputs(), label=f"{name}-keras3")
    assert [key for key, _ in named] == list(case.spec["outputs"])
    compare_outputs([array for _, array in named], case.expected(), case.tolerance, f"{name} via .keras")


def _datasets(handle: h5py.File) -> dict[str, bytes]:
    """Every variable by path; a compiled model's optimizer state (TF.js keeps none) is left out."""
    found: dict[str, bytes] = {}
    handle.visititems(lambda path, obj: found.__setitem__(path, np.asarray(obj).tobytes())
                      if isinstance(obj, h5py.Dataset) and not path.startswith("optimizer") else None)
    return found


def _groups(handle: h5py.File) -> dict[str, Any]:
    found: dict[str, Any] = {}
    handle.visititems(lambda path, obj: found.__setitem__(path, dict(obj.attrs))
                      if isinstance(obj, h5py.Group) and not path.startswith("optimizer") else None)
    return found


@pytest.mark.parametrize("name", KERAS_WRITTEN)
def test_weights_layout_is_the_one_keras_wrote(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    ours = to_keras3(to_tfjs(case, tmp_path / "tfjs"), tmp_path / "model.keras")
    with zipfile.ZipFile(case.source) as original, zipfile.ZipFile(ours) as written:
        assert sorted(written.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        assert written.getinfo("model.weights.h5").compress_type == zipfile.ZIP_STORED
        (tmp_path / "keras.h5").write_bytes(original.read("model.weights.h5"))
        (tmp_path / "ours.h5").write_bytes(written.read("model.weights.h5"))
    with h5py.File(tmp_path / "keras.h5", "r") as keras_file, \
            h5py.File(tmp_path / "ours.h5", "r") as our_file:
        assert _datasets(our_file) == _datasets(keras_file)  # same paths, same bytes
        assert _groups(our_file) == _groups(keras_file)  # same groups, same `name` attributes


def _objects(obj: Any, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(obj, dict):
        if "class_name" in obj and "config" in obj:
            found.append(obj)
        for value in obj.values():
            _objects(value, found)
    elif isinstance(obj, list):
        for value in obj:
            _objects(value, found)
    return found


def test_config_is_in_keras3_form(tmp_path: Path) -> None:
    case = CASES["keras2_nested_sequential"]  # written by tf-keras: Keras 2 serialization in model.json
    ours = to_keras3(to_tfjs(case, tmp_path / "tfjs"), tmp_path / "model.keras")
    with zipfile.ZipFile(ours) as archive:
        config = json.loads(archive.read("config.json"))
        metadata = json.loads(archive.read("metadata.json"))
    assert metadata["keras_version"].startswith("3.")
    assert config["class_name"] == "Functional" and config["module"] == "keras.src.models.functional"
    for obj in _objects(config, []):
        if obj["class_name"] == "__keras_tensor__":
            assert set(obj["config"]) == {"shape", "dtype", "keras_history"}
            continue
        assert {"module", "registered_name"} <= set(obj), obj["class_name"]
        dtype = obj["config"].get("dtype")
        if obj["class_name"] not in ("InputLayer", "DTypePolicy") and dtype is not None:
            assert dtype["class_name"] == "DTypePolicy", obj["class_name"]
    layers = {layer["name"]: layer for layer in config["config"]["layers"]}
    calls = [node for layer in layers.values() for node in layer["inbound_nodes"]]
    assert calls and all(set(node) == {"args", "kwargs"} for node in calls)
    inner = next(layer for layer in layers.values() if layer["class_name"] == "Sequential")
    consumers = [node for layer in layers.values() for node in layer["inbound_nodes"]
                 if json.dumps(node).count(f'"{inner["name"]}"')]
    # Keras 3 numbers a nested model's first call 0 (Keras 2 and TF.js: 1).
    assert consumers and all(f'["{inner["name"]}", 0, 0]' in json.dumps(node) for node in consumers)


def test_keras3_reader_reads_back_the_tfjs_weights_bit_for_bit(tmp_path: Path) -> None:
    case = CASES["keras3_bidirectional_simplernn"]
    model_dir = to_tfjs(case, tmp_path / "tfjs")
    archive = to_keras3(model_dir, tmp_path / "model.keras")
    want = {w.name: w.array() for w in read_tfjs_layers_model(model_dir).weights()}
    with open_keras_archive(archive) as opened:
        got = {w.name: np.asarray(w.data.load()) for layer in opened.layers() for w in layer.weights}
    assert sorted(got) == sorted(want)
    for name, array in want.items():
        assert got[name].tobytes() == array.tobytes(), name


def test_weights_only_model_is_refused_with_one_line(tmp_path: Path) -> None:
    model_dir = to_tfjs(CASES["keras2_weights_only"], tmp_path / "tfjs")
    with pytest.raises(InputError) as caught:
        tfjsconv.convert(model_dir, tmp_path / "model.keras", output_format="keras_keras")
    assert "weights-only model" in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "model.keras").exists()


@pytest.mark.parametrize("output_format, target", [("keras", "model.h5"), ("keras_keras", "model.keras"),
                                                    ("keras_saved_model", "saved")])
@pytest.mark.parametrize("damage", ["config_as_int", "zero_pool"])
def test_malformed_model_config_is_refused_on_every_keras_route(tmp_path: Path, output_format: str,
                                                                 target: str, damage: str) -> None:
    # Found by fuzzing the keras_keras and keras_saved_model routes: each raised from the writers'
    # config interpretation (TypeError, AttributeError, ZeroDivisionError) instead of refusing.
    model_dir = to_tfjs(CASES["keras2_conv_pool"], tmp_path / "tfjs")
    document = json.loads((model_dir / "model.json").read_text())
    layers = document["modelTopology"]["model_config"]["config"]["layers"]
    if damage == "config_as_int":
        next(layer for layer in layers if layer["class_name"] == "Conv2D")["config"] = 7
    else:
        next(layer for layer in layers if "Pooling" in layer["class_name"])["config"]["pool_size"] = [0, 2]
    (model_dir / "model.json").write_text(json.dumps(document))
    with pytest.raises(InputError) as caught:
        tfjsconv.convert(model_dir, tmp_path / target, output_format=output_format)
    text = str(caught.value)
    assert "model_config" in text and str(model_dir / "model.json") in text and "\n" not in text
    assert not (tmp_path / target).exists()


# ----- keras_saved_model ----------------------------------------------------------------------------------

SAVED_MODEL_ROUND_TRIP = ("keras2_dense_dropout_bn", "keras3_multi_io", "keras2_nested_sequential",
                          "keras3_conv_variants", "keras3_misc_layers")


def to_keras_saved_model(model_dir: Path, out: Path) -> Path:
    report = tfjsconv.convert(model_dir, out, output_format="keras_saved_model")
    assert {name for name, _ in report.files} == {"saved_model.pb", "keras_metadata.pb"}
    return out


@pytest.mark.parametrize("name", SAVED_MODEL_ROUND_TRIP)
def test_keras_saved_model_round_trip_in_tfjs(tmp_path: Path, tfjs: TfjsRunner, name: str) -> None:
    """Both halves, read back by tfjsconv: the Keras layers (keras_metadata.pb + object graph +
    checkpoint) as a layers model, and the serving signature as a graph model."""
    case = CASES[name]
    saved = to_keras_saved_model(to_tfjs(case, tmp_path / "tfjs"), tmp_path / "sm")
    layers = tmp_path / "layers"
    report = tfjsconv.convert(saved, layers, input_format="keras_saved_model")
    assert report.output_format == "tfjs_layers_model"
    named = tfjs.run_named(layers, "layers", case.inputs(), label=f"{name}-keras_sm-layers")
    assert [key for key, _ in named] == list(case.spec["outputs"])
    compare_outputs([array for _, array in named], case.expected(), case.tolerance, f"{name} layers")
    graph = tmp_path / "graph"
    tfjsconv.convert(saved, graph, input_format="tf_saved_model")  # the serving signature
    keys = list(case.spec["outputs"])
    got = tfjs.run(graph, "graph", case.inputs(), keys, label=f"{name}-keras_sm-graph")
    compare_outputs(got, case.expected(), case.tolerance, f"{name} serving signature")


def test_keras_saved_model_layout(tmp_path: Path) -> None:
    from tfjsconv.readers.keras.saved_model import read_keras_metadata
    from tfjsconv.readers.tf.bundle import TensorBundle
    from tfjsconv.readers.tf.saved_model import read_saved_model

    model_dir = to_tfjs(CASES["keras2_nested_sequential"], tmp_path / "tfjs")
    saved = to_keras_saved_model(model_dir, tmp_path / "sm")
    meta = read_saved_model(saved).meta_graphs[0]
    nodes = meta.object_graph_def.nodes
    root = {c.local_name: c.node_id for c in nodes[0].children}
    assert nodes[0].user_object.identifier == "_tf_keras_network"
    weighted = sorted(k for k in root if k.startswith("layer_with_weights-"))
    assert weighted and all(root[k] in root.values() for k in weighted)
    metadata = {m.node_id: m for m in read_keras_metadata(saved / "keras_metadata.pb")}
    assert metadata[0].node_path == "root" and json.loads(metadata[0].metadata)["class_name"] == "Functional"
    for key in weighted:  # every weighted layer is rebuilt from its config with a known input shape
        layer = json.loads(metadata[root[key]].metadata)
        assert layer["build_input_shape"]["class_name"] == "TensorShape", layer["name"]
    want = {w.name: w.array() for w in read_tfjs_layers_model(model_dir).weights()}
    with TensorBundle.open(saved / "variables" / "variables") as bundle:
        graph = bundle.object_graph()
        assert graph is not None
        stored = {a.full_name: bundle.read(a.checkpoint_key) for n in graph.nodes for a in n.attributes}
    assert sorted(stored) == sorted(want)
    for name, array in want.items():
        assert stored[name].tobytes() == array.tobytes(), name
    assert all(key.startswith("layer_with_weights-") for key in
               (a.checkpoint_key for n in graph.nodes for a in n.attributes))
    assert set(meta.signature_def) == {"serving_default", "__saved_model_init_op"}
