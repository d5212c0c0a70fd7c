"""Broken Keras inputs: every one must fail with ONE clear line naming the file (a ConverterError),
never another exception, and leave no output directory.  The broken files are made here from the
committed fixtures with h5py / zipfile / byte surgery."""

from __future__ import annotations

import json
import random
import shutil
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import h5py
import numpy as np
import pytest

import tfjsconv
from tfjsconv.errors import ConverterError, InputError, UnsupportedError

MODELS = Path(__file__).resolve().parents[3] / "fixtures" / "models"
H5_SOURCES = ("keras2_dense_dropout_bn/model.h5", "keras3_embedding_lstm/model.h5",
              "keras2_conv_variants/model.h5")
ZIP_SOURCES = ("keras3zip_multi_io/model.keras", "keras3zip_tfkeras_embedding_lstm/model.keras")


def failure(src: Path, out: Path) -> ConverterError:
    """Converts and returns the ConverterError, checking the one-line / file-named / no-output rules."""
    with pytest.raises(ConverterError) as info:
        tfjsconv.convert(src, out)
    error = info.value
    text = str(error)
    assert "\n" not in text, text
    assert str(src) in text, f"the message does not name the file: {text}"
    assert not out.exists(), "a failed conversion left an output directory"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")], "temp dir left"
    return error


def converts_or_fails_cleanly(src: Path, out: Path) -> str:
    """For damage that may hit only weight values: success, or a clean ConverterError."""
    try:
        tfjsconv.convert(src, out)
    except ConverterError as error:
        assert "\n" not in str(error) and str(src) in str(error), str(error)
        assert not out.exists()
        return "refused"
    assert (out / "model.json").is_file()
    shutil.rmtree(out)
    return "converted"


def copy_source(name: str, tmp_path: Path, as_name: Optional[str] = None) -> Path:
    src = MODELS / name
    dst = tmp_path / (as_name or Path(name).name)
    shutil.copyfile(src, dst)
    return dst


# --- byte-level damage --------------------------------------------------------------------------


@pytest.mark.parametrize("name", H5_SOURCES + ZIP_SOURCES)
@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.1, 0.35, 0.6, 0.9, 0.995])
def test_truncated_file(name: str, fraction: float, tmp_path: Path) -> None:
    src = copy_source(name, tmp_path)
    data = src.read_bytes()
    src.write_bytes(data[:int(len(data) * fraction)])
    failure(src, tmp_path / "out")


def _mutated(data: bytes, rng: random.Random, kind: str) -> bytes:
    out = bytearray(data)
    if kind == "flip":
        for _ in range(rng.randint(1, 24)):
            at = rng.randrange(len(out))
            out[at] ^= 1 << rng.randrange(8)
    else:
        at = rng.randrange(len(out))
        size = rng.randint(1, 4096)
        out[at:at + size] = bytes(len(out[at:at + size]))
    return bytes(out)


@pytest.mark.parametrize("name", H5_SOURCES + ZIP_SOURCES)
@pytest.mark.parametrize("kind", ["flip", "zero"])
def test_random_damage_never_escapes(name: str, kind: str, tmp_path: Path) -> None:
    """Seeded bit flips / zero-filled regions anywhere: converted (only values hit) or refused cleanly."""
    rng = random.Random(f"{name}/{kind}")
    original = (MODELS / name).read_bytes()
    outcomes = []
    for i in range(25):
        src = tmp_path / f"m{i}{Path(name).suffix}"
        src.write_bytes(_mutated(original, rng, kind))
        outcomes.append(converts_or_fails_cleanly(src, tmp_path / f"out{i}"))
    assert "refused" in outcomes  # the damage did reach structures, not only weight values


@pytest.mark.parametrize("kind", ["flip", "zero", "truncate"])
def test_damaged_zip_members(kind: str, tmp_path: Path) -> None:
    """A well-formed zip whose members are damaged (the zip CRCs match the damaged bytes)."""
    rng = random.Random(kind)
    source = MODELS / ZIP_SOURCES[0]
    with zipfile.ZipFile(source) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    outcomes = []
    for i in range(30):
        victim = sorted(members)[i % len(members)]
        src = tmp_path / f"m{i}.keras"
        with zipfile.ZipFile(src, "w") as out:
            for member, data in members.items():
                if member == victim:
                    cut = rng.randrange(len(data))
                    data = data[:cut] if kind == "truncate" else _mutated(data, rng, kind)
                out.writestr(member, data)
        outcomes.append((victim, converts_or_fails_cleanly(src, tmp_path / f"out{i}")))
    if kind == "truncate":  # a truncated config or weights file can never be a model
        assert all(result == "refused" for member, result in outcomes if member != "metadata.json"), outcomes


