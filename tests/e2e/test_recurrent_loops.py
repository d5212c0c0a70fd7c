"""Recurrent fixtures converted with k-step While loops (every recurrent layer a StatelessWhile
running k steps per iteration, the first T mod k steps peeled in front), run in real TF.js on cpu and
wasm and compared with Keras's outputs.  The fixtures' sequences (7 to 9 steps) are short enough that
the default unrolls them, so this is where TF.js runs the loop forms: masks (Embedding mask_zero,
Masking), go_backwards, return_state, GRU with both reset_after values, Bidirectional with every
merge mode, SimpleRNN, with remainders 0 to 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tfjs_runner import TfjsRunner

from e2e.fixture_cases import FIXTURES_ROOT, FixtureCase, compare_outputs, load_spec, tolerance_for
from tfjsconv.lowering.keras.layers import recurrent

FIXTURES = ["kgb_keras2_masked_rnn_text", "kgb_keras2_bidi_text", "kgb_keras2_gru_text",
            "kgb_keras2_lstm_text", "keras2_masked_rnn"]
CASES = [(name, k) for name in FIXTURES for k in (2, 3)]


@pytest.mark.parametrize("name,k", CASES, ids=[f"{n}-k{k}" for n, k in CASES])
def test_k_step_loops_match_keras(name: str, k: int, tfjs: TfjsRunner, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import tfjsconv

    monkeypatch.setattr(recurrent, "UNROLL_UP_TO", 0)
    monkeypatch.setattr(recurrent, "STEPS_PER_ITERATION", k)
    directory = FIXTURES_ROOT / name
    spec = load_spec(directory)
    case = FixtureCase(name, directory, spec, {}, f"{name}-k{k}", tolerance_for(spec, {}))
    tfjsconv.convert(str(case.source), str(tmp_path), input_format=spec["input_format"],
                     output_format="tfjs_graph_model")
    topology = json.loads((tmp_path / "model.json").read_text())["modelTopology"]
    loops = [n for n in topology["node"] if n["op"] == "StatelessWhile"]
    assert loops, "every recurrent layer should be a While loop"
    for backend in ("cpu", "wasm"):
        named = tfjs.run_named(tmp_path, "graph", case.inputs(), list(spec["outputs"]), backend=backend,
                               label=case.case_id)
        compare_outputs([a for _, a in named], case.expected(), case.tolerance,
                        f"{case.case_id} on {backend}")
