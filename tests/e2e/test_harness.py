"""Self-tests of the TF.js harness: it must compute real numbers and it must be able to fail.

The models here are written by hand with numpy (no converter involved), so a harness bug cannot hide
behind a converter bug or the other way round.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tfjs_runner
from tfjs_runner import HarnessSetupError, NodeProcess, TfjsRunner, check_installation

from e2e.fixture_cases import Tolerance, compare_outputs, quantization_kind, tolerance_for

# Integer-valued weights and inputs keep every float32 product and sum exact, so TF.js must return
# these numbers bit for bit.
KERNEL = np.array([[1, 2, 0], [0, -1, 3], [2, 0, 1], [-1, 1, 1]], dtype=np.float32)
BIAS = np.array([0.5, -2, 1], dtype=np.float32)
X = np.array([[1, 2, 3, 4], [-1, 0, 2, 5]], dtype=np.float32)


def _write_layers_dense(out: Path, kernel: np.ndarray, bias: np.ndarray) -> Path:
    """A Sequential [Dense(relu-free)] layers model.json + one shard, as the converter would write."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "group1-shard1of1.bin").write_bytes(kernel.astype("<f4").tobytes() + bias.astype("<f4").tobytes())
    dense = {
        "class_name": "Dense",
        "config": {
            "name": "dense",
            "trainable": True,
            "batch_input_shape": [None, int(kernel.shape[0])],
            "dtype": "float32",
            "units": int(kernel.shape[1]),
            "activation": "linear",
            "use_bias": True,
        },
    }
    model = {
        "format": "layers-model",
        "generatedBy": "tfjsconv harness self-test",
        "convertedBy": None,
        "modelTopology": {
            "keras_version": "2.21.0",
            "backend": "tensorflow",
            "model_config": {"class_name": "Sequential", "config": {"name": "seq", "layers": [dense]}},
        },
        "weightsManifest": [
            {
                "paths": ["group1-shard1of1.bin"],
                "weights": [
                    {"name": "dense/kernel", "shape": list(kernel.shape), "dtype": "float32"},
                    {"name": "dense/bias", "shape": list(bias.shape), "dtype": "float32"},
                ],
            }
        ],
    }
    (out / "model.json").write_text(json.dumps(model), encoding="utf-8")
    return out


def _node(name: str, op: str, inputs: list[str], **attr: Any) -> dict[str, Any]:
    return {"name": name, "op": op, "input": inputs, "attr": attr}


def _dims(shape: list[int]) -> dict[str, Any]:
    return {"dim": [{"size": str(d)} for d in shape]}


def _write_graph_model(out: Path) -> Path:
    """Graph model with a signature whose keys differ from the node names, covering float32
    (MatMul with a weight), int32 -> bool (Greater) and string (Identity) tensors."""
    out.mkdir(parents=True, exist_ok=True)
    # TF.js reads every Const value from the weights, never from the graph JSON.
    (out / "group1-shard1of1.bin").write_bytes(
        KERNEL.astype("<f4").tobytes() + np.int32(0).astype("<i4").tobytes()
    )
    float_t = {"type": "DT_FLOAT"}
    nodes = [
        _node("x", "Placeholder", [], dtype=float_t, shape={"shape": _dims([-1, 4])}),
        _node("n", "Placeholder", [], dtype={"type": "DT_INT32"}, shape={"shape": _dims([-1])}),
        _node("s", "Placeholder", [], dtype={"type": "DT_STRING"}, shape={"shape": _dims([-1])}),
        _node(
            "w",
            "Const",
            [],
            dtype=float_t,
            value={"tensor": {"dtype": "DT_FLOAT", "tensorShape": _dims([4, 3])}},
        ),
        _node(
            "zero",
            "Const",
            [],
            dtype={"type": "DT_INT32"},
            value={"tensor": {"dtype": "DT_INT32", "tensorShape": {}}},
        ),
        _node("mm", "MatMul", ["x", "w"], T=float_t, transpose_a={"b": False}, transpose_b={"b": False}),
        _node("out", "Identity", ["mm"], T=float_t),
        _node("positive", "Greater", ["n", "zero"], T={"type": "DT_INT32"}),
        _node("echo", "Identity", ["s"], T={"type": "DT_STRING"}),
    ]

    def spec(tensor: str, dtype: str, shape: list[int]) -> dict[str, Any]:
        return {"name": tensor, "dtype": dtype, "tensorShape": _dims(shape)}

    model = {
        "format": "graph-model",
        "generatedBy": "tfjsconv harness self-test",
        "convertedBy": None,
        "modelTopology": {"node": nodes, "library": {}, "versions": {"producer": 1882}},
        "signature": {
            "inputs": {
                "features": spec("x:0", "DT_FLOAT", [-1, 4]),
                "count": spec("n:0", "DT_INT32", [-1]),
                "text": spec("s:0", "DT_STRING", [-1]),
            },
            "outputs": {
                "logits": spec("out:0", "DT_FLOAT", [-1, 3]),
                "is_pos": spec("positive:0", "DT_BOOL", [-1]),
                "text_out": spec("echo:0", "DT_STRING", [-1]),
            },
        },
        "weightsManifest": [
            {
                "paths": ["group1-shard1of1.bin"],
                "weights": [
                    {"name": "w", "shape": [4, 3], "dtype": "float32"},
                    {"name": "zero", "shape": [], "dtype": "int32"},
                ],
            }
        ],
    }
    (out / "model.json").write_text(json.dumps(model), encoding="utf-8")
    return out


