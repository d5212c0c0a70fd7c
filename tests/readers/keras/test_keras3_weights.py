"""Keras 3 weights-only files (``model.save_weights("x.weights.h5")``): no config, variables stored by
position under class-derived keys, the owning object's name in each ``vars`` group (Keras >= 3.6).
Checked on the committed fixtures (``keras3_weights_only``, ``keras3zip_weightsonly_*``) and on files
built here with h5py; no Keras import.  TF.js runs of the fixtures (weights attached to their
``topology_from`` model) are in tests/e2e."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import h5py
import numpy as np
import pytest

import tfjsconv
from tfjsconv.errors import InputError
from tfjsconv.readers.keras.archive import open_keras_archive
from tfjsconv.readers.keras.h5 import open_keras_h5

MODELS = Path(__file__).resolve().parents[3] / "fixtures" / "models"
FIXTURE = MODELS / "keras3_weights_only" / "model.weights.h5"

FIXTURE_NAMES = [  # layer keys in file order: batch_normalization, batch_normalization_1, dense, ...
    ("bn1/gamma", "layers/batch_normalization/vars/0"),
    ("bn1/beta", "layers/batch_normalization/vars/1"),
    ("bn1/moving_mean", "layers/batch_normalization/vars/2"),
    ("bn1/moving_variance", "layers/batch_normalization/vars/3"),
    ("bn2/gamma", "layers/batch_normalization_1/vars/0"),
    ("bn2/beta", "layers/batch_normalization_1/vars/1"),
    ("bn2/moving_mean", "layers/batch_normalization_1/vars/2"),
    ("bn2/moving_variance", "layers/batch_normalization_1/vars/3"),
    ("fc1/kernel", "layers/dense/vars/0"),
    ("fc1/bias", "layers/dense/vars/1"),
    ("fc2/kernel", "layers/dense_1/vars/0"),
    ("fc2/bias", "layers/dense_1/vars/1"),
    ("probs/kernel", "layers/dense_2/vars/0"),
    ("probs/bias", "layers/dense_2/vars/1"),
]


def test_fixture_weights_get_layer_names_from_the_name_attributes() -> None:
    with open_keras_h5(FIXTURE) as model:
        assert model.weights_only and model.tfjs_names and model.model_config is None
        got = [(w.name, w.data.materialize()) for layer in model.layers for w in layer.weights]
        assert [layer.name for layer in model.layers] == ["bn1", "bn2", "fc1", "fc2", "probs"]
    assert [name for name, _ in got] == [name for name, _ in FIXTURE_NAMES]
    with h5py.File(FIXTURE, "r") as handle:
        for (name, value), (_, path) in zip(got, FIXTURE_NAMES):
            np.testing.assert_array_equal(value, handle[path][()], err_msg=name)


def test_fixture_converts_to_a_topology_free_model_json(tmp_path: Path) -> None:
    report = tfjsconv.convert(FIXTURE, tmp_path / "out")
    assert report.input_format == "keras"
    model = json.loads((tmp_path / "out" / "model.json").read_text(encoding="utf-8"))
    assert model["format"] == "layers-model"
    assert model["modelTopology"] is None and model["generatedBy"] is None
    (group,) = model["weightsManifest"]
    assert [(w["name"], w["dtype"]) for w in group["weights"]] == [(n, "float32") for n, _ in FIXTURE_NAMES]
    with h5py.File(FIXTURE, "r") as handle:
        assert [w["shape"] for w in group["weights"]] == [list(handle[p].shape) for _, p in FIXTURE_NAMES]
        want = b"".join(handle[path][()].astype("<f4").tobytes() for _, path in FIXTURE_NAMES)
    assert b"".join((tmp_path / "out" / p).read_bytes() for p in group["paths"]) == want


WEIGHTS_ONLY = sorted(p.parent.name for p in MODELS.glob("keras3zip_weightsonly_*/model.weights.h5"))


@pytest.mark.parametrize("fixture", WEIGHTS_ONLY)
def test_weights_file_names_equal_the_names_from_the_full_archive(fixture: str) -> None:
    # Without a config the reader has only keys and `name` attributes; it must still agree, name for
    # name and shape for shape, with what the same architecture's .keras archive gives.
    spec = json.loads((MODELS / fixture / "fixture.json").read_text(encoding="utf-8"))
    with open_keras_h5(MODELS / fixture / "model.weights.h5") as weights_only:
        got = {w.name: tuple(w.data.shape) for layer in weights_only.layers for w in layer.weights}
    with open_keras_archive(MODELS / spec["topology_from"] / "model.keras") as archive:
        want = {w.name: tuple(w.data.shape) for layer in archive.layers() for w in layer.weights}
    assert got == want
    assert len(got) >= 8


def write_vars(group: h5py.Group, arrays: Sequence[np.ndarray], name: Optional[str]) -> None:
    vars_group = group.create_group("vars")
    if name is not None:
        vars_group.attrs["name"] = name
    for i, array in enumerate(arrays):
        vars_group.create_dataset(str(i), data=array)


def values(n: int, shape: tuple[int, ...] = (2,)) -> list[np.ndarray]:
    return [np.full(shape, float(i), np.float32) for i in range(n)]


def rnn(group: h5py.Group, name: str, cell: str) -> None:
    write_vars(group, [], name)
    write_vars(group.create_group("cell"), values(3), cell)


def read_names(path: Path) -> list[tuple[str, float]]:
    with open_keras_h5(path) as model:
        weights = [w for layer in model.layers for w in layer.weights]
        return [(w.name, float(w.data.materialize().flat[0])) for w in weights]  # while the file is open


def test_sub_objects_are_named_like_tfjs_without_a_config(tmp_path: Path) -> None:
    path = tmp_path / "m.weights.h5"
    with h5py.File(path, "w") as f:
        write_vars(f, [], "model")
        layers = f.create_group("layers")
        rnn(layers.create_group("lstm_2"), "encoder", "lstm_cell")  # an RNN's variables sit in its cell
        bi = layers.create_group("bidirectional")
        write_vars(bi, [], "both_ways")
        for side in ("forward", "backward"):
            rnn(bi.create_group(f"{side}_layer"), f"{side}_gru", "gru_cell")
        seq = layers.create_group("sequential")  # nested model: its layers keep their own names
        write_vars(seq, [], "tower")
        write_vars(seq.create_group("layers").create_group("conv2d_transpose"), values(2), "up")
        write_vars(seq["layers"].create_group("embedding_4"), values(1), "tokens")
        write_vars(layers.create_group("layer_normalization"), values(2), "norm")
    assert read_names(path) == [
        ("both_ways/forward_gru/kernel", 0.0), ("both_ways/forward_gru/recurrent_kernel", 1.0),
        ("both_ways/forward_gru/bias", 2.0), ("both_ways/backward_gru/kernel", 0.0),
        ("both_ways/backward_gru/recurrent_kernel", 1.0), ("both_ways/backward_gru/bias", 2.0),
        ("norm/gamma", 0.0), ("norm/beta", 1.0),
        ("encoder/kernel", 0.0), ("encoder/recurrent_kernel", 1.0), ("encoder/bias", 2.0),
        ("up/kernel", 0.0), ("up/bias", 1.0), ("tokens/embeddings", 0.0),
    ]


def test_optional_variables_are_told_apart_by_their_count(tmp_path: Path) -> None:
    # No config to read use_bias/center/scale from: the stored count has to decide, or refuse.
    path = tmp_path / "m.weights.h5"
    with h5py.File(path, "w") as f:
        write_vars(f, [], "model")
        layers = f.create_group("layers")
        write_vars(layers.create_group("dense"), values(1, (2, 2)), "no_bias")
        write_vars(layers.create_group("batch_normalization"), values(2), "stats_only")
        write_vars(layers.create_group("depthwise_conv2d"), values(2, (3, 3, 2, 1)), "dw")
    assert read_names(path) == [("stats_only/moving_mean", 0.0), ("stats_only/moving_variance", 1.0),
                                ("no_bias/kernel", 0.0), ("dw/depthwise_kernel", 0.0), ("dw/bias", 1.0)]


def test_wrapped_layer_of_unknown_kind_is_a_clear_input_error(tmp_path: Path) -> None:
    # TimeDistributed(Conv2D(name="conv")) saved without its config: the key `time_distributed` and the
    # name `conv` do not say which class the wrapped layer has, so its variables cannot be named.
    path = tmp_path / "td.weights.h5"
    with h5py.File(path, "w") as f:
        write_vars(f, [], "model")
        td = f.create_group("layers").create_group("time_distributed")
        write_vars(td, [], "td_conv")
        write_vars(td.create_group("layer"), values(2, (3, 3, 2, 3)), "conv")
    out = tmp_path / "out"
    with pytest.raises(InputError) as caught:
        tfjsconv.convert(path, out)
    assert "'td_conv'" in str(caught.value) and Path(str(caught.value.path)) == path
    assert not out.exists()


def test_weights_file_without_layer_names_is_refused(tmp_path: Path) -> None:
    # tf-keras 2.x and Keras < 3.6 wrote no `name` attributes: `layers/dense` may hold the layer called
    # `fc1`, and naming its weights `dense/kernel` would not match the TF.js model that needs them.
    path = tmp_path / "unnamed.weights.h5"
    with h5py.File(FIXTURE, "r") as src, h5py.File(path, "w") as dst:
        src.copy(src["layers"], dst, "layers")
        dst.create_group("vars")
        groups: list[h5py.Group] = []
        dst.visititems(lambda key, obj: groups.append(obj) if key.endswith("vars") else None)
        for group in groups:
            if "name" in group.attrs:  # the root `vars` created above has none
                del group.attrs["name"]
        assert all("name" not in dst[f"layers/{key}/vars"].attrs for key in dst["layers"])
    out = tmp_path / "out"
    with pytest.raises(InputError) as caught:
        tfjsconv.convert(path, out)
    assert Path(str(caught.value.path)) == path and "'/layers/" in str(caught.value)
    assert not out.exists()
