"""``.keras`` archives written by Keras 3 and by tf-keras 2 (the committed ``keras3zip_*`` fixtures):
which stored variable becomes which tfjs-layers weight, the tf-keras 2.13-2.15 group name, the model.json
a conversion writes, and damaged archives.  No Keras here: archives are read and rebuilt with zipfile and
h5py.  (Naming rules on hand-built files are in test_keras_v3_weights.py; TF.js runs of these fixtures
are in tests/e2e.)"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np
import pytest

import tfjsconv
from tfjsconv.errors import InputError, UnsupportedLayersError
from tfjsconv.readers.keras.archive import open_keras_archive

MODELS = Path(__file__).resolve().parents[3] / "fixtures" / "models"
WEIGHTS = "model.weights.h5"


def archive_of(fixture: str) -> Path:
    return MODELS / fixture / "model.keras"


def stored_weights(archive: Path) -> h5py.File:
    with zipfile.ZipFile(archive) as zipped:
        return h5py.File(io.BytesIO(zipped.read(WEIGHTS)), "r")


def rebuild(src: Path, dst: Path, *, edit_weights: Callable[[h5py.File], None] | None = None,
            edit_config: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """Copy an archive member by member, optionally changing its weights file or its config."""
    with zipfile.ZipFile(src) as zipped, zipfile.ZipFile(dst, "w") as out:
        for name in zipped.namelist():
            data = zipped.read(name)
            if name == WEIGHTS and edit_weights is not None:
                buffer = io.BytesIO(data)
                with h5py.File(buffer, "r+") as handle:
                    edit_weights(handle)
                data = buffer.getvalue()
            if name == "config.json" and edit_config is not None:
                config = json.loads(data)
                edit_config(config)
                data = json.dumps(config).encode("utf-8")
            out.writestr(name, data)
    return dst


def vars_groups(handle: h5py.File) -> Iterator[h5py.Group]:
    found: list[h5py.Group] = []
    handle.visititems(lambda key, obj: found.append(obj) if key.endswith("vars") else None)
    yield from found


def assert_named_like(archive: Path, expected: list[tuple[str, str]]) -> None:
    """The reader's (name, value) list equals ``expected`` (tfjs name, dataset path in the weights file)."""
    with open_keras_archive(archive) as opened:
        got = [(w.name, w.data.materialize()) for layer in opened.layers() for w in layer.weights]
    assert [name for name, _ in got] == [name for name, _ in expected]
    with stored_weights(archive) as handle:
        for (name, value), (_, path) in zip(got, expected):
            np.testing.assert_array_equal(value, handle[path][()], err_msg=name)


NESTED = [  # Keras 3 and tf-keras store the nested models under class-derived keys, not their names
    ("seq_bn/gamma", "layers/sequential/layers/batch_normalization/vars/0"),
    ("seq_bn/beta", "layers/sequential/layers/batch_normalization/vars/1"),
    ("seq_bn/moving_mean", "layers/sequential/layers/batch_normalization/vars/2"),
    ("seq_bn/moving_variance", "layers/sequential/layers/batch_normalization/vars/3"),
    ("seq_fc1/kernel", "layers/sequential/layers/dense/vars/0"),
    ("seq_fc1/bias", "layers/sequential/layers/dense/vars/1"),
    ("seq_fc2/kernel", "layers/sequential/layers/dense_1/vars/0"),
    ("seq_fc2/bias", "layers/sequential/layers/dense_1/vars/1"),
    ("fn_fc/kernel", "layers/functional/layers/dense/vars/0"),
    ("fn_fc/bias", "layers/functional/layers/dense/vars/1"),
    ("out/kernel", "layers/dense/vars/0"),
    ("out/bias", "layers/dense/vars/1"),
]

TIME_DISTRIBUTED = [  # the wrapped layer's variables carry the wrapper's name in TF.js
    ("td_conv/kernel", "layers/time_distributed/layer/vars/0"),
    ("td_conv/bias", "layers/time_distributed/layer/vars/1"),
    ("td_dense/kernel", "layers/time_distributed_2/layer/vars/0"),
    ("td_dense/bias", "layers/time_distributed_2/layer/vars/1"),
    ("td_head/kernel", "layers/time_distributed_3/layer/vars/0"),
    ("td_head/bias", "layers/time_distributed_3/layer/vars/1"),
]


def _bidirectional(layer: str, key: str, inner: str) -> list[tuple[str, str]]:
    return [(f"{layer}/{side}_{inner}/{var}", f"layers/{key}/{side}_layer/cell/vars/{i}")
            for side in ("forward", "backward")
            for i, var in enumerate(("kernel", "recurrent_kernel", "bias"))]


BIDIRECTIONAL = [
    *_bidirectional("bilstm", "bidirectional", "lstm"),
    ("rnn/kernel", "layers/simple_rnn/cell/vars/0"),
    ("rnn/recurrent_kernel", "layers/simple_rnn/cell/vars/1"),
    ("rnn/bias", "layers/simple_rnn/cell/vars/2"),
    *_bidirectional("bigru", "bidirectional_1", "gru"),
    ("out/kernel", "layers/dense/vars/0"),
    ("out/bias", "layers/dense/vars/1"),
]


