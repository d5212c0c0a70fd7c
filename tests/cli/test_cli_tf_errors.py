"""Broken or unsupported TensorFlow inputs and real Keras-made bad files, through the command line:
one error line naming the file and the cause, a non-zero exit, no traceback, no output directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_checks import assert_clean_failure, run_cli

from tfjsconv._proto import saved_model_pb2

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "fixtures" / "models"
BAD = ROOT / "fixtures" / "bad"






def copy_model(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(MODELS / name / "saved_model", target)
    return target


def test_flipped_byte_in_checkpoint_data(tmp_path: Path) -> None:
    model = copy_model("tf_module_dense", tmp_path)
    data = model / "variables" / "variables.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    data.write_bytes(bytes(raw))
    out = tmp_path / "out"
    line = assert_clean_failure(run_cli(str(model), str(out)), out, "variables.data-00000-of-00001")
    assert "checksum" in line.lower() or "crc" in line.lower()


def test_flipped_byte_in_checkpoint_index(tmp_path: Path) -> None:
    model = copy_model("tf_module_dense", tmp_path)
    index = model / "variables" / "variables.index"
    raw = bytearray(index.read_bytes())
    raw[20] ^= 0x01
    index.write_bytes(bytes(raw))
    out = tmp_path / "out"
    assert_clean_failure(run_cli(str(model), str(out)), out, "variables.index")


def test_missing_data_shard(tmp_path: Path) -> None:
    model = copy_model("tf_tf1_savedmodel", tmp_path)
    (model / "variables" / "variables.data-00001-of-00002").unlink()
    out = tmp_path / "out"
    assert_clean_failure(run_cli(str(model), str(out)), out, "variables.data-00001-of-00002")


def test_missing_variable(tmp_path: Path) -> None:
    model = copy_model("tf_tf1_savedmodel", tmp_path)
    pb = model / "saved_model.pb"
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString(pb.read_bytes())
    for node in saved.meta_graphs[0].graph_def.node:
        if node.name == "save/RestoreV2_1/tensor_names":
            node.attr["value"].tensor.string_val[0] = b"dense/not_saved"
    pb.write_bytes(saved.SerializeToString())
    out = tmp_path / "out"
    assert_clean_failure(run_cli(str(model), str(out)), out, "dense/not_saved")


def test_unknown_signature_lists_available(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(str(MODELS / "tf_two_signatures" / "saved_model"), str(out), "--signature_name=nope")
    assert_clean_failure(result, out, "nope", "serving_default", "encode")


def test_unknown_tags_list_available(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(str(MODELS / "tf_module_dense" / "saved_model"), str(out), "--saved_model_tags=gpu")
    assert_clean_failure(result, out, "gpu", "serve")


def test_unsupported_ops_are_all_listed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(str(BAD / "tf_unsupported_ops" / "saved_model"), str(out))
    assert_clean_failure(result, out, "Svd", "MatrixDeterminant", "StringUpper")
    assert result.returncode == 3


def test_skip_op_check_writes_the_model_anyway(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(str(BAD / "tf_unsupported_ops" / "saved_model"), str(out), "--skip_op_check")
    assert result.returncode == 0, result.stderr
    assert (out / "model.json").is_file()


def test_frozen_graph_needs_output_node_names(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(str(MODELS / "tf_frozen" / "model.pb"), str(out))
    assert_clean_failure(result, out, "--output_node_names")


def test_frozen_graph_unknown_output_node(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(str(MODELS / "tf_frozen" / "model.pb"), str(out), "--output_node_names=nope")
    assert_clean_failure(result, out, "model.pb", "nope")


def test_garbage_saved_model_pb(tmp_path: Path) -> None:
    model = tmp_path / "broken"
    model.mkdir()
    (model / "saved_model.pb").write_bytes(b"\xff\xfe not a protobuf at all " * 10)
    out = tmp_path / "out"
    assert_clean_failure(run_cli(str(model), str(out)), out, "saved_model.pb")


@pytest.mark.parametrize("name", ["keras2_lambda.h5", "keras3_lambda.h5"])
def test_real_lambda_models_are_refused(name: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert_clean_failure(run_cli(str(BAD / name), str(out)), out, name, "Lambda")


@pytest.mark.parametrize("name", ["keras2_custom_layer.h5", "keras3_custom_layer.h5"])
def test_real_custom_layers_are_listed_together(name: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert_clean_failure(run_cli(str(BAD / name), str(out)), out, name, "ScaleShift", "Squash")