GRAPH_INPUTS = [
    ("features", X),
    ("count", np.array([3, -2, 0], dtype=np.int64)),
    ("text", np.array(["héllo", "", "tf.js"])),
]


@pytest.mark.parametrize("backend", ["cpu", "wasm"])
def test_layers_dense_exact(tfjs: TfjsRunner, tmp_path: Path, backend: str) -> None:
    model_dir = _write_layers_dense(tmp_path / "dense", KERNEL, BIAS)
    (got,) = tfjs.run(model_dir, "layers", [("dense_input", X)], backend=backend)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.array([[3.5, 2, 14], [-1.5, 1, 8]], dtype=np.float32))
    np.testing.assert_array_equal(got, X @ KERNEL + BIAS)


def test_wrong_expected_is_detected(tfjs: TfjsRunner, tmp_path: Path) -> None:
    model_dir = _write_layers_dense(tmp_path / "dense", KERNEL, BIAS)
    got = tfjs.run(model_dir, "layers", [("dense_input", X)])
    right = X @ KERNEL + BIAS
    compare_outputs(got, [("dense", right)], Tolerance(1e-4, 1e-4), "self-test")
    wrong = right.copy()
    wrong[1, 2] += 0.01  # far outside rtol = atol = 1e-4
    with pytest.raises(AssertionError, match="output 'dense'"):
        compare_outputs(got, [("dense", wrong)], Tolerance(1e-4, 1e-4), "self-test")
    with pytest.raises(AssertionError, match="shape"):
        compare_outputs(got, [("dense", right.T)], Tolerance(1e-4, 1e-4), "self-test")
    with pytest.raises(AssertionError, match="returned 1 outputs, expected 2"):
        compare_outputs(got, [("a", right), ("b", right)], Tolerance(1e-4, 1e-4), "self-test")


def test_weights_actually_loaded(tfjs: TfjsRunner, tmp_path: Path) -> None:
    """A different shard must give different numbers: TF.js is not returning cached results."""
    model_dir = _write_layers_dense(tmp_path / "dense2", KERNEL * 2, BIAS)
    (got,) = tfjs.run(model_dir, "layers", [("dense_input", X)])
    np.testing.assert_array_equal(got, X @ (KERNEL * 2) + BIAS)


@pytest.mark.parametrize("backend", ["cpu", "wasm"])
def test_graph_signature_keys_and_dtypes(tfjs: TfjsRunner, tmp_path: Path, backend: str) -> None:
    model_dir = _write_graph_model(tmp_path / "graph")
    named = tfjs.run_named(
        model_dir, "graph", GRAPH_INPUTS, ["logits", "is_pos", "text_out"], backend=backend
    )
    assert [name for name, _ in named] == ["logits", "is_pos", "text_out"]
    logits, is_pos, text = (array for _, array in named)
    np.testing.assert_array_equal(logits, X @ KERNEL)
    assert is_pos.dtype == np.bool_
    np.testing.assert_array_equal(is_pos, [True, False, False])
    assert text.tolist() == ["héllo", "", "tf.js"]


def test_graph_outputs_by_node_name_and_default(tfjs: TfjsRunner, tmp_path: Path) -> None:
    model_dir = _write_graph_model(tmp_path / "graph")
    (by_node,) = tfjs.run(model_dir, "graph", GRAPH_INPUTS, ["out"])
    np.testing.assert_array_equal(by_node, X @ KERNEL)
    default = tfjs.run_named(model_dir, "graph", GRAPH_INPUTS)
    assert sorted(name for name, _ in default) == ["is_pos", "logits", "text_out"]


def test_load_error_carries_js_message(tfjs: TfjsRunner, tmp_path: Path) -> None:
    model_dir = _write_layers_dense(tmp_path / "broken", KERNEL, BIAS)
    (model_dir / "group1-shard1of1.bin").unlink()
    # TF.js itself would run this model on the bytes of the 404 page; the harness must not.
    with pytest.raises(
        AssertionError,
        match=r"(?s)TF\.js \(cpu, layers\) failed.*"
        r"GET /\d+-broken/group1-shard1of1\.bin: code 404",
    ):
        tfjs.run(model_dir, "layers", [("dense_input", X)])
    # The runner survives a failed request.
    (got,) = tfjs.run(_write_layers_dense(tmp_path / "ok", KERNEL, BIAS), "layers", [("dense_input", X)])
    np.testing.assert_array_equal(got, X @ KERNEL + BIAS)


