"""Graph fixtures in a real browser: headless Chromium runs our conversion with TF.js's webgl backend
(SwiftShader: Chromium's CPU implementation of the GPU APIs) and its wasm backend, and the outputs
are compared with the framework's (expected.npz).

Tolerance on webgl: tensors are float32 textures (asserted: WEBGL_RENDER_FLOAT32_ENABLED), so adds
and multiplies round like the cpu backend's; what differs is the GLSL built-ins (sin, cos, tan, exp,
log, pow), whose accuracy GLSL ES 3.00 leaves to the implementation.  SwiftShader's approximations
are off by up to ~2e-4 relative (onnx_misc_ops: tan; tf_while_cond: sin/cos in a loop), so webgl
is held to rtol = atol = 1e-3, ten times the float32 bound the cpu and wasm runs must meet.
wasm in the browser is held to each fixture's own tolerance, the same as in Node.  With
TFJSCONV_BROWSER_WASM=0 (``.ci/run`` sets it) only webgl runs per fixture: wasm is already checked
in Node by tests/e2e/test_fixtures.py, webgl only here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from tfjs_runner import TfjsRunner

from e2e.fixture_cases import FixtureCase, Tolerance, compare_outputs, discover_cases

pytestmark = pytest.mark.browser

WEBGL_TOLERANCE = 1e-3
BROWSER_WASM = os.environ.get("TFJSCONV_BROWSER_WASM", "1") != "0"
GRAPH_CASES = [case for case in discover_cases() if case.graph]


def _convert(case: FixtureCase, out: Path) -> Path:
    import tfjsconv

    tfjsconv.convert(str(case.source), str(out), **case.convert_options())
    model = json.loads((out / "model.json").read_text(encoding="utf-8"))
    assert model.get("format") == "graph-model", f"{case.case_id}: expected a graph model"
    return out


def _webgl_tolerance(case: FixtureCase) -> Tolerance:
    tol = case.tolerance
    return Tolerance(max(tol.rtol, WEBGL_TOLERANCE), max(tol.atol, WEBGL_TOLERANCE), tol.atol_range_fraction)


def test_graph_cases_found() -> None:
    assert len(GRAPH_CASES) >= 30, "expected the TF and ONNX fixtures to convert to graph models"


@pytest.mark.parametrize("case", GRAPH_CASES, ids=[case.case_id for case in GRAPH_CASES])
def test_graph_fixture_in_chromium(case: FixtureCase, browser: TfjsRunner, tmp_path: Path) -> None:
    model_dir = _convert(case, tmp_path / "out")
    inputs, expected, outputs = case.inputs(), case.expected(), list(case.spec["outputs"])
    webgl = browser.execute(model_dir, "graph", inputs, outputs, backend="webgl", label=case.case_id)
    assert webgl.info.get("float32") is True, f"webgl without float32 textures: {webgl.info}"
    assert "SwiftShader" in str(webgl.info.get("renderer")), webgl.info
    compare_outputs([a for _, a in webgl.outputs], expected, _webgl_tolerance(case),
                    f"{case.case_id} on webgl in chromium")
    if not BROWSER_WASM:
        return
    wasm = browser.execute(model_dir, "graph", inputs, outputs, backend="wasm", label=case.case_id)
    compare_outputs([a for _, a in wasm.outputs], expected, case.tolerance,
                    f"{case.case_id} on wasm in chromium")


# ----- the harness itself: it computes real numbers and reports failures ---------------------------

KERNEL = np.array([[1, 2, 0], [0, -1, 3], [2, 0, 1], [-1, 1, 1]], dtype=np.float32)
X = np.array([[1, 2, 3, 4], [-1, 0, 2, 5]], dtype=np.float32)


def _matmul_model(out: Path, op: str = "MatMul") -> Path:
    """x @ w as a hand-written graph model (integer values: every backend must be exact)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "w.bin").write_bytes(KERNEL.astype("<f4").tobytes())
    float_t = {"type": "DT_FLOAT"}
    dims = {"dim": [{"size": "-1"}, {"size": "4"}]}
    nodes = [
        {"name": "x", "op": "Placeholder", "attr": {"dtype": float_t, "shape": {"shape": dims}}},
        {"name": "w", "op": "Const", "attr": {"dtype": float_t, "value": {"tensor": {
            "dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "4"}, {"size": "3"}]}}}}},
        {"name": "y", "op": op, "input": ["x", "w"], "attr": {"T": float_t}},
    ]
    model = {
        "format": "graph-model", "generatedBy": "tfjsconv browser self-test", "convertedBy": None,
        "modelTopology": {"node": nodes, "library": {}, "versions": {"producer": 1882}},
        "weightsManifest": [
            {"paths": ["w.bin"], "weights": [{"name": "w", "shape": [4, 3], "dtype": "float32"}]}
        ],
    }
    (out / "model.json").write_text(json.dumps(model), encoding="utf-8")
    return out


@pytest.mark.parametrize("backend", ["webgl", "wasm", "cpu"])
def test_browser_computes_exactly(browser: TfjsRunner, tmp_path: Path, backend: str) -> None:
    run = browser.execute(_matmul_model(tmp_path / "mm"), "graph", [("x", X)], ["y"], backend=backend, runs=3)
    np.testing.assert_array_equal(run.outputs[0][1], X @ KERNEL)
    assert len(run.times_ms) == 3 and all(0 <= t < 10_000 for t in run.times_ms)
    assert run.execute == "execute"


def test_browser_reports_missing_kernel(browser: TfjsRunner, tmp_path: Path) -> None:
    model_dir = _matmul_model(tmp_path / "bad", op="NoSuchOp")
    with pytest.raises(AssertionError, match=r"(?s)TF\.js \(webgl, graph, in chromium\) failed.*NoSuchOp"):
        browser.execute(model_dir, "graph", [("x", X)], ["y"], backend="webgl")
    # The page survives a failed request.
    run = browser.execute(_matmul_model(tmp_path / "ok"), "graph", [("x", X)], ["y"], backend="webgl")
    np.testing.assert_array_equal(run.outputs[0][1], X @ KERNEL)
