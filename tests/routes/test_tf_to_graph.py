"""The TensorFlow -> TF.js graph-model routes end to end: model.json contents, error lines, TF Hub URLs."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfjsconv
from tfjsconv._proto import graph_pb2
from tfjsconv.errors import InputError, UnsupportedOpsError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "models"
TF_FIXTURES = sorted(d.name for d in FIXTURES.glob("tf_*") if (d / "fixture.json").is_file())
NOT_FOR_TFJS = {"VarHandleOp", "ReadVariableOp", "ResourceGather", "VariableV2", "AssignVariableOp",
                "StatefulPartitionedCall", "PartitionedCall", "RestoreV2", "SaveV2", "NoOp", "Erfc",
                "InitializeTableFromTextFileV2"}


def _spec(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name / "fixture.json").read_text())


def _convert(name: str, out: Path, **extra: Any) -> dict[str, Any]:
    spec = _spec(name)
    options = dict(spec.get("options", {}), input_format=spec["input_format"], **extra)
    tfjsconv.convert(str(FIXTURES / name / spec["source"]), str(out), **options)
    return json.loads((out / "model.json").read_text())


def _all_nodes(model: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = list(model["modelTopology"]["node"])
    for function in model["modelTopology"].get("library", {}).get("function", []):
        nodes.extend(function.get("nodeDef", []))
    nodes.extend(model.get("modelInitializer", {}).get("node", []))
    return nodes


def test_there_are_tf_fixtures() -> None:
    assert len(TF_FIXTURES) >= 15


@pytest.mark.parametrize("name", TF_FIXTURES)
def test_fixture_converts_to_a_clean_graph_model(name: str, tmp_path: Path) -> None:
    model = _convert(name, tmp_path / "out")
    spec = _spec(name)
    assert model["format"] == "graph-model"
    assert sorted(model["signature"]["outputs"]) == sorted(spec["outputs"])
    if spec["input_format"] != "tf_frozen_model":
        # TF2 lookup tables add a DT_RESOURCE input the model feeds itself (resourceId).
        fed = [key for key, info in model["signature"]["inputs"].items() if "resourceId" not in info]
        assert sorted(fed) == sorted(spec["inputs"])
    ops = {node["op"] for node in _all_nodes(model)}
    assert not ops & NOT_FOR_TFJS, f"{name}: {sorted(ops & NOT_FOR_TFJS)}"
    weights = {w["name"] for group in model["weightsManifest"] for w in group["weights"]}
    consts = {n["name"] for n in model["modelTopology"]["node"] if n["op"] == "Const"}
    assert consts <= weights
    for group in model["weightsManifest"]:
        for path in group["paths"]:
            assert (tmp_path / "out" / path).is_file()


def test_control_flow_stays_functional(tmp_path: Path) -> None:
    model = _convert("tf_while_cond", tmp_path / "out")
    ops = {node["op"] for node in model["modelTopology"]["node"]}
    assert ops & {"While", "StatelessWhile"} and ops & {"If", "StatelessIf"}
    assert not ops & {"Enter", "Exit", "Merge", "Switch", "NextIteration"}
    names = {f["signature"]["name"] for f in model["modelTopology"]["library"]["function"]}
    for node in _all_nodes(model):
        for key in ("cond", "body", "then_branch", "else_branch"):
            if key in node.get("attr", {}):
                assert node["attr"][key]["func"]["name"] in names
    # --control_flow_v2 is accepted and gives the same functional graph.
    again = _convert("tf_while_cond", tmp_path / "v2", control_flow_v2=True)
    assert again["modelTopology"] == model["modelTopology"]


def test_hash_table_initializer(tmp_path: Path) -> None:
    model = _convert("tf_hash_table_vocab_file", tmp_path / "out")
    init_ops = sorted(n["op"] for n in model["modelInitializer"]["node"])
    # Identity: the table handle, returned once the import has run (initializerSignature output).
    assert init_ops == ["Const", "Const", "HashTableV2", "Identity", "LookupTableImportV2"]
    # TF2: no table node in the main graph; it is fed the initializer's handle by resourceId.
    assert "HashTableV2" not in {n["op"] for n in model["modelTopology"]["node"]}
    (handle,) = model["initializerSignature"]["outputs"].values()
    linked = [i for i in model["signature"]["inputs"].values() if i.get("resourceId") == handle["resourceId"]]
    assert len(linked) == 1 and linked[0]["dtype"] == "DT_RESOURCE"


def test_erfc_is_rewritten(tmp_path: Path) -> None:
    model = _convert("tf_transformer_block", tmp_path / "out")
    ops = [n["op"] for n in _all_nodes(model)]
    assert "Erfc" not in ops and "Erf" in ops


def test_unknown_signature_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(InputError, match="signature 'nope' does not exist; available signatures: encode, "
                                         "serving_default"):
        _convert("tf_two_signatures", out, signature_name="nope")
    assert not out.exists()


def test_checkpoint_crc_error_names_the_shard(tmp_path: Path) -> None:
    source = tmp_path / "sm"
    shutil.copytree(FIXTURES / "tf_module_dense" / "saved_model", source)
    shard = source / "variables" / "variables.data-00000-of-00001"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x5A
    shard.write_bytes(bytes(data))
    out = tmp_path / "out"
    with pytest.raises(InputError) as info:
        tfjsconv.convert(str(source), str(out), input_format="tf_saved_model")
    assert "checksum" in str(info.value) and str(shard) in str(info.value)
    assert not out.exists()


def _unsupported_graph(path: Path) -> None:
    graph_def = graph_pb2.GraphDef()
    x = graph_def.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = 1
    a = graph_def.node.add(name="inv", op="MatrixInverse", input=["x"])
    a.attr["T"].type = 1
    b = graph_def.node.add(name="det", op="MatrixDeterminant", input=["inv"])
    b.attr["T"].type = 1
    path.write_bytes(graph_def.SerializeToString())


def test_unsupported_ops_are_all_listed(tmp_path: Path) -> None:
    pb = tmp_path / "model.pb"
    _unsupported_graph(pb)
    out = tmp_path / "out"
    with pytest.raises(UnsupportedOpsError) as info:
        tfjsconv.convert(str(pb), str(out), input_format="tf_frozen_model", output_node_names="det")
    assert "MatrixDeterminant" in str(info.value) and "MatrixInverse" in str(info.value)
    assert not out.exists()
    tfjsconv.convert(str(pb), str(out), input_format="tf_frozen_model", output_node_names="det",
                     skip_op_check=True)
    assert (out / "model.json").is_file()


def test_cli_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tfjsconv", str(FIXTURES / "tf_module_dense" / "saved_model"),
         str(tmp_path / "out"), "--input_format", "tf_saved_model", "--saved_model_tags", "serve,gpu"],
        capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "available tag sets: {serve}" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.fixture()
def hub_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("name", ["tf_hub_module", "tf_tf1_hub_module"])
def test_hub_url_converts_and_runs_in_tfjs(name: str, hub_server: tuple[str, Path], tmp_path: Path,
                                           tfjs: Any) -> None:
    url, root = hub_server
    spec = _spec(name)
    source = FIXTURES / name / spec["source"]
    with tarfile.open(root / "module.tar.gz", "w:gz") as tar:
        for path in sorted(source.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(source)), recursive=False)
    out = tmp_path / "out"
    tfjsconv.convert(f"{url}/module.tar.gz", str(out), input_format="tf_hub")
    with np.load(FIXTURES / name / "inputs.npz") as inputs, \
            np.load(FIXTURES / name / "expected.npz") as expected:
        named = tfjs.run_named(out, "graph", [(k, inputs[k]) for k in spec["inputs"]], spec["outputs"],
                               label=f"{name}-url")
        for (key, got), want in zip(named, spec["outputs"]):
            assert key == want
            np.testing.assert_allclose(got, expected[want], rtol=1e-4, atol=1e-4)


def test_hub_model_without_default_signature_uses_serving_default(tmp_path: Path) -> None:
    report = tfjsconv.convert(str(FIXTURES / "tf_module_dense" / "saved_model"), str(tmp_path / "out"),
                              input_format="tf_hub")
    model = json.loads((tmp_path / "out" / "model.json").read_text())
    assert sorted(model["signature"]["outputs"]) == ["logits"]
    assert any("no `default` signature" in w for w in report.warnings)
    with pytest.raises(InputError, match="signature 'default' does not exist"):
        tfjsconv.convert(str(FIXTURES / "tf_two_signatures" / "saved_model"), str(tmp_path / "o2"),
                         input_format="tf_hub", signature_name="default")


def test_generated_by_is_the_writing_tensorflow_version(tmp_path: Path) -> None:
    from tfjsconv._proto import saved_model_pb2

    model = _convert("tf_module_dense", tmp_path / "out")
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((FIXTURES / "tf_module_dense" / "saved_model" / "saved_model.pb").read_bytes())
    assert model["generatedBy"] == saved.meta_graphs[0].meta_info_def.tensorflow_version
    assert model["generatedBy"].startswith("2.")
    assert list(model)[:5] == ["format", "generatedBy", "convertedBy", "signature", "modelTopology"]
