"""model.json text: json's default form, and a located error for numbers JSON cannot hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tfjsconv.errors import InputError
from tfjsconv.writers.model_json import write_model_json


def test_written_text_is_jsons_default_form(tmp_path: Path) -> None:
    model = {"format": "graph-model", "modelTopology": {"node": [{"name": "x", "attr": {"v": 0.1}}]},
             "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": []}], "ü": [1, 2.5]}
    text = write_model_json(tmp_path, model).read_text(encoding="utf-8")
    assert text == json.dumps(model)
    assert json.loads(text) == model


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_number_is_named(tmp_path: Path, bad: float) -> None:
    model = {"modelTopology": {"node": [{"attr": {"value": [1.0, bad]}}]}}
    with pytest.raises(InputError, match=r"model.json.modelTopology.node.attr.value holds a non-finite"):
        write_model_json(tmp_path, model)
    assert not (tmp_path / "model.json").exists()
