"""Broken and unsupported ONNX inputs through the command line: one error line, exit code != 0, no
traceback, no output directory; and the hint when the optional onnx package is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from cli_checks import assert_clean_failure, run_cli
from onnx_builders import helper, save_model, value_info

from tfjsconv.errors import UnsupportedError

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
