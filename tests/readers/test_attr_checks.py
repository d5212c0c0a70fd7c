"""Attrs read from a file are checked against TensorFlow's OpDef attr types, as TensorFlow's importer does."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tfjsconv
from tfjsconv._proto import graph_pb2
from tfjsconv.errors import InputError
from tfjsconv.ir.types import DType
from tfjsconv.readers.tf.graphdef import load_frozen_graph
from tfjsconv.readers.tfjs.graph_model import read_tfjs_graph_model

MODELS = Path(__file__).resolve().parents[2] / "fixtures" / "models"
FROZEN = MODELS / "tf_frozen" / "model.pb"


def _frozen_with(tmp_path: Path, edit: Callable[[Any], None]) -> Path:
    graph_def = graph_pb2.GraphDef()
    graph_def.ParseFromString(FROZEN.read_bytes())
    edit(graph_def)
    path = tmp_path / "model.pb"
    path.write_bytes(graph_def.SerializeToString())
    return path


def _node(graph_def: Any, name: str) -> Any:
    return next(n for n in graph_def.node if n.name == name)


def _string_transpose(graph_def: Any) -> None:
    _node(graph_def, "MatMul").attr["transpose_a"].s = b"yes"


def _quint8_add(graph_def: Any) -> None:
    _node(graph_def, "add").attr["T"].type = int(DType.QUINT8)


def _ints_as_padding(graph_def: Any) -> None:  # a list where Softmax has no such attr: left alone
    _node(graph_def, "probs").attr["padding"].list.i.extend([1, 2])


@pytest.mark.parametrize("edit, message", [
    (_string_transpose, "node MatMul (MatMul): attr transpose_a is a string; TensorFlow's op takes bool"),
    (_quint8_add, "node add (AddV2): attr T is DT_QUINT8, not one of the types the op allows ("),
])
def test_frozen_graph_attr_breaking_its_opdef_is_refused(tmp_path: Path, edit: Callable[[Any], None],
                                                         message: str) -> None:
    path = _frozen_with(tmp_path, edit)
    with pytest.raises(InputError) as caught:
        load_frozen_graph(path, ["logits"])
    text = str(caught.value)
    assert message in text and "\n" not in text and str(path) in text


def test_attr_the_opdef_does_not_define_is_left_alone(tmp_path: Path) -> None:
    graph = load_frozen_graph(_frozen_with(tmp_path, _ints_as_padding), ["probs"])
    assert graph.node("probs").attrs["padding"] == [1, 2]


def _converted_dense(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    spec = json.loads((MODELS / "tf_module_dense" / "fixture.json").read_text())
    out = tmp_path / "m"
    tfjsconv.convert(MODELS / "tf_module_dense" / spec["source"], out, input_format=spec["input_format"],
                     **spec.get("options", {}))
    return out, json.loads((out / "model.json").read_text())


def _first_with_t(document: dict[str, Any]) -> dict[str, Any]:
    return next(n for n in document["modelTopology"]["node"] if "T" in n.get("attr", {}))


def test_graph_model_attr_of_the_wrong_kind_is_refused(tmp_path: Path) -> None:
    out, document = _converted_dense(tmp_path)
    node = _first_with_t(document)
    node["attr"]["T"] = {"i": "3"}
    (out / "model.json").write_text(json.dumps(document))
    with pytest.raises(InputError, match=f"node {node['name']} \\({node['op']}\\): attr T is an int; "
                                         "TensorFlow's op takes type"):
        read_tfjs_graph_model(out)


def test_graph_model_types_are_not_held_to_tensorflow_lists(tmp_path: Path) -> None:
    # TF.js ignores most type attrs: a graph model is checked for kinds, not TensorFlow's allowed types.
    out, document = _converted_dense(tmp_path)
    node = _first_with_t(document)
    node["attr"]["T"] = {"type": "DT_QUINT8"}
    (out / "model.json").write_text(json.dumps(document))
    model = read_tfjs_graph_model(out)
    assert model.graph.node(node["name"]).attrs["T"] == DType.QUINT8
