"""The tfjsconv command as a user runs it: exit codes, one-line errors, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from cli_checks import assert_clean_failure, run_cli
from h5_builders import dense_layer, dense_model, sequential_config, write_keras2_h5

from tfjsconv.cli import parse_metadata
from tfjsconv.errors import OptionsError


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip().startswith("tfjsconv 0.")


def test_help_lists_official_flags() -> None:
    result = run_cli("convert", "--help")
    assert result.returncode == 0
    for flag in ("--input_format", "--quantize_uint8", "--weight_shard_size_bytes", "--metadata",
                 "--output_node_names", "--signature_name", "--split_weights_by_layer"):
        assert flag in result.stdout


def test_missing_input(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(str(tmp_path / "nope.h5"), str(out))
    assert_clean_failure(result, out, "nope.h5", "no such file")


def test_not_hdf5(tmp_path: Path) -> None:
    src = tmp_path / "model.h5"
    src.write_text("this is not a model\n")
    out = tmp_path / "out"
    assert_clean_failure(run_cli(str(src), str(out)), out, "model.h5", "not an HDF5")
    assert_clean_failure(run_cli("--input_format=keras", str(src), str(out)), out, "model.h5")


def test_truncated_h5(tmp_path: Path) -> None:
    full = dense_model(tmp_path / "full.h5")
    data = full.read_bytes()
    src = tmp_path / "cut.h5"
    src.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    assert_clean_failure(run_cli(str(src), str(out)), out, "cut.h5")


def test_h5_without_model_config_or_layer_names(tmp_path: Path) -> None:
    src = tmp_path / "data.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("x", data=np.arange(4))
    out = tmp_path / "out"
    assert_clean_failure(run_cli(str(src), str(out)), out, "data.h5", "model_config")


def test_unknown_layer_classes_are_listed_together(tmp_path: Path) -> None:
    layers = [dense_layer("dense", 2),
              {"class_name": "MyFancyLayer", "config": {"name": "fancy"}},
              {"class_name": "OtherCustom", "config": {"name": "other"}}]
    src = write_keras2_h5(tmp_path / "custom.h5", sequential_config(layers),
                          {"dense": {"kernel": np.ones((3, 2), np.float32), "bias": np.zeros(2, np.float32)}})
    out = tmp_path / "out"
    assert_clean_failure(run_cli(str(src), str(out)), out, "custom.h5", "MyFancyLayer", "OtherCustom")


def test_lambda_layer_is_refused(tmp_path: Path) -> None:
    lam = {"class_name": "Lambda", "config": {"name": "lam", "function": ["4wEAAAAAAAAA", None, None],
                                              "function_type": "lambda"}}
    src = write_keras2_h5(tmp_path / "lam.h5", sequential_config([dense_layer("dense", 2), lam]),
                          {"dense": {"kernel": np.ones((3, 2), np.float32), "bias": np.zeros(2, np.float32)}})
    before = src.read_bytes()
    out = tmp_path / "out"
    assert_clean_failure(run_cli(str(src), str(out)), out, "lam.h5", "Lambda")
    assert src.read_bytes() == before  # the input is never modified


def test_int64_weight_out_of_int32_range(tmp_path: Path) -> None:
    src = dense_model(tmp_path / "big.h5", kernel_dtype="int64", kernel_value=2.0**40)
    out = tmp_path / "out"
    assert_clean_failure(run_cli(str(src), str(out)), out, "big.h5", "dense/kernel", "int32")


def test_unwritable_output(tmp_path: Path) -> None:
    src = dense_model(tmp_path / "ok.h5")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = blocker / "out"
    result = run_cli(str(src), str(out))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert str(blocker) in result.stderr


def test_output_path_is_an_existing_file(tmp_path: Path) -> None:
    src = dense_model(tmp_path / "ok.h5")
    target = tmp_path / "taken"
    target.write_text("keep me")
    result = run_cli(str(src), str(target))
    assert result.returncode != 0 and "not a directory" in result.stderr
    assert target.read_text() == "keep me"


def test_converts_with_spaces_in_paths_and_bare_quantize_flag(tmp_path: Path) -> None:
    folder = tmp_path / "My Drive"
    folder.mkdir()
    src = dense_model(folder / "my model.h5")
    out = folder / "out dir"
    result = run_cli("--quantize_uint8", str(src), str(out))
    assert result.returncode == 0, result.stderr
    assert "Detected input format: keras" in result.stdout
    model = json.loads((out / "model.json").read_text())
    weights = model["weightsManifest"][0]["weights"]
    assert {w["name"]: w.get("quantization", {}).get("dtype") for w in weights} == {
        "dense/kernel": "uint8", "dense/bias": "uint8"}


def test_reconversion_into_same_directory_replaces_shards(tmp_path: Path) -> None:
    src = dense_model(tmp_path / "m.h5")
    out = tmp_path / "out"
    assert run_cli(str(src), str(out), "--weight_shard_size_bytes=8").returncode == 0
    many = sorted(p.name for p in out.glob("*.bin"))
    assert len(many) > 1
    (out / "notes.txt").write_text("mine")
    assert run_cli(str(src), str(out)).returncode == 0
    assert sorted(p.name for p in out.glob("*.bin")) == ["group1-shard1of1.bin"]
    assert (out / "notes.txt").read_text() == "mine"


def test_signature_name_rejected_for_keras(tmp_path: Path) -> None:
    src = dense_model(tmp_path / "m.h5")
    out = tmp_path / "out"
    assert_clean_failure(run_cli(str(src), str(out), "--signature_name=x"), out, "--signature_name")


def test_metadata_windows_path_and_errors(tmp_path: Path) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text('{"labels": ["a", "b"]}')
    assert parse_metadata(f"info:{meta}") == {"info": {"labels": ["a", "b"]}}
    # Only the first colon separates the key, so a path with a colon in it (C:\\...) stays whole.
    drive = tmp_path / "C:"
    drive.mkdir()
    (drive / "m.json").write_text("[1, 2]")
    assert parse_metadata(f"info:{drive / 'm.json'},more:{meta}") == {"info": [1, 2],
                                                                      "more": {"labels": ["a", "b"]}}
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(OptionsError, match="bad.json"):
        parse_metadata(f"x:{bad}")