@pytest.mark.parametrize("fixture, expected", [
    ("keras3zip_nested_sequential", NESTED),
    ("keras3zip_tfkeras_nested_sequential", NESTED),
    ("keras3zip_time_distributed", TIME_DISTRIBUTED),
    ("keras3zip_tfkeras_time_distributed", TIME_DISTRIBUTED),
    ("keras3zip_bidirectional_simplernn", BIDIRECTIONAL),
    ("keras3zip_tfkeras_bidirectional_simplernn", BIDIRECTIONAL),
])
def test_stored_variables_get_tfjs_layer_names(fixture: str, expected: list[tuple[str, str]]) -> None:
    assert_named_like(archive_of(fixture), expected)


def test_tf_keras_archives_record_no_names() -> None:
    # What makes the tf-keras fixtures worth having: every name comes from the positional key rule.
    # (tf-keras also keeps the Bidirectional's template layer as an extra, empty `layer` group.)
    with stored_weights(archive_of("keras3zip_tfkeras_bidirectional_simplernn")) as handle:
        groups = list(vars_groups(handle))
        assert groups and not any("name" in g.attrs for g in groups)
        assert "layers/bidirectional/layer/cell/vars" in handle
        assert len(handle["layers/bidirectional/layer/cell/vars"]) == 0
    with stored_weights(archive_of("keras3zip_bidirectional_simplernn")) as handle:
        assert handle["layers/bidirectional/vars"].attrs["name"] == "bilstm"


MULTI_IO = [  # model.layers order is not creation order: `score` (declared last) holds key dense_3
    ("dense_a/kernel", "layers/dense/vars/0"), ("dense_a/bias", "layers/dense/vars/1"),
    ("dense_b/kernel", "layers/dense_1/vars/0"), ("dense_b/bias", "layers/dense_1/vars/1"),
    ("dense_c/kernel", "layers/dense_2/vars/0"), ("dense_c/bias", "layers/dense_2/vars/1"),
    ("score/kernel", "layers/dense_3/vars/0"), ("score/bias", "layers/dense_3/vars/1"),
    ("class_probs/kernel", "layers/dense_4/vars/0"), ("class_probs/bias", "layers/dense_4/vars/1"),
]


def test_keras3_archive_without_name_attrs_maps_keys_through_config_order(tmp_path: Path) -> None:
    # Keras 3.0-3.5 wrote no `name` attributes; the config's layer order must give the same names.
    def strip(handle: h5py.File) -> None:
        for group in vars_groups(handle):
            group.attrs.pop("name", None)

    assert_named_like(archive_of("keras3zip_multi_io"), MULTI_IO)
    stripped = rebuild(archive_of("keras3zip_multi_io"), tmp_path / "m.keras", edit_weights=strip)
    with stored_weights(stripped) as handle:
        assert not any("name" in g.attrs for g in vars_groups(handle))
    assert_named_like(stripped, MULTI_IO)


def rename_layer_lists(handle: h5py.File) -> None:
    """Every `layers` group (top level and nested models) as tf-keras 2.13-2.15 named it."""
    paths: list[str] = []
    handle.visititems(lambda key, obj: paths.append(key)
                      if isinstance(obj, h5py.Group) and key.rsplit("/", 1)[-1] == "layers" else None)
    for path in sorted(paths, key=len, reverse=True):  # innermost first: outer moves change inner paths
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        handle.move(path, f"{parent}/_layer_checkpoint_dependencies".lstrip("/"))


@pytest.mark.parametrize("fixture, stored", [
    ("keras3zip_tfkeras_dense_dropout_bn", "_layer_checkpoint_dependencies/dense/vars/0"),
    ("keras3zip_tfkeras_nested_sequential",
     "_layer_checkpoint_dependencies/sequential/_layer_checkpoint_dependencies/dense/vars/0"),
])
def test_tf_keras_2_13_group_name_is_read_like_layers(tmp_path: Path, fixture: str, stored: str) -> None:
    # tf-keras 2.13-2.15 stored the layer lists under `_layer_checkpoint_dependencies`, with no `name`
    # attributes: the positional rule must work through that name too.
    source = archive_of(fixture)
    renamed = rebuild(source, tmp_path / "old.keras", edit_weights=rename_layer_lists)
    with stored_weights(renamed) as handle:
        assert "layers" not in handle and stored in handle
    with open_keras_archive(source) as new, open_keras_archive(renamed) as old:
        want = [(w.name, w.data.materialize()) for layer in new.layers() for w in layer.weights]
        got = [(w.name, w.data.materialize()) for layer in old.layers() for w in layer.weights]
    assert [n for n, _ in got] == [n for n, _ in want]
    assert len(got) >= 12 and got[0][0] in ("fc1/kernel", "seq_bn/gamma")
    for (name, a), (_, b) in zip(got, want):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_conversion_writes_keras2_topology_and_named_shards(tmp_path: Path) -> None:
    archive = archive_of("keras3zip_multi_io")
    tfjsconv.convert(archive, tmp_path / "out")
    model = json.loads((tmp_path / "out" / "model.json").read_text(encoding="utf-8"))
    assert list(model)[:2] == ["format", "generatedBy"] and model["format"] == "layers-model"
    assert model["generatedBy"] == "keras v3.15.1"
    topology = model["modelTopology"]
    assert topology["keras_version"] == "3.15.1"
    config = topology["model_config"]
    assert config["config"]["input_layers"] == [["a", 0, 0], ["b", 0, 0], ["c", 0, 0]]
    assert config["config"]["output_layers"] == [["score", 0, 0], ["class_probs", 0, 0]]
    text = json.dumps(config)
    for keras3_only in ('"module"', '"registered_name"', '"build_config"', '"compile_config"',
                        '"batch_shape"', "__keras_tensor__", "DTypePolicy"):
        assert keras3_only not in text, keras3_only
    concat = next(layer for layer in config["config"]["layers"] if layer["name"] == "concat")
    assert concat["inbound_nodes"] == [[["dense_a", 0, 0, {}], ["dense_b", 0, 0, {}], ["c", 0, 0, {}]]]
    # The shard holds the stored float32 values, in manifest order, byte for byte.
    (group,) = model["weightsManifest"]
    assert [w["name"] for w in group["weights"]] == [name for name, _ in MULTI_IO]
    with stored_weights(archive) as handle:
        want = b"".join(handle[path][()].astype("<f4").tobytes() for _, path in MULTI_IO)
    assert b"".join((tmp_path / "out" / p).read_bytes() for p in group["paths"]) == want