def _gcol_free_space_header(data: bytes) -> int:
    """Offset of the free-space object header (index 0) of the first global heap collection."""
    start = data.index(b"GCOL\x01\x00\x00\x00")
    size = struct.unpack_from("<Q", data, start + 8)[0]
    pos = start + 16
    while pos < start + size:
        index = struct.unpack_from("<H", data, pos)[0]
        object_size = struct.unpack_from("<Q", data, pos + 8)[0]
        if index == 0:
            return pos
        pos += 16 + (object_size + 7) // 8 * 8
    raise AssertionError("no free-space object")


def test_zeroed_global_heap_object_does_not_hang(tmp_path: Path) -> None:
    """HDF5 2.0 loops forever reading strings from a collection with a zero-sized object (found by
    fuzzing); the converter must refuse the file instead."""
    src = copy_source(H5_SOURCES[0], tmp_path)
    data = bytearray(src.read_bytes())
    at = _gcol_free_space_header(bytes(data))
    data[at:at + 16] = bytes(16)
    src.write_bytes(bytes(data))
    error = failure(src, tmp_path / "out")
    assert isinstance(error, InputError) and "global heap" in str(error)


def test_zeroed_global_heap_inside_keras_archive(tmp_path: Path) -> None:
    with zipfile.ZipFile(MODELS / ZIP_SOURCES[0]) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    weights = bytearray(members["model.weights.h5"])
    at = _gcol_free_space_header(bytes(weights))
    weights[at:at + 16] = bytes(16)
    members["model.weights.h5"] = bytes(weights)
    src = tmp_path / "model.keras"
    with zipfile.ZipFile(src, "w") as out:
        for member, data in members.items():
            out.writestr(member, data)
    assert "global heap" in str(failure(src, tmp_path / "out"))


# --- wrong kinds of files ----------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".h5", ".hdf5", ".keras"])
@pytest.mark.parametrize("content", [b"", b"hello, not a model\n", b"\x89PNG\r\n\x1a\n" + bytes(64),
                                     b"PK\x03\x04" + bytes(40), b"{\"class_name\": \"Sequential\"}"])
def test_wrong_content_with_keras_extension(suffix: str, content: bytes, tmp_path: Path) -> None:
    src = tmp_path / f"model{suffix}"
    src.write_bytes(content)
    failure(src, tmp_path / "out")


@pytest.mark.parametrize("input_format", [None, "keras", "keras_keras"])
def test_wrong_content_with_explicit_format(input_format: Optional[str], tmp_path: Path) -> None:
    src = tmp_path / "model.keras"
    src.write_bytes(b"\x00" * 100)
    with pytest.raises(ConverterError) as info:
        tfjsconv.convert(src, tmp_path / "out", **({"input_format": input_format} if input_format else {}))
    assert str(src) in str(info.value) and not (tmp_path / "out").exists()


def test_zip_without_keras_members(tmp_path: Path) -> None:
    src = tmp_path / "model.keras"
    with zipfile.ZipFile(src, "w") as out:
        out.writestr("readme.txt", "nothing here")
    failure(src, tmp_path / "out")


def test_h5_file_inside_a_keras_name(tmp_path: Path) -> None:
    """An HDF5 model with a .keras name still converts (detection looks at the bytes)."""
    src = copy_source(H5_SOURCES[0], tmp_path, "model.keras")
    assert converts_or_fails_cleanly(src, tmp_path / "out") == "converted"


@pytest.mark.parametrize("name", ["model.h5", "model.keras", "weights.hdf5"])
@pytest.mark.parametrize("input_format", [None, "keras", "keras_keras"])
def test_directory_named_like_a_file(name: str, input_format: Optional[str], tmp_path: Path) -> None:
    src = tmp_path / name
    src.mkdir()
    (src / "junk.txt").write_text("x")
    with pytest.raises(ConverterError) as info:
        tfjsconv.convert(src, tmp_path / "out", **({"input_format": input_format} if input_format else {}))
    assert str(src) in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


# --- damaged HDF5 structure, written with h5py ----------------------------------------------------


def edited_h5(tmp_path: Path, edit: Callable[[h5py.File], None], source: str = H5_SOURCES[0]) -> Path:
    src = copy_source(source, tmp_path)
    with h5py.File(src, "r+") as f:
        edit(f)
    return src


def _set_attr(key: str, value: Any) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        f.attrs[key] = value
    return edit


