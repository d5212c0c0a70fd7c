"""TF.js graph models back to TensorFlow, checked without TensorFlow: fixture -> TF.js -> TF format ->
tfjsconv's own TF readers -> TF.js again, run in the real TF.js against the fixture's expected outputs;
and the bad inputs each get one clear error line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tfjs_runner import TfjsRunner

import tfjsconv
from tfjsconv.errors import InputError, UnsupportedError
from tfjsconv.ir.graph import as_array
from tfjsconv.readers.tf.bundle import TensorBundle
from tfjsconv.readers.tf.graphdef import read_graph_def
from tfjsconv.readers.tf.saved_model import read_saved_model
from tfjsconv.readers.tfjs.graph_model import read_tfjs_graph_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cli_checks import assert_clean_failure, run_cli  # noqa: E402
from e2e.fixture_cases import FixtureCase, compare_outputs, discover_cases  # noqa: E402

CASES = {case.name: case for case in discover_cases() if not case.variant}
# Control flow v1 and v2, TensorList loops, Prelu/dilated/fused convolutions, int64 inputs.
# Tables in both forms (TF2 resource inputs, TF1 shared by name), a vocabulary-file table, v1 and v2
# control flow, TF.js-only ops, int64 inputs.
SAVED_MODEL_ROUND_TRIP = ("tf_hash_table", "tf_tf1_hash_table", "tf_hash_table_vocab_file", "tf_while_cond",
                          "tf_tf1_control_flow", "onnx_conv_variants", "tf_int64_inputs",
                          "tf_two_signatures_encode")
FROZEN_ROUND_TRIP = ("tf_while_cond", "tf_tf1_control_flow", "tf_tf1_resource_while", "onnx_conv_variants",
                     "onnx_cnn", "tf_int64_inputs", "tf_tfjs_gaps")


def to_tfjs(case: FixtureCase, out: Path) -> Path:
    tfjsconv.convert(case.source, out, **case.convert_options())
    return out


def run_in_tfjs(tfjs: TfjsRunner, model_dir: Path, case: FixtureCase, label: str) -> None:
    keys = [name for name, _ in case.expected()]
    got = tfjs.run(model_dir, "graph", case.inputs(), keys, label=label)
    compare_outputs(got, case.expected(), case.tolerance, label)


@pytest.mark.parametrize("name", SAVED_MODEL_ROUND_TRIP)
def test_saved_model_round_trip_in_tfjs(tmp_path: Path, tfjs: TfjsRunner, name: str) -> None:
    case = CASES[name]
    first = to_tfjs(case, tmp_path / "tfjs")
    saved = tmp_path / "saved_model"
    report = tfjsconv.convert(first / "model.json", saved, output_format="tf_saved_model")
    assert report.input_format == "tfjs_graph_model"
    assert {"saved_model.pb", "variables"} <= {p.name for p in saved.iterdir()}
    again = tmp_path / "tfjs_again"
    tfjsconv.convert(saved, again)  # detected as tf_saved_model, serving_default
    run_in_tfjs(tfjs, again, case, f"{name}-saved_model")


def test_saved_model_weights_are_the_tfjs_weights_bit_for_bit(tmp_path: Path) -> None:
    case = CASES["tf_transformer_block"]
    first = to_tfjs(case, tmp_path / "tfjs")
    tfjsconv.convert(first, tmp_path / "sm", output_format="tf_saved_model")
    weights = {}
    for body in read_tfjs_graph_model(first).graph.all_graphs():
        for node in body.nodes:
            if node.op == "Const":
                weights[node.name] = as_array(node.attrs["value"])
    model = read_saved_model(tmp_path / "sm")
    meta = model.meta_graphs[0]
    variables = [n for n in meta.object_graph_def.nodes if n.WhichOneof("kind") == "variable"]
    assert len(variables) >= 10
    with TensorBundle.open(tmp_path / "sm" / "variables" / "variables") as bundle:
        assert bundle.verify() > 0
        graph = bundle.object_graph()
        assert graph is not None
        keys = {a.full_name: a.checkpoint_key for n in graph.nodes for a in n.attributes}
        assert sorted(keys) == sorted(v.variable.name for v in variables)
        for name, key in keys.items():
            stored = bundle.read(key)
            assert stored.dtype == weights[name].dtype and stored.tobytes() == weights[name].tobytes(), name
    signature = meta.signature_def["serving_default"]
    assert sorted(signature.inputs) == [k for k, _ in case.inputs()]
    assert sorted(signature.outputs) == sorted(k for k, _ in case.expected())
    assert set(meta.signature_def) == {"serving_default", "__saved_model_init_op"}
    assert meta.saver_def.restore_op_name and meta.saver_def.version == 2


def test_signature_name_option(tmp_path: Path) -> None:
    first = to_tfjs(CASES["tf_module_dense"], tmp_path / "tfjs")
    tfjsconv.convert(first, tmp_path / "sm", output_format="tf_saved_model", signature_name="predict")
    meta = read_saved_model(tmp_path / "sm").meta_graphs[0]
    assert set(meta.signature_def) == {"predict", "__saved_model_init_op"}
    signatures = [n for n in meta.object_graph_def.nodes
                  if n.WhichOneof("kind") == "user_object" and n.user_object.identifier == "signature_map"]
    assert [c.local_name for c in signatures[0].children] == ["predict"]


@pytest.mark.parametrize("name", FROZEN_ROUND_TRIP)
def test_frozen_graph_round_trip_in_tfjs(tmp_path: Path, tfjs: TfjsRunner, name: str) -> None:
    case = CASES[name]
    first = to_tfjs(case, tmp_path / "tfjs")
    frozen = tmp_path / "model.pb"
    report = tfjsconv.convert(first, frozen, output_format="tf_frozen_model")
    assert report.input_format == "tfjs_graph_model" and report.format_detected
    assert report.files == (("model.pb", frozen.stat().st_size),)
    graph_def = read_graph_def(frozen)
    names = {node.name for node in graph_def.node}
    outputs = [key for key, _ in case.expected()]
    assert {key for key, _ in case.inputs()} | set(outputs) <= names  # inputs and outputs named by key
    again = tmp_path / "tfjs_again"
    tfjsconv.convert(frozen, again, input_format="tf_frozen_model", output_node_names=",".join(outputs))
    run_in_tfjs(tfjs, again, case, f"{name}-frozen")


def test_frozen_graph_splits_tfjs_only_ops(tmp_path: Path) -> None:
    first = to_tfjs(CASES["onnx_conv_variants"], tmp_path / "tfjs")
    ops = {n["op"] for n in json.loads((first / "model.json").read_text())["modelTopology"]["node"]}
    assert {"FusedDepthwiseConv2dNative", "Prelu"} <= ops
    tfjsconv.convert(first, tmp_path / "model.pb", output_format="tf_frozen_model")
    written = {node.op for node in read_graph_def(tmp_path / "model.pb").node}
    assert not written & {"_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedMatMul", "Prelu"}
    assert {"DepthwiseConv2dNative", "BiasAdd", "Relu", "Neg", "Sub"} <= written


def test_hash_tables_become_an_init_op(tmp_path: Path) -> None:
    first = to_tfjs(CASES["tf_hash_table"], tmp_path / "tfjs")
    tfjsconv.convert(first, tmp_path / "model.pb", output_format="tf_frozen_model")
    nodes = {node.name: node for node in read_graph_def(tmp_path / "model.pb").node}
    init = nodes["init_all_tables"]
    assert init.op == "NoOp" and init.input == ["^hash_table/table_init"]
    imported = nodes["hash_table/table_init"]
    assert imported.op == "LookupTableImportV2" and imported.input[0] == "hash_table"
    assert nodes["hash_table"].op == "HashTableV2"
    keys = nodes[imported.input[1]].attr["value"].tensor.string_val
    assert sorted(keys) == [b"bird", b"cat", b"dog", b"fish"]


# ----- bad input: one clear line each (through the command line, as a user meets it) ---------------------

def _graph_model(tmp_path: Path) -> Path:
    return to_tfjs(CASES["tf_module_dense"], tmp_path / "tfjs")


def test_missing_shard_is_named(tmp_path: Path) -> None:
    model = _graph_model(tmp_path)
    shard = next(model.glob("*.bin"))
    shard.unlink()
    out = tmp_path / "out"
    result = run_cli(str(model), str(out), "--output_format", "tf_saved_model")
    line = assert_clean_failure(result, out, str(shard), "weight shard listed in model.json is missing")
    assert result.returncode == InputError.exit_code, line


@pytest.mark.parametrize("change", [-4, 4])
def test_manifest_sizes_must_match_the_shards(tmp_path: Path, change: int) -> None:
    model = _graph_model(tmp_path)
    shard = next(model.glob("*.bin"))
    data = shard.read_bytes()
    shard.write_bytes(data[:change] if change < 0 else data + bytes(change))
    out = tmp_path / "out.pb"
    result = run_cli(str(model / "model.json"), str(out), "--output_format=tf_frozen_model")
    needle = "weight shards are too short" if change < 0 else f"hold {len(data) + change} bytes"
    assert_clean_failure(result, out, str(shard), needle)
    assert result.returncode == InputError.exit_code


def test_op_without_tensorflow_equivalent(tmp_path: Path) -> None:
    model = _graph_model(tmp_path)
    document: dict[str, Any] = json.loads((model / "model.json").read_text())
    node = next(n for n in document["modelTopology"]["node"] if n["op"] in ("MatMul", "_FusedMatMul"))
    node["op"] = "SimpleMLInferenceOpWithHandle"
    (model / "model.json").write_text(json.dumps(document))
    out = tmp_path / "out"
    result = run_cli(str(model), str(out), "--output_format", "tf_saved_model")
    line = assert_clean_failure(result, out, str(model / "model.json"),
                                "ops with no TensorFlow equivalent: SimpleMLInferenceOpWithHandle (1 node)")
    assert result.returncode == UnsupportedError.exit_code, line


def test_quantized_weights_are_dequantized_with_a_warning(tmp_path: Path) -> None:
    case = CASES["tf_module_dense"]
    quantized = tmp_path / "tfjs"
    tfjsconv.convert(case.source, quantized, **case.convert_options(), quantize_uint8=True)
    report = tfjsconv.convert(quantized, tmp_path / "sm", output_format="tf_saved_model")
    assert any("written dequantized" in w for w in report.warnings), report.warnings
    decoded = {n.name: as_array(n.attrs["value"]) for n in read_tfjs_graph_model(quantized).graph.nodes
               if n.op == "Const"}
    with TensorBundle.open(tmp_path / "sm" / "variables" / "variables") as bundle:
        graph = bundle.object_graph()
        assert graph is not None
        for attribute in (a for n in graph.nodes for a in n.attributes):
            stored = bundle.read(attribute.checkpoint_key)
            assert stored.dtype == np.float32
            assert stored.tobytes() == decoded[attribute.full_name].tobytes()  # what TF.js computes with


def test_inputs_are_never_modified(tmp_path: Path) -> None:
    model = _graph_model(tmp_path)
    before = {p.name: p.read_bytes() for p in model.iterdir()}
    tfjsconv.convert(model, tmp_path / "out.pb", output_format="tf_frozen_model")
    assert {p.name: p.read_bytes() for p in model.iterdir()} == before


def test_command_line_says_how_to_load_the_result(tmp_path: Path) -> None:
    model = _graph_model(tmp_path)
    result = run_cli(str(model), str(tmp_path / "sm"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Detected input format: tfjs_graph_model"
    assert lines[1] == f"Load it in Python with: tf.saved_model.load('{tmp_path / 'sm'}').signatures" \
                       "['serving_default']"
    assert lines[2].startswith("Converted tfjs_graph_model to tf_saved_model in ")
