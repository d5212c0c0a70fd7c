"""SavedModel reading (TF2 and TF1) on the committed fixtures: structure, numbers, error lines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tfjsconv._proto import saved_model_pb2
from tfjsconv.errors import InputError
from tfjsconv.ir.interpret import interpret
from tfjsconv.ir.types import DType
from tfjsconv.ir.verify import verify
from tfjsconv.readers.tf.saved_model import load_saved_model

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "models"
RESOURCE_OPS = {"VarHandleOp", "ReadVariableOp", "ResourceGather", "VariableV2", "AssignVariableOp",
                "StatefulPartitionedCall", "PartitionedCall", "RestoreV2", "SaveV2"}


def _spec(name: str) -> dict:
    return json.loads((FIXTURES / name / "fixture.json").read_text())


def _load(name: str, **overrides: object):
    spec = _spec(name)
    tags = set(overrides.get("tags", spec.get("tags", ["serve"])))  # type: ignore[arg-type]
    signature = str(overrides.get("signature", spec.get("signature") or "serving_default"))
    return load_saved_model(FIXTURES / name / spec["source"], tags, signature)


@pytest.mark.parametrize("name", ["tf_module_dense", "tf_tf1_savedmodel", "tf_keras3_export", "tf_while_cond",
                                  "tf_two_signatures", "tf_two_signatures_encode", "tf_int64_inputs"])
def test_frozen_graph_computes_tensorflows_numbers(name: str) -> None:
    spec = _spec(name)
    loaded = _load(name)
    graph = loaded.graph
    verify(graph)  # consistent edges, acyclic, every function present
    assert [key for key, _ in graph.outputs] == sorted(spec["outputs"])
    assert sorted(graph.input_keys) == sorted(spec["inputs"])
    for body in graph.all_graphs():
        assert not {n.op for n in body.nodes} & RESOURCE_OPS, body.name
        assert all(n.attrs.get("dtype") != DType.RESOURCE for n in body.inputs), body.name
    with np.load(FIXTURES / name / "inputs.npz") as inputs, \
            np.load(FIXTURES / name / "expected.npz") as expected:
        result = interpret(graph, {k: inputs[k] for k in spec["inputs"]})
        for key in spec["outputs"]:
            np.testing.assert_allclose(result[key].astype(np.float64), expected[key].astype(np.float64),
                                       rtol=1e-4, atol=1e-4, err_msg=f"{name}:{key}")


def test_tf2_variables_are_bound_through_the_object_graph() -> None:
    graph = _load("tf_module_dense").graph
    consts = {n.name: n for n in graph.nodes if n.op == "Const"}
    # The module's variables keep their top-level VarHandleOp names and their checkpoint values.
    assert {"w1", "b1"} <= set(consts)
    assert consts["w1"].attrs["value"].shape == (4, 8)


def test_tf1_partitioned_variable_is_reassembled_per_part() -> None:
    graph = _load("tf_tf1_savedmodel").graph
    parts = sorted(n.name for n in graph.nodes if n.op == "Const" and "part_" in n.name)
    assert len(parts) == 3
    assert sum(graph.node(p).attrs["value"].shape[0] for p in parts) == 6


def test_while_and_if_bodies_receive_values_not_resources() -> None:
    graph = _load("tf_while_cond").graph
    whiles = [n for b in graph.all_graphs() for n in b.nodes if n.op in ("While", "StatelessWhile")]
    assert whiles and all(DType.RESOURCE not in n.attrs["T"] for n in whiles)
    assert any(name.endswith("_frozen") for name in graph.functions)
    for body in graph.functions.values():
        assert "ReadVariableOp" not in {n.op for n in body.nodes}


def test_resource_gather_becomes_gather_v2() -> None:
    graph = _load("tf_int64_inputs").graph
    ops = {n.op for n in graph.nodes}
    assert "GatherV2" in ops and "ResourceGather" not in ops
    # int64 stays truthful in the IR: the writer maps it for TF.js.
    assert graph.inputs[0].attrs["dtype"] == DType.INT64


def test_signature_keys_are_output_names() -> None:
    loaded = _load("tf_two_signatures_encode")
    assert [k for k, _ in loaded.graph.outputs] == ["code", "norm"]


def test_unknown_signature_lists_the_available_ones() -> None:
    with pytest.raises(InputError) as info:
        _load("tf_two_signatures", signature="nope")
    message = str(info.value)
    assert "'nope' does not exist" in message and "encode" in message and "serving_default" in message
    assert "__saved_model_init_op" not in message
    assert str(FIXTURES / "tf_two_signatures") in message


def test_unknown_tags_list_the_available_tag_sets() -> None:
    wanted = r"no MetaGraph with tags 'gpu,serve'; available tag sets: \{serve\}"
    with pytest.raises(InputError, match=wanted):
        _load("tf_module_dense", tags=["serve", "gpu"])
    with pytest.raises(InputError, match=r"available tag sets: \{\}; \{train\}"):
        _load("tf_tf1_hub_module", tags=["serve"])


def _copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(FIXTURES / name / _spec(name)["source"], target)
    return target


def test_missing_data_shard(tmp_path: Path) -> None:
    directory = _copy("tf_tf1_savedmodel", tmp_path)
    (directory / "variables" / "variables.data-00001-of-00002").unlink()
    with pytest.raises(InputError, match="missing checkpoint data shard variables.data-00001-of-00002"):
        load_saved_model(directory, {"serve"}, "serving_default")


def test_missing_variable_key(tmp_path: Path) -> None:
    directory = _copy("tf_tf1_savedmodel", tmp_path)
    pb = directory / "saved_model.pb"
    model = saved_model_pb2.SavedModel()
    model.ParseFromString(pb.read_bytes())
    graph_def = model.meta_graphs[0].graph_def
    renamed = 0
    for node in graph_def.node:  # point the saver at a key the checkpoint lacks
        if node.op == "Const" and node.name.endswith("tensor_names"):
            values = node.attr["value"].tensor.string_val
            for i, value in enumerate(values):
                if value == b"dense/bias":
                    values[i] = b"dense/bias_renamed"
                    renamed += 1
    assert renamed
    pb.write_bytes(model.SerializeToString())
    wanted = "checkpoint has no tensor 'dense/bias_renamed' for variable dense/bias"
    with pytest.raises(InputError, match=wanted):
        load_saved_model(directory, {"serve"}, "serving_default")


def test_not_a_saved_model(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(b"\xff\xff\xff garbage")
    with pytest.raises(InputError, match="cannot parse"):
        load_saved_model(tmp_path, {"serve"}, "serving_default")
    with pytest.raises(InputError, match="no saved_model.pb"):
        load_saved_model(tmp_path / "x", {"serve"}, "serving_default")


def test_tf1_signature_may_feed_an_inner_tensor(tmp_path: Path) -> None:
    directory = _copy("tf_tf1_savedmodel", tmp_path)
    pb = directory / "saved_model.pb"
    model = saved_model_pb2.SavedModel()
    model.ParseFromString(pb.read_bytes())
    meta = model.meta_graphs[0]
    inner = meta.signature_def["inner"]
    inner.inputs["pre"].name = "add:0"  # feed the pre-activation directly
    inner.inputs["pre"].dtype = int(DType.FLOAT)
    inner.outputs["y"].CopyFrom(meta.signature_def["serving_default"].outputs["y"])
    pb.write_bytes(model.SerializeToString())
    graph = load_saved_model(directory, {"serve"}, "inner").graph
    assert graph.input_keys == ["pre"] and graph.inputs[0].op == "Placeholder"
    assert "MatMul" not in graph.op_histogram() and "x" not in graph
    pre = np.array([[0.5, -1.0, 2.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(interpret(graph, {"pre": pre})["y"], np.tanh(pre), rtol=1e-6)


def test_text_format_saved_model(tmp_path: Path) -> None:
    from google.protobuf import text_format

    directory = _copy("tf_module_dense", tmp_path)
    model = saved_model_pb2.SavedModel()
    model.ParseFromString((directory / "saved_model.pb").read_bytes())
    (directory / "saved_model.pb").unlink()
    (directory / "saved_model.pbtxt").write_text(text_format.MessageToString(model))
    graph = load_saved_model(directory, {"serve"}, "serving_default").graph
    with np.load(FIXTURES / "tf_module_dense" / "inputs.npz") as inputs, \
            np.load(FIXTURES / "tf_module_dense" / "expected.npz") as expected:
        result = interpret(graph, {"x": inputs["x"]})
        np.testing.assert_allclose(result["logits"], expected["logits"], rtol=1e-4, atol=1e-4)
