"""readers/keras/masks.py: the layers-route mask check agrees with the graph-route lowering about which
Keras layers hand masks on, and decides the cases the sweep met (the TF.js runs of those models are in
tests/e2e/test_unseen_regressions.py)."""

from __future__ import annotations

from typing import Any

import pytest

import tfjsconv.lowering.keras.layers  # noqa: F401  (registers the lowerings)
from tfjsconv.lowering.keras.registry import LAYERS
from tfjsconv.readers.keras.layer_fixes import Findings
from tfjsconv.readers.keras.masks import KERAS_KEEP, check_masks


def test_keras_rules_are_the_lowerings() -> None:
    keep = {cls for cls in LAYERS.keys() if getattr(LAYERS.get(cls), "mask", None) == "keep"}
    assert KERAS_KEEP == keep


def _model(*layers: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [{"class_name": "InputLayer", "name": "in",
                                      "config": {"name": "in", "batch_input_shape": [None, 5, 3]}}]
    previous = "in"
    for i, (cls, config) in enumerate(layers):
        name = f"l{i}"
        entries.append({"class_name": cls, "name": name, "config": {"name": name, **config},
                        "inbound_nodes": [[[previous, 0, 0, {}]]]})
        previous = name
    return {"class_name": "Model", "config": {"name": "m", "layers": entries, "input_layers": [["in", 0, 0]],
                                              "output_layers": [[previous, 0, 0]]}}


def _refusals(model: dict[str, Any]) -> list[str]:
    found = Findings(keras3=False)
    for entry in model["config"]["layers"]:
        found.layer_classes[entry["name"]] = entry["class_name"]
    check_masks(model, found)
    return found.unsupported


MASK = ("Masking", {"mask_value": 0.0})
LSTM = ("LSTM", {"units": 2})


@pytest.mark.parametrize("layers, refused", [
    ((MASK, LSTM), False),
    ((MASK, ("LeakyReLU", {}), LSTM), False),  # TF.js drops the mask but hands the stale one on: right
    ((MASK, ("Conv1D", {"filters": 2}), LSTM), True),  # Keras runs the LSTM unmasked, TF.js masked
    ((MASK, ("GlobalAveragePooling1D", {}),), True),
    ((("Conv1D", {"filters": 2}), ("GlobalAveragePooling1D", {})), False),  # no mask at all
    ((MASK, ("LSTM", {"units": 2, "return_sequences": True}), ("Dense", {"units": 2}), LSTM), False),
])
def test_mask_flows(layers: tuple[tuple[str, dict[str, Any]], ...], refused: bool) -> None:
    assert bool(_refusals(_model(*layers))) is refused
