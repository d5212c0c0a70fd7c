"""Broken and unsupported ONNX inputs through the command line: one error line, exit code != 0, no
traceback, no output directory; and the hint when the optional onnx package is missing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_checks import assert_clean_failure, run_cli
from onnx import TensorProto
from onnx_builders import convert_ir, helper, onnx, save_model, value_info

from tfjsconv.errors import UnsupportedError
from tfjsconv.ir.interpret import interpret

ROOT = Path(__file__).resolve().parents[3]
CNN = ROOT / "fixtures" / "models" / "onnx_cnn" / "model.onnx"






@pytest.mark.parametrize("explicit", [False, True])
def test_truncated_onnx(tmp_path: Path, explicit: bool) -> None:
    broken = tmp_path / "cut.onnx"
    broken.write_bytes(CNN.read_bytes()[: CNN.stat().st_size // 3])
    out = tmp_path / "out"
    flags = ["--input_format", "onnx"] if explicit else []
    result = run_cli(str(broken), str(out), *flags)
    assert_clean_failure(result, out, str(broken), "truncated or not ONNX")
    assert result.returncode == 2


def test_text_file_named_onnx_with_explicit_format(tmp_path: Path) -> None:
    fake = tmp_path / "fake.onnx"
    fake.write_text("this is not a model\n", encoding="utf-8")
    out = tmp_path / "out"
    assert_clean_failure(run_cli(str(fake), str(out), "--input_format", "onnx"), out, "not ONNX")


def test_text_file_named_onnx_is_not_detected_as_onnx(tmp_path: Path) -> None:
    fake = tmp_path / "fake.onnx"
    fake.write_text("this is not a model\n", encoding="utf-8")
    out = tmp_path / "out"
    assert_clean_failure(run_cli(str(fake), str(out)), out, "cannot tell the model format")


def test_every_unconvertible_node_is_listed_at_once_and_nothing_written(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Det", ["x"], ["d"], name="det"),
        helper.make_node("Det", ["x"], ["d2"], name="det2"),
        helper.make_node("Custom", ["x"], ["c"], name="custom", domain="com.example"),
        helper.make_node("Dropout", ["p", "ratio", "training"], ["m"], name="training_dropout"),
        helper.make_node("Relu", ["d"], ["r"], name="after_det"),  # fails only because Det did
        helper.make_node("Relu", ["x"], ["y"], name="fine"),
    ]
    path = save_model(
        tmp_path / "m.onnx",
        nodes,
        [value_info("x", [2, 2]), value_info("p", [1, 1, 4, 4])],
        [value_info(n, None) for n in ("d", "d2", "c", "m", "r", "y")],
        {"ratio": np.array(0.5, np.float32), "training": np.array(True)},
    )
    out = tmp_path / "out"
    result = run_cli(str(path), str(out))
    line = assert_clean_failure(
        result, out, "4 ONNX nodes", "Det (2 nodes: 'det', 'det2')", "com.example.Custom (1 node: 'custom')",
        "Dropout node 'training_dropout': training_mode=true drops random elements"
    )
    assert "after_det" not in line and "'fine'" not in line
    assert result.returncode == 3


def test_onnx_converts_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(str(CNN), str(out))
    assert result.returncode == 0, result.stderr
    assert (out / "model.json").is_file()
    assert [p.name for p in out.glob("group1-shard*")]


def test_missing_onnx_package_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tfjsconv.readers.onnx import model as onnx_model

    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError
    with pytest.raises(UnsupportedError, match=r'pip install "tfjsconv\[onnx\]"'):
        onnx_model.load_onnx_graph(CNN)


def test_external_weight_escaping_the_model_directory_is_refused(tmp_path: Path) -> None:
    import onnx

    from tfjsconv.errors import InputError
    from tfjsconv.readers.onnx.model import load_onnx_graph

    path = save_model(
        tmp_path / "m.onnx",
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        [value_info("x", [1, 2])],
        [value_info("y", None)],
        {"w": np.ones((2, 2), np.float32)},
    )
    model = onnx.load(str(path))
    weight = model.graph.initializer[0]
    weight.ClearField("raw_data")
    weight.data_location = onnx.TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    onnx.save(model, str(path))
    with pytest.raises(InputError, match="outside the model directory"):
        load_onnx_graph(path)


def _slice_model(path: Path, x_dims: list[int], starts: Any) -> Path:
    ends = helper.make_tensor("ends", TensorProto.INT64, [1], [2])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    node = helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["y"], name="slice")
    graph = helper.make_graph([node], "negative_dims", [value_info("x", x_dims)], [value_info("y", None)],
                              [starts, ends, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.save(model, str(path))
    return path


def test_negative_dim_in_a_type_is_an_unknown_dim(tmp_path: Path) -> None:
    """Found by fuzzing: onnx's shape inference aborted the whole process (SIGABRT, exit 134) on an
    input typed [1, -1] feeding a Slice.  -1 is read as "any size" before inference runs."""
    starts = helper.make_tensor("starts", TensorProto.INT64, [1], [0])
    path = _slice_model(tmp_path / "m.onnx", [1, -1], starts)
    out = tmp_path / "out"
    result = run_cli(str(path), str(out))  # a subprocess: an abort fails this test instead of pytest
    assert result.returncode == 0, result.stderr
    topology = json.loads((out / "model.json").read_text())["modelTopology"]
    (placeholder,) = [n for n in topology["node"] if n["op"] == "Placeholder"]
    assert [d["size"] for d in placeholder["attr"]["shape"]["shape"]["dim"]] == ["1", "-1"]
    graph = convert_ir(path)
    x = np.arange(5, dtype=np.float32).reshape(1, 5)
    np.testing.assert_array_equal(interpret(graph, {"x": x})["y"], x[:, :2])


def test_negative_dim_in_a_tensor_is_refused(tmp_path: Path) -> None:
    starts = TensorProto(name="starts", data_type=TensorProto.INT64, dims=[-1], int64_data=[0])
    path = _slice_model(tmp_path / "m.onnx", [1, 4], starts)
    out = tmp_path / "out"
    result = run_cli(str(path), str(out))
    assert_clean_failure(result, out, "tensor 'starts' declares a negative dimension [-1]")
    assert result.returncode == 2


def test_split_with_fewer_num_outputs_than_outputs_is_refused(tmp_path: Path) -> None:
    """Found by fuzzing: onnx's Split-18 shape inference aborted the process (SIGABRT) on it."""
    node = helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=1, name="split")
    path = save_model(tmp_path / "m.onnx", [node], [value_info("x", [2, 3])],
                      [value_info(o, None) for o in "abc"], opset=18)
    out = tmp_path / "out"
    result = run_cli(str(path), str(out))  # a subprocess: an abort fails this test instead of pytest
    assert_clean_failure(result, out, "Split node 'split' declares num_outputs=1 but has 3 outputs")
    assert result.returncode == 2
