"""The Keras 3 weights layout (``.keras`` archives and ``*.weights.h5``): naming by position, the
archive reader's guards, and real archives loaded in TF.js."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any, Optional

import h5py
import numpy as np
import pytest

import tfjsconv
from tfjsconv.errors import InputError, UnsupportedLayersError
from tfjsconv.readers.keras.archive import open_keras_archive
from tfjsconv.readers.keras.v3_weights import read_v3_weights, snake_case

ARCHIVES = Path(__file__).parents[1] / "data" / "archives"


def write_vars(group: h5py.Group, arrays: list[np.ndarray], name: Optional[str]) -> None:
    vars_group = group.create_group("vars")
    if name is not None:
        vars_group.attrs["name"] = name
    for i, array in enumerate(arrays):
        vars_group.create_dataset(str(i), data=array)


def names_of(layers: Any) -> list[str]:
    return [w.name for layer in layers for w in layer.weights]


def test_snake_case_keys() -> None:
    assert [snake_case(c) for c in ("Conv2D", "BatchNormalization", "PReLU", "LSTM", "InputLayer",
                                    "DepthwiseConv2D", "SimpleRNN", "Conv2DTranspose")] == [
        "conv2d", "batch_normalization", "p_re_lu", "lstm", "input_layer", "depthwise_conv2d", "simple_rnn",
        "conv2d_transpose"]


def sequential_config() -> dict[str, Any]:
    def dense(name: str, use_bias: bool) -> dict[str, Any]:
        return {"class_name": "Dense", "config": {"name": name, "units": 2, "use_bias": use_bias}}

    return {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 2], "name": "in"}},
        dense("first", True), dense("second", False),
        {"class_name": "BatchNormalization", "config": {"name": "bn", "center": False, "scale": True}},
        {"class_name": "DepthwiseConv2D", "config": {"name": "dw", "use_bias": True}}]}}


def test_pre_3_6_files_map_positional_keys_through_the_config(tmp_path: Path) -> None:
    # Keras < 3.6 wrote no `name` attributes: keys follow class names in model.layers order, and a
    # Sequential's InputLayer is not one of its layers.
    with h5py.File(tmp_path / "w.h5", "w") as f:
        layers = f.create_group("layers")
        write_vars(layers.create_group("dense"), [np.ones((2, 2)), np.zeros(2)], None)
        write_vars(layers.create_group("dense_1"), [np.full((2, 2), 3.0)], None)
        write_vars(layers.create_group("batch_normalization"), [np.ones(2), np.zeros(2), np.ones(2)], None)
        write_vars(layers.create_group("depthwise_conv2d"), [np.ones((3, 3, 2, 1)), np.zeros(2)], None)
        f.create_group("vars")
        result = read_v3_weights(f, tmp_path / "w.h5", sequential_config())
        assert [layer.name for layer in result] == ["first", "second", "bn", "dw"]
        assert names_of(result) == ["first/kernel", "first/bias", "second/kernel", "bn/gamma",
                                    "bn/moving_mean", "bn/moving_variance", "dw/depthwise_kernel", "dw/bias"]
        np.testing.assert_array_equal(result[1].weights[0].data.materialize(), np.full((2, 2), 3.0))


def test_config_and_stored_count_must_agree(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "w.h5", "w") as f:
        write_vars(f.create_group("layers").create_group("dense"), [np.ones((2, 2))], "first")
        with pytest.raises(InputError, match="stores 1 variable\\(s\\), its config implies 2"):
            read_v3_weights(f, tmp_path / "w.h5", sequential_config())


def test_without_config_counts_decide_or_the_layer_is_refused(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "w.h5", "w") as f:
        layers = f.create_group("layers")
        write_vars(layers.create_group("dense_3"), [np.ones((2, 2))], "logits")
        write_vars(layers.create_group("p_re_lu"), [np.ones(2)], "act")
        write_vars(layers.create_group("dropout"), [], "drop")
        result = read_v3_weights(f, tmp_path / "w.h5")
        assert names_of(result) == ["logits/kernel", "act/alpha"]
        write_vars(layers.create_group("batch_normalization"), [np.ones(2)] * 3, "bn")
        with pytest.raises(InputError, match="'bn' \\(batch_normalization\\) stores 3 variable\\(s\\), which "
                                             "does not tell"):
            read_v3_weights(f, tmp_path / "w.h5")


def test_unknown_layer_types_with_variables_are_refused(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "w.h5", "w") as f:
        write_vars(f.create_group("layers").create_group("scale_shift"), [np.ones((2, 2))], "ed")
        with pytest.raises(InputError, match="does not know their names"):
            read_v3_weights(f, tmp_path / "w.h5")


def test_variables_are_ordered_numerically(tmp_path: Path) -> None:
    # HDF5 lists 0, 1, 10, 11, 2, ...: the reader must not take that order.
    with h5py.File(tmp_path / "w.h5", "w") as f:
        group = f.create_group("layers").create_group("separable_conv2d")
        vars_group = group.create_group("vars")
        vars_group.attrs["name"] = "sep"
        for i in (2, 0, 1):
            vars_group.create_dataset(str(i), data=np.full(1, float(i)))
        (layer,) = read_v3_weights(f, tmp_path / "w.h5")
        assert [w.name for w in layer.weights] == ["sep/depthwise_kernel", "sep/pointwise_kernel", "sep/bias"]
        assert [float(w.data.materialize()[0]) for w in layer.weights] == [0.0, 1.0, 2.0]


# --- the archive reader ---------------------------------------------------------------------------

def make_archive(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def weights_bytes(build: Any) -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        build(f)
    return buffer.getvalue()


@pytest.mark.parametrize("members, message", [
    ({"metadata.json": b"{}"}, "no config.json"),
    ({"config.json": b"{not json"}, "config.json in the archive is not valid JSON"),
    ({"config.json": json.dumps(sequential_config()).encode(), "model.weights.npz": b"PK"},
     "does not unpickle"),
    ({"config.json": json.dumps(sequential_config()).encode()}, "no model.weights.h5"),
    ({"config.json": json.dumps(sequential_config()).encode(), "model.weights.h5": b"garbage"},
     "not a readable HDF5 file"),
])
def test_archive_problems_are_input_errors(tmp_path: Path, members: dict[str, bytes], message: str) -> None:
    path = make_archive(tmp_path / "m.keras", members)
    with pytest.raises(InputError, match=message):
        with open_keras_archive(path):
            pass


def test_zip_bomb_member_is_refused(tmp_path: Path) -> None:
    path = make_archive(tmp_path / "m.keras", {"config.json": json.dumps(sequential_config()).encode(),
                                               "model.weights.h5": bytes(8 << 20)}, zipfile.ZIP_DEFLATED)
    with pytest.raises(InputError, match="likely zip bomb"):
        with open_keras_archive(path):
            pass


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    path.write_bytes(b"plain text")
    with pytest.raises(InputError, match="not a readable .keras \\(zip\\) archive"):
        with open_keras_archive(path):
            pass


def test_lambda_in_archive_is_refused_before_any_weight_is_read(tmp_path: Path) -> None:
    config = sequential_config()
    config["config"]["layers"].append({"class_name": "Lambda", "config": {"name": "lam", "function": {
        "class_name": "__lambda__", "config": {"code": "4wEAAAAA"}}}})
    # The weights do not even fit the config: the Lambda must be reported first.
    data = weights_bytes(lambda f: write_vars(f.create_group("layers").create_group("einsum_dense"),
                                              [np.ones(1)], "x"))
    path = make_archive(tmp_path / "m.keras", {"config.json": json.dumps(config).encode(),
                                               "model.weights.h5": data})
    out = tmp_path / "out"
    with pytest.raises(UnsupportedLayersError, match="Python bytecode"):
        tfjsconv.convert(path, out, input_format="keras_keras")
    assert not out.exists()


# --- real archives in real TF.js ------------------------------------------------------------------

REAL = sorted(ARCHIVES.glob("*.keras"))


@pytest.mark.parametrize("archive", REAL, ids=lambda p: p.stem)
def test_real_keras3_archive_matches_keras_in_tfjs(tfjs: Any, tmp_path: Path, archive: Path) -> None:
    report = tfjsconv.convert(archive, tmp_path / "out")
    assert report.input_format == "keras_keras"
    model = json.loads((tmp_path / "out" / "model.json").read_text())
    assert model["generatedBy"] == "keras v3.15.1"
    with np.load(archive.with_suffix(".npz")) as data:
        inputs = [(k, data[k]) for k in sorted(k for k in data.files if k.startswith("in"))]
        expected = [data[k] for k in sorted(k for k in data.files if k.startswith("out"))]
    got = tfjs.run(tmp_path / "out", "layers", inputs)
    assert len(got) == len(expected)
    for actual, want in zip(got, expected):
        np.testing.assert_allclose(actual, want, rtol=1e-4, atol=1e-4)


def test_real_archive_weight_names() -> None:
    with open_keras_archive(ARCHIVES / "keras3_rnn.keras") as archive:
        layers = archive.layers()
    assert [layer.name for layer in layers] == ["emb", "lstm", "gru", "bi", "srnn"]
    assert names_of(layers) == [
        "emb/embeddings", "lstm/kernel", "lstm/recurrent_kernel", "lstm/bias", "gru/kernel",
        "gru/recurrent_kernel", "gru/bias", "bi/forward_lstm/kernel", "bi/forward_lstm/recurrent_kernel",
        "bi/forward_lstm/bias", "bi/backward_lstm/kernel", "bi/backward_lstm/recurrent_kernel",
        "bi/backward_lstm/bias", "srnn/kernel", "srnn/recurrent_kernel", "srnn/bias"]


def test_unzipped_archive_directory_converts_like_the_archive(tfjs: Any, tmp_path: Path) -> None:
    archive = ARCHIVES / "keras3_seq_nested.keras"
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(tmp_path / "model_dir")
    tfjsconv.convert(archive, tmp_path / "from_zip", input_format="keras_keras")
    tfjsconv.convert(tmp_path / "model_dir", tmp_path / "from_dir", input_format="keras_keras")
    zipped_json = json.loads((tmp_path / "from_zip" / "model.json").read_text())
    assert json.loads((tmp_path / "from_dir" / "model.json").read_text()) == zipped_json
    with np.load(archive.with_suffix(".npz")) as data:
        (got,) = tfjs.run(tmp_path / "from_dir", "layers", [("in0", data["in0"])])
        np.testing.assert_allclose(got, data["out0"], rtol=1e-4, atol=1e-4)


def test_variables_nobody_names_are_an_error_not_dropped(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "w.h5", "w") as f:
        group = f.create_group("layers").create_group("dense")
        write_vars(group, [np.ones((2, 2)), np.zeros(2)], "d")
        write_vars(group.create_group("mystery_attribute"), [np.ones(3)], "m")
        with pytest.raises(InputError, match="layers/dense stores 3 variables but tfjsconv could name only"):
            read_v3_weights(f, tmp_path / "w.h5")


def test_generic_rnn_takes_bias_flag_from_its_cell(tmp_path: Path) -> None:
    config = {"class_name": "Functional", "config": {"name": "f", "layers": [
        {"class_name": "InputLayer", "name": "in", "config": {"batch_shape": [None, 5, 3], "name": "in"}},
        {"class_name": "RNN", "name": "r", "config": {"name": "r", "cell": {
            "class_name": "LSTMCell", "config": {"name": "lstm_cell", "units": 4, "use_bias": False}}}}]}}
    with h5py.File(tmp_path / "w.h5", "w") as f:
        cell = f.create_group("layers").create_group("rnn").create_group("cell")
        write_vars(cell, [np.ones((3, 16)), np.ones((4, 16))], "lstm_cell")
        (layer,) = read_v3_weights(f, tmp_path / "w.h5", config)
    assert (layer.name, [w.name for w in layer.weights]) == ("r", ["r/kernel", "r/recurrent_kernel"])
