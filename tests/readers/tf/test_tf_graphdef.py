"""Frozen GraphDef reading: binary and text, output names, inputs, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format

from tfjsconv._proto import graph_pb2
from tfjsconv.errors import InputError, OptionsError
from tfjsconv.ir.interpret import interpret
from tfjsconv.readers.tf.graphdef import load_frozen_graph

FROZEN = Path(__file__).resolve().parents[3] / "fixtures" / "models" / "tf_frozen"


def _check_numbers(graph) -> None:  # type: ignore[no-untyped-def]
    with np.load(FROZEN / "inputs.npz") as inputs, np.load(FROZEN / "expected.npz") as expected:
        result = interpret(graph, {"x": inputs["x"]})
        for key in ("logits", "probs"):
            np.testing.assert_allclose(result[key], expected[key], rtol=1e-4, atol=1e-4)


def test_binary_frozen_graph() -> None:
    graph = load_frozen_graph(FROZEN / "model.pb", ["logits", "probs"])
    assert graph.input_keys == ["x"]
    assert [key for key, _ in graph.outputs] == ["logits", "probs"]
    _check_numbers(graph)


def test_text_frozen_graph(tmp_path: Path) -> None:
    graph_def = graph_pb2.GraphDef()
    graph_def.ParseFromString((FROZEN / "model.pb").read_bytes())
    pbtxt = tmp_path / "model.pbtxt"
    pbtxt.write_text(text_format.MessageToString(graph_def))
    _check_numbers(load_frozen_graph(pbtxt, ["logits", "probs"]))


def test_output_with_index_and_pruning() -> None:
    graph = load_frozen_graph(FROZEN / "model.pb", ["logits:0"])
    assert [key for key, _ in graph.outputs] == ["logits:0"]
    assert "Softmax" not in graph.op_histogram()


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="output node.s. not in the graph: nope"):
        load_frozen_graph(FROZEN / "model.pb", ["logits", "nope"])
    with pytest.raises(OptionsError, match="--output_node_names is required"):
        load_frozen_graph(FROZEN / "model.pb", [])
    bad = tmp_path / "bad.pb"
    bad.write_bytes(b"\xff\xff\xff\xff")
    with pytest.raises(InputError, match="not a GraphDef"):
        load_frozen_graph(bad, ["x"])
