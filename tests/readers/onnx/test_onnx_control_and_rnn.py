"""ONNX If / Loop / Scan and LSTM / GRU / RNN lowered to TF.js functional control flow, run in real
TF.js and compared with onnx's reference evaluator (or, for sequence_lens, which that evaluator
ignores, a numpy recurrence)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx_builders import helper, onnx, save_model, value_info
from tfjs_runner import TfjsRunner

import tfjsconv

RNG = np.random.default_rng(11)


def _convert_and_run(tfjs: TfjsRunner, path: Path, feeds: dict[str, np.ndarray], outputs: list[str],
                     backend: str = "cpu") -> list[np.ndarray]:
    out = path.parent / "tfjs"
    tfjsconv.convert(str(path), str(out))
    return tfjs.run(out, "graph", list(feeds.items()), outputs, backend=backend)


def _reference(path: Path, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    try:
        return list(ReferenceEvaluator(str(path)).run(outputs, feeds))
    except NotImplementedError as error:  # onnx < 1.18's evaluator has no bidirectional LSTM/GRU
        pytest.skip(f"onnx {onnx.__version__} cannot compute the reference: {error}")


def test_loop_with_scan_outputs_and_an_outer_value(tmp_path: Path, tfjs: TfjsRunner) -> None:
    body = helper.make_graph(
        [
            helper.make_node("Add", ["acc_in", "step"], ["acc_out"]),  # reads the outer "step"
            helper.make_node("Cast", ["i"], ["i_f"], to=onnx.TensorProto.FLOAT),
            helper.make_node("Mul", ["acc_out", "i_f"], ["scanned"]),
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "body",
        [value_info("i", [], onnx.TensorProto.INT64), value_info("cond_in", [], onnx.TensorProto.BOOL),
         value_info("acc_in", [3])],
        [value_info("cond_out", [], onnx.TensorProto.BOOL), value_info("acc_out", [3]),
         value_info("scanned", [3])],
    )
    nodes = [
        helper.make_node("Relu", ["x"], ["step"]),
        helper.make_node("Loop", ["trips", "go", "x"], ["final", "stacked"], body=body),
    ]
    path = save_model(tmp_path / "m.onnx", nodes,
                      [value_info("x", [3]), value_info("trips", [], onnx.TensorProto.INT64),
                       value_info("go", [], onnx.TensorProto.BOOL)],
                      [value_info("final", None), value_info("stacked", None)], opset=13)
    feeds = {"x": np.array([1.0, -2.0, 0.5], np.float32), "trips": np.array(4, np.int64),
             "go": np.array(True)}
    got = _convert_and_run(tfjs, path, feeds, ["final", "stacked"])
    for g, e in zip(got, _reference(path, feeds, ["final", "stacked"])):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6)


def test_if_branches_read_outer_values(tmp_path: Path, tfjs: TfjsRunner) -> None:
    then_branch = helper.make_graph([helper.make_node("Mul", ["x", "x"], ["then_out"])], "then", [],
                                    [value_info("then_out", [2])])
    else_branch = helper.make_graph([helper.make_node("Neg", ["x"], ["else_out"])], "else", [],
                                    [value_info("else_out", [2])])
    nodes = [helper.make_node("If", ["flag"], ["y"], then_branch=then_branch, else_branch=else_branch)]
    inputs = [value_info("flag", [], onnx.TensorProto.BOOL), value_info("x", [2])]
    path = save_model(tmp_path / "m.onnx", nodes, inputs, [value_info("y", None)])
    x = np.array([3.0, -1.5], np.float32)
    out = tmp_path / "tfjs"
    tfjsconv.convert(str(path), str(out))
    for flag, expected in ((True, x * x), (False, -x)):
        (got,) = tfjs.run(out, "graph", [("flag", np.array(flag)), ("x", x)], ["y"])
        np.testing.assert_allclose(got, expected)


def test_scan_reverse_input_and_output_axes(tmp_path: Path, tfjs: TfjsRunner) -> None:
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "row"], ["s_out"]),
         helper.make_node("Identity", ["s_out"], ["y_row"])],
        "body", [value_info("s_in", [2]), value_info("row", [2])],
        [value_info("s_out", [2]), value_info("y_row", [2])],
    )
    nodes = [helper.make_node("Scan", ["s0", "xs"], ["s", "ys"], body=body, num_scan_inputs=1,
                              scan_input_directions=[1], scan_input_axes=[1], scan_output_axes=[1])]
    path = save_model(tmp_path / "m.onnx", nodes, [value_info("s0", [2]), value_info("xs", [2, 5])],
                      [value_info("s", None), value_info("ys", None)], opset=16)
    xs = RNG.standard_normal((2, 5)).astype(np.float32)
    got_s, got_ys = _convert_and_run(tfjs, path, {"s0": np.zeros(2, np.float32), "xs": xs}, ["s", "ys"])
    # The columns are read last to first; each iteration's state is one column of ys, in order.
    np.testing.assert_allclose(got_s, xs.sum(axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_ys, np.cumsum(xs[:, ::-1], axis=1), rtol=1e-5, atol=1e-6)


def _rnn_reference(x: np.ndarray, w: np.ndarray, r: np.ndarray, b: np.ndarray, lengths: np.ndarray,
                   direction: str) -> tuple[np.ndarray, np.ndarray]:
    steps, batch, _ = x.shape
    dirs, hidden = w.shape[0], r.shape[-1]
    y = np.zeros((steps, dirs, batch, hidden), np.float32)
    y_h = np.zeros((dirs, batch, hidden), np.float32)
    for d in range(dirs):
        backwards = direction == "reverse" or d == 1
        for n in range(batch):
            h = np.zeros(hidden, np.float32)
            order = range(lengths[n] - 1, -1, -1) if backwards else range(lengths[n])
            for t in order:
                h = np.tanh(x[t, n] @ w[d].T + h @ r[d].T + b[d][:hidden] + b[d][hidden:])
                y[t, d, n] = h
            y_h[d, n] = h
    return y, y_h


@pytest.mark.parametrize("steps", [5, "T"], ids=["unrolled", "while_loop"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_rnn_with_sequence_lens(tmp_path: Path, tfjs: TfjsRunner, steps: object, direction: str) -> None:
    dirs, hidden, size = (2 if direction == "bidirectional" else 1), 3, 4
    w = RNG.standard_normal((dirs, hidden, size)).astype(np.float32)
    r = RNG.standard_normal((dirs, hidden, hidden)).astype(np.float32)
    b = RNG.standard_normal((dirs, 2 * hidden)).astype(np.float32)
    nodes = [helper.make_node("RNN", ["x", "W", "R", "B", "lens"], ["y", "y_h"], hidden_size=hidden,
                              direction=direction)]
    path = save_model(tmp_path / "m.onnx", nodes,
                      [value_info("x", [steps, 2, size]), value_info("lens", [2], onnx.TensorProto.INT32)],
                      [value_info("y", None), value_info("y_h", None)], {"W": w, "R": r, "B": b}, opset=14)
    x = RNG.standard_normal((5, 2, size)).astype(np.float32)
    lengths = np.array([5, 3], np.int32)
    got = _convert_and_run(tfjs, path, {"x": x, "lens": lengths}, ["y", "y_h"])
    for g, e in zip(got, _rnn_reference(x, w, r, b, lengths, direction)):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_lstm_gru_of_run_time_length_match_the_reference(tmp_path: Path, tfjs: TfjsRunner, kind: str) -> None:
    gates, hidden, size = (4 if kind == "LSTM" else 3), 3, 4
    w = RNG.standard_normal((2, gates * hidden, size)).astype(np.float32)
    r = RNG.standard_normal((2, gates * hidden, hidden)).astype(np.float32)
    b = RNG.standard_normal((2, 2 * gates * hidden)).astype(np.float32)
    outputs = ["y", "y_h"] + (["y_c"] if kind == "LSTM" else [])
    attrs = {"linear_before_reset": 1} if kind == "GRU" else {}
    nodes = [helper.make_node(kind, ["x", "W", "R", "B"], outputs, hidden_size=hidden,
                              direction="bidirectional", **attrs)]
    path = save_model(tmp_path / "m.onnx", nodes, [value_info("x", ["T", "N", size])],
                      [value_info(o, None) for o in outputs], {"W": w, "R": r, "B": b}, opset=14)
    feeds = {"x": RNG.standard_normal((6, 2, size)).astype(np.float32)}
    got = _convert_and_run(tfjs, path, feeds, outputs)
    for g, e in zip(got, _reference(path, feeds, outputs)):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)
