"""Node inputs are counted against the op's declaration before any rewrite reads them by position."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import tfjsconv
from tfjsconv._proto import graph_pb2, saved_model_pb2
from tfjsconv.errors import InputError
from tfjsconv.readers.tf.graphdef import load_frozen_graph

MODELS = Path(__file__).resolve().parents[2] / "fixtures" / "models"


def test_saved_model_gather_missing_its_indices_is_refused_before_freezing(tmp_path: Path) -> None:
    # Found by fuzzing: the variable freezer read the ResourceGather's indices as inputs[1].
    directory = tmp_path / "saved_model"
    shutil.copytree(MODELS / "tf_hash_table" / "saved_model", directory)
    model = saved_model_pb2.SavedModel()
    model.ParseFromString((directory / "saved_model.pb").read_bytes())
    gathers = [n for mg in model.meta_graphs for f in mg.graph_def.library.function for n in f.node_def
               if n.op == "ResourceGather"]
    assert gathers
    for node in gathers:
        del node.input[1:]
    (directory / "saved_model.pb").write_bytes(model.SerializeToString())
    with pytest.raises(InputError) as caught:
        tfjsconv.convert(str(directory), str(tmp_path / "out"))
    text = str(caught.value)
    assert "(ResourceGather) has 1 input(s); ResourceGather takes at least 2" in text
    assert str(directory) in text and "\n" not in text
    assert not (tmp_path / "out").exists()


def test_saved_model_gather_with_a_float_index_type_is_refused_before_freezing(tmp_path: Path) -> None:
    # Found by fuzzing: the variable freezer read Tindices as a DType (AttributeError on a float).
    directory = tmp_path / "saved_model"
    shutil.copytree(MODELS / "tf_hash_table" / "saved_model", directory)
    model = saved_model_pb2.SavedModel()
    model.ParseFromString((directory / "saved_model.pb").read_bytes())
    for node in (n for mg in model.meta_graphs for f in mg.graph_def.library.function for n in f.node_def
                 if n.op == "ResourceGather"):
        node.attr["Tindices"].Clear()
        node.attr["Tindices"].f = 2.5
    (directory / "saved_model.pb").write_bytes(model.SerializeToString())
    with pytest.raises(InputError) as caught:
        tfjsconv.convert(str(directory), str(tmp_path / "out"))
    assert "(ResourceGather): attr Tindices is a float; TensorFlow's op takes type" in str(caught.value)
    assert not (tmp_path / "out").exists()


def _frozen_concat(tmp_path: Path, n: int) -> Path:
    graph_def = graph_pb2.GraphDef()
    graph_def.ParseFromString((MODELS / "tf_frozen" / "model.pb").read_bytes())
    axis = graph_def.node.add(name="axis", op="Const")
    axis.attr["dtype"].type = 3  # DT_INT32
    axis.attr["value"].tensor.dtype = 3
    axis.attr["value"].tensor.int_val.append(1)
    concat = graph_def.node.add(name="both", op="ConcatV2", input=["probs", "logits", "axis"])
    concat.attr["T"].type = 1
    concat.attr["Tidx"].type = 3
    concat.attr["N"].i = n
    path = tmp_path / "model.pb"
    path.write_bytes(graph_def.SerializeToString())
    return path


def test_concat_with_fewer_values_than_its_n_is_refused(tmp_path: Path) -> None:
    path = _frozen_concat(tmp_path, 3)
    with pytest.raises(InputError) as caught:
        load_frozen_graph(path, ["both"])
    assert "node both (ConcatV2) has 3 input(s); ConcatV2 takes at least 4" in str(caught.value)


def test_concat_whose_inputs_match_its_n_loads(tmp_path: Path) -> None:
    graph = load_frozen_graph(_frozen_concat(tmp_path, 2), ["both"])
    assert [v.producer.name for v in graph.node("both").inputs] == ["probs", "logits", "axis"]