@pytest.mark.parametrize("model_config", [
    "{not json",
    "\xff\xfe",
    json.dumps([1, 2, 3]),
    json.dumps("Sequential"),
    json.dumps({"class_name": "Sequential"}),
    json.dumps({"class_name": "Sequential", "config": 5}),
    json.dumps({"class_name": "Sequential", "config": {"layers": "fc1"}}),
    json.dumps({"class_name": "Sequential", "config": {"layers": [5, "x", None]}}),
    json.dumps({"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": 7}]}}),
    json.dumps({"class_name": "Model", "config": {"layers": [{"class_name": "Dense", "name": "fc1",
                "config": {"name": "fc1", "units": 3}, "inbound_nodes": [[["x", "zero", 0]]]}],
                "input_layers": [["x", 0, 0]], "output_layers": "fc1"}}),
    json.dumps({"class_name": "Model", "config": {"layers": [{"class_name": "Dense", "name": "fc1",
                "config": {"name": "fc1", "units": "three"}, "inbound_nodes": [{"args": 5}]}],
                "input_layers": [["x"]], "output_layers": [["fc1", 0, 0]]}}),
    json.dumps({"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense",
                "config": {"name": "fc1", "units": None}}]}}),
])
def test_model_config_of_the_wrong_shape(model_config: str, tmp_path: Path) -> None:
    src = edited_h5(tmp_path, _set_attr("model_config", model_config))
    failure(src, tmp_path / "out")


def test_model_config_not_a_string(tmp_path: Path) -> None:
    src = edited_h5(tmp_path, _set_attr("model_config", np.arange(4)))
    failure(src, tmp_path / "out")


def test_layer_names_reference_a_missing_group(tmp_path: Path) -> None:
    def edit(f: h5py.File) -> None:
        names = list(f["model_weights"].attrs["layer_names"]) + [b"ghost"]
        f["model_weights"].attrs["layer_names"] = np.array(names, dtype="S")
    error = failure(edited_h5(tmp_path, edit), tmp_path / "out")
    assert "ghost" in str(error)


def test_layer_names_of_the_wrong_type(tmp_path: Path) -> None:
    def edit(f: h5py.File) -> None:
        f["model_weights"].attrs["layer_names"] = np.arange(3)
    failure(edited_h5(tmp_path, edit), tmp_path / "out")


def test_weight_names_reference_a_missing_dataset(tmp_path: Path) -> None:
    def edit(f: h5py.File) -> None:
        group = f["model_weights/fc1"]
        group.attrs["weight_names"] = np.array([b"fc1/kernel:0", b"fc1/bias:0", b"fc1/extra:0"])
    error = failure(edited_h5(tmp_path, edit), tmp_path / "out")
    assert "fc1/extra:0" in str(error)


def test_weight_names_point_at_a_group(tmp_path: Path) -> None:
    def edit(f: h5py.File) -> None:
        f["model_weights/fc1"].attrs["weight_names"] = np.array([b"fc1"])
    failure(edited_h5(tmp_path, edit), tmp_path / "out")


def _replace_dataset(path: str, value: np.ndarray) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        del f[path]
        f[path] = value
    return edit


def test_kernel_shape_contradicts_units(tmp_path: Path) -> None:
    """Dense(fc1) has 16 units; a (8, 5) kernel would only fail when TF.js loads the weights."""
    bad_kernel = np.zeros((8, 5), np.float32)
    src = edited_h5(tmp_path, _replace_dataset("model_weights/fc1/fc1/kernel:0", bad_kernel))
    error = failure(src, tmp_path / "out")
    assert isinstance(error, InputError) and "'fc1'" in str(error) and "(8, 5)" in str(error)


def test_bias_shape_contradicts_units(tmp_path: Path) -> None:
    src = edited_h5(tmp_path, _replace_dataset("model_weights/fc2/fc2/bias:0", np.zeros((3,), np.float32)))
    assert "bias" in str(failure(src, tmp_path / "out"))


def test_batchnorm_statistics_of_the_wrong_rank(tmp_path: Path) -> None:
    src = edited_h5(tmp_path, _replace_dataset("model_weights/bn1/bn1/moving_mean:0",
                                               np.zeros((2, 2), np.float32)))
    assert "moving_mean" in str(failure(src, tmp_path / "out"))


def test_weight_missing_from_a_layer(tmp_path: Path) -> None:
    def edit(f: h5py.File) -> None:
        f["model_weights/fc1"].attrs["weight_names"] = np.array([b"fc1/kernel:0"])
    error = failure(edited_h5(tmp_path, edit), tmp_path / "out")
    assert "missing bias" in str(error)