def test_nested_models_are_rewired_one_node_later(tmp_path: Path) -> None:
    # Keras 3 counts a nested model's first outside call as node 0; TF.js (like Keras 2) as node 1.
    for fixture in ("keras3zip_nested_sequential", "keras3zip_tfkeras_nested_sequential"):
        out = tmp_path / fixture
        tfjsconv.convert(archive_of(fixture), out)
        topology = json.loads((out / "model.json").read_text())["modelTopology"]
        layers = topology["model_config"]["config"]["layers"]
        by_name = {layer["name"]: layer for layer in layers}
        assert by_name["inner_fn"]["inbound_nodes"] == [[["inner_seq", 1, 0, {}]]], fixture
        assert by_name["concat"]["inbound_nodes"] == [[["inner_seq", 1, 0, {}], ["inner_fn", 1, 0, {}]]]


def test_unknown_layer_classes_are_listed_together_and_nothing_is_written(tmp_path: Path) -> None:
    def customize(config: dict[str, Any]) -> None:
        layers = config["config"]["layers"]
        layers[1]["class_name"], layers[1]["registered_name"] = "ScaleShift", "pkg>ScaleShift"
        layers[3]["class_name"], layers[3]["registered_name"] = "Squash", "pkg>Squash"

    archive = rebuild(archive_of("keras3zip_dense_dropout_bn"), tmp_path / "m.keras", edit_config=customize)
    out = tmp_path / "out"
    with pytest.raises(UnsupportedLayersError) as caught:
        tfjsconv.convert(archive, out)
    message = str(caught.value)
    assert "ScaleShift" in message and "Squash" in message and str(archive) in message
    assert not out.exists()


def _member_data_offset(archive: Path, member: str) -> int:
    with zipfile.ZipFile(archive) as zipped:
        info = zipped.getinfo(member)
    local_header = archive.read_bytes()[info.header_offset:info.header_offset + 30]
    name_len = int.from_bytes(local_header[26:28], "little")
    extra_len = int.from_bytes(local_header[28:30], "little")
    return info.header_offset + 30 + name_len + extra_len


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_damaged_weights_member_is_an_input_error(tmp_path: Path, compression: int) -> None:
    # Keras stores members uncompressed (a flipped byte fails the CRC check); a re-zipped archive is
    # deflated (a flipped byte breaks the zlib stream first).  Both must name the file, not crash.
    source = archive_of("keras3zip_dense_dropout_bn")
    repacked = tmp_path / "repacked.keras"
    with zipfile.ZipFile(source) as zipped, zipfile.ZipFile(repacked, "w", compression) as out:
        for name in zipped.namelist():
            out.writestr(name, zipped.read(name))
    data = bytearray(repacked.read_bytes())
    start = _member_data_offset(repacked, WEIGHTS)
    for i in range(start + 200, start + 400):
        data[i] ^= 0x5A
    damaged = tmp_path / "damaged.keras"
    damaged.write_bytes(bytes(data))
    out = tmp_path / "out"
    with pytest.raises(InputError) as caught:
        tfjsconv.convert(damaged, out, input_format="keras_keras")
    assert caught.value.path is not None and Path(caught.value.path) == damaged
    assert "corrupt" in str(caught.value)
    assert not out.exists()


def test_truncated_archive_is_an_input_error(tmp_path: Path) -> None:
    source = archive_of("keras3zip_conv_variants")
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    out = tmp_path / "out"
    with pytest.raises(InputError, match="not a readable .keras \\(zip\\) archive") as caught:
        tfjsconv.convert(truncated, out, input_format="keras_keras")
    assert Path(str(caught.value.path)) == truncated
    assert not out.exists()
