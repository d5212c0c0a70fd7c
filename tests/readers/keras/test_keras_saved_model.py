"""tf-keras 2 SavedModel reader (keras_metadata.pb + object-graph weights) and its layers-model route."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import tfjsconv
from tfjsconv.errors import InputError
from tfjsconv.readers.keras.saved_model import open_keras_saved_model, parse_saved_metadata
from tfjsconv.readers.tf.bundle import TensorBundle

SAVED = Path(__file__).resolve().parents[3] / "fixtures" / "models" / "tf_tfkeras_savedmodel" / "saved_model"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _saved_object(node_id: int, path: str, identifier: str, metadata: str) -> bytes:
    body = (_varint(2 << 3) + _varint(node_id) + _field(3, path.encode()) + _field(4, identifier.encode())
            + _field(5, metadata.encode()) + _field(6, _varint(1 << 3) + _varint(2)))
    return _field(1, body)


def test_parse_saved_metadata_reads_every_node_field() -> None:
    long_json = json.dumps({"name": "x" * 300})  # a length needing a two-byte varint
    data = _saved_object(0, "root", "_tf_keras_network", "{}") + _saved_object(
        300, "root.layer-0", "_tf_keras_layer", long_json)
    nodes = parse_saved_metadata(data)
    assert [(n.node_id, n.node_path, n.identifier) for n in nodes] == [
        (0, "root", "_tf_keras_network"), (300, "root.layer-0", "_tf_keras_layer")]
    assert nodes[1].metadata == long_json


def test_parse_saved_metadata_rejects_truncated_bytes() -> None:
    data = _saved_object(0, "root", "_tf_keras_network", "{}")
    with pytest.raises(ValueError, match="truncated"):
        parse_saved_metadata(data[:-3])


def test_reader_binds_layer_weights_in_keras_order() -> None:
    model = open_keras_saved_model(SAVED)
    assert model.keras_version == "2.21.0"
    assert model.model_config["class_name"] == "Functional"
    conv = next(layer for layer in model.model_config["config"]["layers"] if layer["name"] == "conv")
    assert conv["config"]["kernel_size"] == [3, 3]  # the `__tuple__` wrapper is gone
    layers = {layer.name: [w.name for w in layer.weights] for layer in model.layers}
    assert list(layers) == ["image", "conv", "bn", "relu", "pool", "flatten", "probs"]
    assert layers["bn"] == ["bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_variance"]
    assert layers["probs"] == ["probs/kernel", "probs/bias"]
    kernel = next(w for layer in model.layers for w in layer.weights if w.name == "probs/kernel")
    with TensorBundle.open(SAVED / "variables" / "variables") as bundle:
        stored = bundle.read("layer_with_weights-2/kernel/.ATTRIBUTES/VARIABLE_VALUE")
    np.testing.assert_array_equal(np.asarray(kernel.data.materialize()), stored)
    assert stored.shape == (64, 3)


def test_missing_keras_metadata_points_to_tf_saved_model(tmp_path: Path) -> None:
    copy = tmp_path / "plain"
    shutil.copytree(SAVED, copy)
    (copy / "keras_metadata.pb").unlink()
    with pytest.raises(InputError, match="no keras_metadata.pb.*--input_format tf_saved_model"):
        open_keras_saved_model(copy)


def test_corrupt_keras_metadata_is_an_input_error(tmp_path: Path) -> None:
    copy = tmp_path / "broken"
    shutil.copytree(SAVED, copy)
    (copy / "keras_metadata.pb").write_bytes(b"\x0a\xff\xff")
    with pytest.raises(InputError, match="corrupt keras_metadata.pb"):
        open_keras_saved_model(copy)


@pytest.mark.parametrize("node_id", [-1, 10 ** 6])
def test_weight_pointing_outside_the_object_graph_is_refused(tmp_path: Path, node_id: int) -> None:
    # Found by fuzzing (IndexError); -1 would have read the last object of the graph instead.
    from tfjsconv._proto import saved_model_pb2

    copy = tmp_path / "broken"
    shutil.copytree(SAVED, copy)
    model = saved_model_pb2.SavedModel()
    model.ParseFromString((copy / "saved_model.pb").read_bytes())
    objects = model.meta_graphs[0].object_graph_def.nodes
    layer = next(c.node_id for c in objects[0].children if c.local_name == "layer_with_weights-0")
    listing = next(c.node_id for c in objects[layer].children if c.local_name == "variables")
    objects[listing].children[0].node_id = node_id
    (copy / "saved_model.pb").write_bytes(model.SerializeToString())
    with pytest.raises(InputError) as caught:
        open_keras_saved_model(copy)
    expected = f"refers to object {node_id}, outside the object graph of {len(objects)} objects"
    assert expected in str(caught.value)


def test_route_writes_weights_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "web"
    tfjsconv.convert(str(SAVED), str(out), input_format="keras_saved_model")
    model_json = json.loads((out / "model.json").read_text())
    assert model_json["format"] == "layers-model"
    assert model_json["modelTopology"]["backend"] == "tensorflow"
    manifest = model_json["weightsManifest"][0]
    names = [w["name"] for w in manifest["weights"]]
    assert names[:2] == ["conv/kernel", "conv/bias"] and names[-1] == "probs/bias"
    model = open_keras_saved_model(SAVED)
    expected = b"".join(np.asarray(w.data.materialize(), dtype="<f4").tobytes()
                        for layer in model.layers for w in layer.weights)
    written = b"".join((out / path).read_bytes() for path in manifest["paths"])
    assert written == expected