def test_extra_weight_in_a_layer(tmp_path: Path) -> None:
    def edit(f: h5py.File) -> None:
        f["model_weights/fc1/fc1/scale:0"] = np.ones(3, np.float32)
        f["model_weights/fc1"].attrs["weight_names"] = np.array([b"fc1/kernel:0", b"fc1/bias:0",
                                                                  b"fc1/scale:0"])
    assert "unexpected scale" in str(failure(edited_h5(tmp_path, edit), tmp_path / "out"))


def test_layer_with_weights_absent_from_layer_names(tmp_path: Path) -> None:
    def edit(f: h5py.File) -> None:
        names = [n for n in f["model_weights"].attrs["layer_names"] if n not in (b"fc2", "fc2")]
        f["model_weights"].attrs["layer_names"] = np.array(names, dtype="S")
    assert "'fc2'" in str(failure(edited_h5(tmp_path, edit), tmp_path / "out"))


def test_keras3_embedding_shape_mismatch(tmp_path: Path) -> None:
    def edit(f: h5py.File) -> None:
        group = f["model_weights"]
        for layer in group.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else layer
            for name in group[layer].attrs["weight_names"]:
                name = name.decode() if isinstance(name, bytes) else name
                if name.endswith("embeddings"):
                    shape = group[layer][name].shape
                    del group[layer][name]
                    group[layer][name] = np.zeros((shape[0] + 1, shape[1]), np.float32)
    error = failure(edited_h5(tmp_path, edit, "keras3_embedding_lstm/model.h5"), tmp_path / "out")
    assert "embeddings" in str(error)


def test_weight_dataset_of_strings(tmp_path: Path) -> None:
    src = edited_h5(tmp_path, _replace_dataset("model_weights/fc1/fc1/kernel:0", np.array([b"a", b"b"])))
    failure(src, tmp_path / "out")


# --- damaged .keras members ----------------------------------------------------------------------


def rezipped(tmp_path: Path, change: dict[str, Optional[bytes]], source: str = ZIP_SOURCES[0]) -> Path:
    with zipfile.ZipFile(MODELS / source) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    src = tmp_path / "model.keras"
    with zipfile.ZipFile(src, "w") as out:
        for member, data in {**members, **change}.items():
            if data is not None:
                out.writestr(member, data)
    return src


@pytest.mark.parametrize("change", [
    {"config.json": b"{broken"},
    {"config.json": None},
    {"config.json": b"[]"},
    {"config.json": json.dumps({"class_name": "Functional", "config": 3}).encode()},
    {"config.json": json.dumps({"class_name": "Functional",
                                "config": {"layers": [{"class_name": 1}]}}).encode()},
    {"model.weights.h5": None},
    {"model.weights.h5": b""},
    {"model.weights.h5": b"not hdf5 at all"},
    {"metadata.json": b"\xff\xfe{"},
])
def test_broken_archive_members(change: dict[str, Optional[bytes]], tmp_path: Path) -> None:
    failure(rezipped(tmp_path, change), tmp_path / "out")


def test_archive_weights_count_mismatch(tmp_path: Path) -> None:
    """A variable deleted from model.weights.h5: the count no longer matches the config."""
    with zipfile.ZipFile(MODELS / ZIP_SOURCES[0]) as archive:
        weights = archive.read("model.weights.h5")
    local = tmp_path / "w.h5"
    local.write_bytes(weights)
    with h5py.File(local, "r+") as f:
        victims: list[str] = []
        f.visititems(lambda name, obj: victims.append(name) if isinstance(obj, h5py.Dataset) else None)
        del f[sorted(v for v in victims if v.startswith("layers/"))[-1]]  # a layer's bias
    error = failure(rezipped(tmp_path, {"model.weights.h5": local.read_bytes()}), tmp_path / "out")
    assert isinstance(error, (InputError, UnsupportedError))


def test_archive_weight_shape_mismatch(tmp_path: Path) -> None:
    with zipfile.ZipFile(MODELS / ZIP_SOURCES[0]) as archive:
        weights = archive.read("model.weights.h5")
        config = json.loads(archive.read("config.json"))
    local = tmp_path / "w.h5"
    local.write_bytes(weights)
    dense = [layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense"]
    assert dense, "the fixture has a Dense layer"
    with h5py.File(local, "r+") as f:
        kernels: list[str] = []

        def find(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset) and name.endswith("vars/0") and obj.ndim == 2:
                kernels.append(name)
        f.visititems(find)
        target = kernels[0]
        shape = f[target].shape
        del f[target]
        f[target] = np.zeros((shape[0], shape[1] + 2), np.float32)
    error = failure(rezipped(tmp_path, {"model.weights.h5": local.read_bytes()}), tmp_path / "out")
    assert isinstance(error, InputError) and "shape" in str(error)
