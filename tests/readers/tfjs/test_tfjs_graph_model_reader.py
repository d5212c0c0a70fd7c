"""The TF.js graph-model reader: what a model.json becomes in the IR, and its one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import tfjsconv
from tfjsconv.detect import detect_format
from tfjsconv.errors import InputError
from tfjsconv.ir.attrs import RESOURCE_KEY_ATTR
from tfjsconv.ir.graph import as_array
from tfjsconv.ir.types import DType
from tfjsconv.readers.tfjs.graph_model import read_tfjs_graph_model

MODELS = Path(__file__).resolve().parents[3] / "fixtures" / "models"


def _convert(name: str, out: Path) -> Path:
    spec = json.loads((MODELS / name / "fixture.json").read_text())
    tfjsconv.convert(MODELS / name / spec["source"], out, input_format=spec["input_format"],
                     **spec.get("options", {}))
    return out


def test_int64_constants_get_their_dtype_back(tmp_path: Path) -> None:
    model_dir = _convert("tf_int64_inputs", tmp_path / "m")
    assert detect_format(str(model_dir)) == "tfjs_graph_model"
    manifest = {w["name"]: w for g in json.loads((model_dir / "model.json").read_text())["weightsManifest"]
                for w in g["weights"]}
    model = read_tfjs_graph_model(model_dir)
    int64 = [n for n in model.graph.nodes if n.op == "Const" and n.attrs["dtype"] == DType.INT64]
    assert int64 and all(manifest[n.name]["dtype"] == "int32" for n in int64)  # stored narrowed
    for node in int64:
        assert as_array(node.attrs["value"]).dtype == np.int64
    assert model.graph.input_keys == ["ids", "offset"]
    assert [key for key, _ in model.graph.outputs] == ["emb", "shifted", "total"]


def test_tables_are_linked_by_resource_id(tmp_path: Path) -> None:
    model = read_tfjs_graph_model(_convert("tf_hash_table", tmp_path / "m"))
    assert model.initializer is not None
    handles = [n for n in model.graph.inputs if RESOURCE_KEY_ATTR in n.attrs]
    assert [n.attrs[RESOURCE_KEY_ATTR] for n in handles] == [key for key, _ in model.initializer.outputs]
    assert model.initializer.outputs[0][0] == "hash_table"


def test_control_flow_bodies_are_library_functions(tmp_path: Path) -> None:
    model = read_tfjs_graph_model(_convert("tf_while_cond", tmp_path / "m"))
    assert model.graph.functions
    called = {v.name for n in model.graph.nodes for v in n.attrs.values() if hasattr(v, "attrs")}
    assert called <= set(model.graph.functions)


def _edited(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    model_dir = _convert("tf_module_dense", tmp_path / "m")
    document = json.loads((model_dir / "model.json").read_text())
    edit(document)
    (model_dir / "model.json").write_text(json.dumps(document))
    return model_dir


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(format="layers-model"), "has format 'layers-model', not 'graph-model'"),
    (lambda d: d.pop("modelTopology"), "has no modelTopology object"),
    (lambda d: d["modelTopology"].update(node="nodes"), "is not a GraphDef"),
    (lambda d: d["signature"]["outputs"]["logits"].update(name="nowhere:0"),
     "names tensor 'nowhere:0', which the graph lacks"),
])
def test_broken_model_json_is_one_line(tmp_path: Path, edit: Callable[[dict[str, Any]], None],
                                       message: str) -> None:
    model_dir = _edited(tmp_path, edit)
    with pytest.raises(InputError) as caught:
        read_tfjs_graph_model(model_dir)
    text = str(caught.value)
    assert message in text and "\n" not in text and text.startswith(str(model_dir / "model.json"))


def test_const_without_weight(tmp_path: Path) -> None:
    def rename(document: dict[str, Any]) -> None:
        const = next(n for n in document["modelTopology"]["node"] if n["op"] == "Const")
        old, const["name"] = const["name"], "renamed_const"
        for node in document["modelTopology"]["node"]:
            node["input"] = ["renamed_const" if i == old else i for i in node.get("input", [])]

    with pytest.raises(InputError, match="Const node 'renamed_const' has no weight of that name"):
        read_tfjs_graph_model(_edited(tmp_path, rename))


def test_const_shape_must_match_its_weight(tmp_path: Path) -> None:
    def reshape(document: dict[str, Any]) -> None:
        const = next(n for n in document["modelTopology"]["node"] if n["op"] == "Const")
        const["attr"]["value"]["tensor"]["tensorShape"] = {"dim": [{"size": "7"}, {"size": "7"}]}

    with pytest.raises(InputError, match="but its Const node says \\[7, 7\\]"):
        read_tfjs_graph_model(_edited(tmp_path, reshape))