def test_wrong_input_shape_is_reported(tfjs: TfjsRunner, tmp_path: Path) -> None:
    model_dir = _write_layers_dense(tmp_path / "dense", KERNEL, BIAS)
    with pytest.raises(AssertionError, match="expected dense_input to have shape"):
        tfjs.run(model_dir, "layers", [("dense_input", X[:, :3])])


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_node_restarted_after_crash(tfjs: TfjsRunner, tmp_path: Path) -> None:
    model_dir = _write_layers_dense(tmp_path / "dense", KERNEL, BIAS)
    tfjs.run(model_dir, "layers", [("dense_input", X)])
    pid = tfjs.node.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # the node process this session started
    (got,) = tfjs.run(model_dir, "layers", [("dense_input", X)])
    assert tfjs.node.pid not in (None, pid)
    np.testing.assert_array_equal(got, X @ KERNEL + BIAS)


def test_timeout_and_crash_messages(tmp_path: Path) -> None:
    """A runner that never answers times out; one that dies reports its stderr."""
    node = check_installation()
    silent = tmp_path / "silent.mjs"
    silent.write_text("process.stdin.on('data', () => {}); setInterval(() => {}, 1000);\n", encoding="utf-8")
    proc = NodeProcess(node, silent)
    try:
        with pytest.raises(AssertionError, match="no answer within 1 s"):
            proc.request({"ping": True}, timeout=1)
    finally:
        proc.stop()
    crashing = tmp_path / "crash.mjs"
    crashing.write_text(
        "process.stderr.write('boom: kernel missing\\n'); process.exit(3);\n", encoding="utf-8"
    )
    proc = NodeProcess(node, crashing)
    try:
        with pytest.raises(AssertionError, match=r"(?s)exited with code 3.*boom: kernel missing"):
            proc.request({"ping": True}, timeout=30)
    finally:
        proc.stop()


def test_tolerance_rules() -> None:
    spec = {"rtol": 1e-5, "atol": 1e-6, "options": {}}
    assert tolerance_for(spec, {}) == Tolerance(1e-5, 1e-6)
    assert tolerance_for(spec, {"quantize_float16": True}) == Tolerance(1e-3, 1e-3)
    uint8 = tolerance_for(spec, {"quantize_uint8": ["dense/*"]})
    assert uint8.atol_for(np.array([-1.0, 3.0])) == pytest.approx(0.08)
    assert tolerance_for(spec, {"quantize_uint8": True, "atol": 0.5}).atol_for(np.array([0.0, 1.0])) == 0.5
    assert quantization_kind({"quantization_bytes": 2}) == "uint16"
    assert quantization_kind({"quantize_float16": True, "quantize_uint8": ("a*",)}) == "uint8"


def test_missing_install_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No node_modules means a failure that says to run `npm ci`, never a silent skip."""
    monkeypatch.setattr(tfjs_runner, "JS_DIR", tmp_path)
    with pytest.raises(
        HarnessSetupError, match=r"@tensorflow/tfjs, @tensorflow/tfjs-backend-wasm not installed.*npm ci"
    ):
        check_installation()
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(HarnessSetupError, match="`node`.*not on PATH"):
        check_installation()


def test_no_tensors_leak_between_requests(tfjs: TfjsRunner, tmp_path: Path) -> None:
    """Inputs, outputs and models are disposed, so a long session does not grow."""
    layers_dir = _write_layers_dense(tmp_path / "dense", KERNEL, BIAS)
    graph_dir = _write_graph_model(tmp_path / "graph")
    for backend in ("cpu", "wasm"):
        tfjs.run(layers_dir, "layers", [("dense_input", X)], backend=backend)
        tfjs.run(graph_dir, "graph", GRAPH_INPUTS, backend=backend)
        assert tfjs.ping()["numTensors"] == 0


@pytest.mark.parametrize("backend", ["cpu", "wasm"])
def test_graph_timing_runs(tfjs: TfjsRunner, tmp_path: Path, backend: str) -> None:
    """Timed runs (used by benchmarks/graph_quality.py) still return the right numbers."""
    model_dir = _write_graph_model(tmp_path / "graph")
    run = tfjs.execute(model_dir, "graph", GRAPH_INPUTS, ["logits"], backend=backend, runs=4, inner=2)
    np.testing.assert_array_equal(run.outputs[0][1], X @ KERNEL)
    assert len(run.times_ms) == 4 and all(0 <= t < 10_000 for t in run.times_ms)
    assert run.execute == "execute"
