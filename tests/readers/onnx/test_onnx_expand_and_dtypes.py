"""ONNX function ops expanded into their schema bodies, reduced-precision models read as float32
with a warning, run-time inputs kept as tensors, and scatters that leave their inputs alone: each
converted model runs in real TF.js against onnx's reference evaluator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx_builders import convert_ir, helper, onnx, save_model, value_info
from tfjs_runner import TfjsRunner

import tfjsconv

RNG = np.random.default_rng(5)


def _run(tfjs: TfjsRunner, path: Path, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
    out = path.parent / "tfjs"
    tfjsconv.convert(str(path), str(out))
    return tfjs.run(out, "graph", list(feeds.items()), outputs)


def _reference(path: Path, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    return list(ReferenceEvaluator(str(path)).run(outputs, feeds))


def test_function_ops_become_their_bodies(tmp_path: Path, tfjs: TfjsRunner) -> None:
    # No handler lowers these: GroupNormalization, MeanVarianceNormalization and the loss are expanded,
    # LayerNormalization is expanded because its Mean / InvStdDev outputs are asked for.
    nodes = [
        helper.make_node("GroupNormalization", ["x", "scale", "bias"], ["g"], num_groups=2),
        helper.make_node("MeanVarianceNormalization", ["x"], ["mvn"]),
        helper.make_node("LayerNormalization", ["x", "ln_scale"], ["ln", "mean", "inv_std"], axis=2),
        helper.make_node("SoftmaxCrossEntropyLoss", ["logits", "labels"], ["loss"], reduction="mean"),
    ]
    inits = {"scale": RNG.standard_normal(4).astype(np.float32),
             "bias": RNG.standard_normal(4).astype(np.float32),
             "ln_scale": RNG.standard_normal((3, 5)).astype(np.float32)}
    outputs = ["g", "mvn", "ln", "mean", "inv_std", "loss"]
    path = save_model(tmp_path / "m.onnx", nodes,
                      [value_info("x", [2, 4, 3, 5]), value_info("logits", [3, 6]),
                       value_info("labels", [3], onnx.TensorProto.INT64)],
                      [value_info(o, None) for o in outputs], inits, opset=21)
    feeds = {"x": RNG.standard_normal((2, 4, 3, 5)).astype(np.float32),
             "logits": RNG.standard_normal((3, 6)).astype(np.float32),
             "labels": np.array([0, 5, 2], np.int64)}
    for got, want, name in zip(_run(tfjs, path, feeds, outputs), _reference(path, feeds, outputs), outputs):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=name)


def test_float16_model_runs_in_float32_with_a_warning(tmp_path: Path, tfjs: TfjsRunner) -> None:
    half = onnx.TensorProto.FLOAT16
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"]), helper.make_node("Cast", ["y"], ["z"], to=1)]
    w = RNG.standard_normal((3, 2)).astype(np.float16)
    path = save_model(tmp_path / "m.onnx", nodes, [value_info("x", [2, 3], half)], [value_info("z", None)],
                      {"w": w})
    report = tfjsconv.convert(str(path), str(tmp_path / "tfjs"))
    assert any("float16" in w and "float32" in w for w in report.warnings)
    x = RNG.standard_normal((2, 3)).astype(np.float16)
    (got,) = tfjs.run(tmp_path / "tfjs", "graph", [("x", x.astype(np.float32))], ["z"])
    np.testing.assert_allclose(got, x.astype(np.float32) @ w.astype(np.float32), rtol=1e-5, atol=1e-5)


def test_run_time_axes_pads_and_slices_stay_tensors(tmp_path: Path, tfjs: TfjsRunner) -> None:
    i64 = onnx.TensorProto.INT64
    nodes = [
        helper.make_node("ReduceSum", ["x", "axes"], ["summed"], keepdims=0),
        helper.make_node("Pad", ["x", "pads"], ["padded"], mode="constant"),
        helper.make_node("Slice", ["x", "starts", "ends", "slice_axes"], ["sliced"]),
        helper.make_node("Reshape", ["x", "shape"], ["reshaped"]),
    ]
    inputs = [value_info("x", [2, 3, 4]), value_info("axes", [1], i64), value_info("pads", [6], i64),
              value_info("starts", [1], i64), value_info("ends", [1], i64),
              value_info("slice_axes", [1], i64), value_info("shape", [2], i64)]
    outputs = ["summed", "padded", "sliced", "reshaped"]
    path = save_model(tmp_path / "m.onnx", nodes, inputs, [value_info(o, None) for o in outputs], opset=13)
    graph = convert_ir(path)
    assert graph.find("Sum") and graph.find("PadV2") and graph.find("StridedSlice")
    feeds = {"x": RNG.standard_normal((2, 3, 4)).astype(np.float32), "axes": np.array([-1], np.int64),
             "pads": np.array([0, 1, 1, 1, 0, 2], np.int64), "starts": np.array([1], np.int64),
             "ends": np.array([3], np.int64), "slice_axes": np.array([1], np.int64),
             "shape": np.array([0, -1], np.int64)}  # a 0 copies the input's first dimension
    for got, want, name in zip(_run(tfjs, path, feeds, outputs), _reference(path, feeds, outputs), outputs):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)


def test_scatter_leaves_its_weight_unchanged_for_the_next_run(tmp_path: Path, tfjs: TfjsRunner) -> None:
    # TF.js's cpu TensorScatterUpdate writes into its input: a scatter into a weight must not use it.
    nodes = [helper.make_node("ScatterND", ["table", "idx", "rows"], ["y"])]
    table = RNG.standard_normal((4, 3)).astype(np.float32)
    path = save_model(tmp_path / "m.onnx", nodes,
                      [value_info("idx", [1, 1], onnx.TensorProto.INT64), value_info("rows", [1, 3])],
                      [value_info("y", None)], {"table": table})
    out = tmp_path / "tfjs"
    tfjsconv.convert(str(path), str(out))
    for row in (1, 2):
        feeds = [("idx", np.array([[row]], np.int64)), ("rows", np.ones((1, 3), np.float32))]
        (got,) = tfjs.run(out, "graph", feeds, ["y"])
        want = table.copy()
        want[row] = 1.0
        np.testing.assert_allclose(got, want)


def test_negative_pads_crop_static_and_at_run_time(tmp_path: Path, tfjs: TfjsRunner) -> None:
    i64 = onnx.TensorProto.INT64
    nodes = [helper.make_node("Pad", ["x", "fixed"], ["static"]),
             helper.make_node("Pad", ["x", "pads"], ["dynamic"])]
    pads = np.array([0, -1, 1, 0, 1, -2], np.int64)
    path = save_model(tmp_path / "m.onnx", nodes, [value_info("x", [2, 3, 4]), value_info("pads", [6], i64)],
                      [value_info("static", None), value_info("dynamic", None)], {"fixed": pads})
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    want = np.pad(x[:, 1:, :-2], [(0, 0), (0, 1), (1, 0)])  # begin (0,-1,1), end (0,1,-2)
    for got in _run(tfjs, path, {"x": x, "pads": pads}, ["static", "dynamic"]):
        np.testing.assert_array_equal(got, want)
