"""Every Keras fixture (tf-keras 2 and Keras 3: .h5, .keras, keras_saved_model, including the tf-keras
SavedModels committed as TF fixtures) converted to a TF.js GRAPH model, run in real TF.js on cpu and
wasm and compared with Keras's outputs; and every one the layers route converts going through a TF.js
layers model first (``tfjs_layers_model -> tfjs_graph_model``), weights-only files included (their
topology comes from the fixture named by ``topology_from``, as in test_fixtures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tfjs_runner import TfjsRunner

from e2e.fixture_cases import FIXTURES_ROOT, FixtureCase, Tolerance, compare_outputs, load_spec, tolerance_for

KERAS_FORMATS = ("keras", "keras_keras", "keras_saved_model")
# Nodes in the official converter's graph model of the same tf-keras .h5 (tensorflowjs 4.22 with
# TF 2.21: tensorflowjs_converter --input_format keras --output_format tfjs_graph_model): ours must
# not have more.
# (It fails on kg_keras2_activations, _conv1d, _conv2d and _conv3d: Erfc/Softsign, PartitionedCall
# and Conv3DBackpropInputV2 left in its graph.)
OFFICIAL_NODES = {"keras2_activations": 34, "keras2_conv1d": 32, "keras2_conv_pool": 15,
                  "keras2_conv_variants": 34, "keras2_dense_dropout_bn": 20, "keras2_misc_layers": 60,
                  "keras2_multi_io": 26, "keras2_nested_sequential": 20, "keras2_stem_head": 34,
                  "kg_keras2_masking_identity": 74, "kg_keras2_merging": 91, "kg_keras2_normalization": 267,
                  "kg_keras2_pooling": 64, "kg_keras2_preprocessing": 270, "kg_keras2_reshaping": 75,
                  "kg_keras2_shared_nested": 32,
                  # fixtures/generate/kgb_models.py (the official converter refuses kgb_keras2_tfop_zoo:
                  # "Unsupported Ops in the model before optimization: Softsign, Erfc")
                  "kgb_keras2_attention_layers": 155, "kgb_keras2_bidi_text": 900,
                  "kgb_keras2_causal_conv1d": 124, "kgb_keras2_gru_text": 322, "kgb_keras2_lstm_text": 571,
                  "kgb_keras2_masked_rnn_text": 710, "kgb_keras2_mobilenetv3small": 205,
                  "kgb_keras2_tfop_app": 51}


def _cases() -> list[FixtureCase]:
    cases = []
    for spec_path in sorted(FIXTURES_ROOT.glob("*/fixture.json")):
        spec = load_spec(spec_path.parent)
        name = spec_path.parent.name
        if spec.get("input_format") == "tf_saved_model" and (spec_path.parent / spec["source"]
                                                              / "keras_metadata.pb").is_file():
            # A tf-keras SavedModel committed as a TF fixture is a keras_saved_model source too.
            spec = {**spec, "input_format": "keras_saved_model"}
        elif spec.get("input_format") not in KERAS_FORMATS:
            continue
        cases.append(FixtureCase(name, spec_path.parent, spec, {}, name, tolerance_for(spec, {})))
    return cases


CASES = _cases()
# Fixtures whose own options already ask for a graph model run in test_fixtures.py.
DIRECT = [case for case in CASES if not case.spec.get("topology_from")
          and (case.spec.get("options") or {}).get("output_format") != "tfjs_graph_model"]


def _model(path: Path) -> dict[str, Any]:
    with open(path / "model.json", encoding="utf-8") as handle:
        model: dict[str, Any] = json.load(handle)
    return model


def _run(case: FixtureCase, model_dir: Path, tfjs: TfjsRunner, backends: list[str]) -> None:
    model = _model(model_dir)
    assert model["format"] == "graph-model"
    outputs = list(case.spec["outputs"])
    signature = model["signature"]
    assert sorted(signature["outputs"]) == sorted(outputs), "signature outputs keyed by layer name"
    assert sorted(signature["inputs"]) == sorted(case.spec["inputs"]), "signature inputs keyed by name"
    for key, dtype in (case.spec.get("output_dtypes") or {}).items():
        if dtype.startswith("float"):  # a dtype lost on the way (e.g. an int shape operand's) shows here
            assert signature["outputs"][key].get("dtype") == "DT_FLOAT", (key, signature["outputs"][key])
    for backend in backends:
        named = tfjs.run_named(model_dir, "graph", case.inputs(), outputs, backend=backend,
                               label=case.case_id)
        compare_outputs([a for _, a in named], case.expected(), case.tolerance,
                        f"{case.case_id} on {backend}")


def test_cases_found() -> None:
    assert len(DIRECT) >= 30, "expected the Keras fixtures under fixtures/models"


@pytest.mark.parametrize("case", DIRECT, ids=[c.name for c in DIRECT])
def test_keras_fixture_as_graph_model(case: FixtureCase, tfjs: TfjsRunner, tmp_path: Path) -> None:
    import tfjsconv

    out = tmp_path / "graph"
    tfjsconv.convert(str(case.source), str(out), input_format=case.spec["input_format"],
                     output_format="tfjs_graph_model")
    # Every graph model runs on wasm too (the fixture's "wasm" flag is about its LAYERS model:
    # tfjs-layers' RNN code paths are not what a graph model runs).
    _run(case, out, tfjs, ["cpu", "wasm"])


@pytest.mark.parametrize("name", sorted(OFFICIAL_NODES))
def test_no_more_nodes_than_the_official_converter(name: str, tmp_path: Path) -> None:
    import tfjsconv

    spec = load_spec(FIXTURES_ROOT / name)
    tfjsconv.convert(str(FIXTURES_ROOT / name / spec["source"]), str(tmp_path), input_format="keras",
                     output_format="tfjs_graph_model")
    topology = _model(tmp_path)["modelTopology"]
    # Library functions count too (the bodies of While loops).
    functions = (topology.get("library") or {}).get("function", [])
    nodes = len(topology["node"]) + sum(len(f.get("nodeDef", [])) for f in functions)
    official = OFFICIAL_NODES[name]
    assert nodes <= official, f"{name}: {nodes} nodes, the official converter writes {official}"


def _layers_model(case: FixtureCase, tmp_path: Path) -> Path:
    """The fixture as a TF.js layers model (weights-only files get their topology attached)."""
    import tfjsconv

    out = tmp_path / "layers"
    tfjsconv.convert(str(case.source), str(out), input_format=case.spec["input_format"],
                     output_format="tfjs_layers_model")
    topology_from = case.spec.get("topology_from")
    if not topology_from:
        return out
    other = FIXTURES_ROOT / topology_from
    other_spec = load_spec(other)
    full = tmp_path / "topology"
    tfjsconv.convert(str(other / other_spec["source"]), str(full), input_format=other_spec["input_format"],
                     output_format="tfjs_layers_model")
    model = _model(full)
    model["weightsManifest"] = _model(out)["weightsManifest"]
    (out / "model.json").write_text(json.dumps(model), encoding="utf-8")
    return out


# Every Keras fixture: those the layers route converts go on through tfjs_layers_model ->
# tfjs_graph_model; the others must be refused with the way out (their graph models are checked by
# test_keras_fixture_as_graph_model or, when their options ask for one, by test_fixtures.py).
VIA_LAYERS = CASES


@pytest.mark.parametrize("case", VIA_LAYERS, ids=[c.name for c in VIA_LAYERS])
def test_layers_model_as_graph_model(case: FixtureCase, tfjs: TfjsRunner, tmp_path: Path) -> None:
    import tfjsconv
    from tfjsconv.errors import UnsupportedError

    try:
        layers = _layers_model(case, tmp_path)
    except UnsupportedError as error:
        assert "--output_format=tfjs_graph_model" in str(error), f"{case.name}: no way out in {error}"
        assert case in DIRECT or (case.spec.get("options") or {}).get("output_format") == "tfjs_graph_model"
        return
    out = tmp_path / "graph"
    tfjsconv.convert(str(layers), str(out), input_format="tfjs_layers_model",
                     output_format="tfjs_graph_model")
    _run(case, out, tfjs, ["cpu", "wasm"])


@pytest.mark.browser
@pytest.mark.parametrize("case", DIRECT, ids=[c.name for c in DIRECT])
def test_keras_fixture_as_graph_model_on_webgl(case: FixtureCase, browser: TfjsRunner,
                                               tmp_path: Path) -> None:
    """The same conversions on TF.js webgl in headless Chromium (float32 textures; GLSL built-ins are
    less exact than float32, hence the 1e-3 bound test_browser.py explains)."""
    import tfjsconv

    out = tmp_path / "graph"
    tfjsconv.convert(str(case.source), str(out), input_format=case.spec["input_format"],
                     output_format="tfjs_graph_model")
    run = browser.execute(out, "graph", case.inputs(), list(case.spec["outputs"]), backend="webgl",
                          label=case.case_id)
    tolerance = Tolerance(max(case.tolerance.rtol, 1e-3), max(case.tolerance.atol, 1e-3))
    compare_outputs([a for _, a in run.outputs], case.expected(), tolerance, f"{case.case_id} on webgl")
