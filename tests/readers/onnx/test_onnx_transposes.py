"""The NCHW -> NHWC Transpose pairs around lowered ONNX ops are cancelled by sink_transposes: numbers
stay the same (IR interpreter before vs after) and only the model's boundary transposes remain."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx_builders import convert_ir, helper, save_model, value_info

from tfjsconv.ir.interpret import interpret
from tfjsconv.options import ConvertOptions
from tfjsconv.passes.pipeline import optimize
from tfjsconv.readers.onnx.model import load_onnx_graph

ROOT = Path(__file__).resolve().parents[3]
RNG = np.random.default_rng(3)


def randn(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def test_cnn_fixture_keeps_only_the_input_transpose() -> None:
    graph = convert_ir(ROOT / "fixtures" / "models" / "onnx_cnn" / "model.onnx")
    hist = graph.op_histogram()
    assert hist.get("Transpose") == 1
    (transpose,) = graph.find("Transpose")
    assert transpose.inputs[0].producer.op == "Placeholder"
    # Batch norms are folded into the convolutions, which carry their bias and ReLU.
    assert "FusedBatchNormV3" not in hist and hist["_FusedConv2D"] == 3


def _branchy_model(tmp_path: Path) -> Path:
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Mul", ["r1", "per_channel"], ["m1"]),  # a (C,1,1) Const re-laid out as (1,1,1,C)
        helper.make_node("Pad", ["m1", "pads"], ["p1"], mode="reflect"),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], kernel_shape=[3, 3]),
        helper.make_node("Concat", ["c2", "r1"], ["cat"], axis=1),
        helper.make_node("Conv", ["cat", "w3"], ["c3"], kernel_shape=[1, 1]),
        helper.make_node("ReduceMean", ["c3"], ["pooled"], axes=[2, 3], keepdims=0),
        helper.make_node("Sigmoid", ["c3"], ["spatial"]),
    ]
    inits = {
        "w1": randn(4, 3, 3, 3),
        "w2": randn(4, 4, 3, 3),
        "w3": randn(5, 8, 1, 1),
        "per_channel": randn(4, 1, 1),
        "pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64),
    }
    return save_model(
        tmp_path / "m.onnx",
        nodes,
        [value_info("x", ["n", 3, 6, 6])],
        [value_info("pooled", None), value_info("spatial", None)],
        inits,
    )


def test_transposes_sink_through_elementwise_pad_concat_and_reductions(tmp_path: Path) -> None:
    path = _branchy_model(tmp_path)
    feeds = {"x": randn(2, 3, 6, 6)}
    raw = load_onnx_graph(path)
    before = interpret(raw, feeds)
    assert len(raw.find("Transpose")) == 6  # each conv in a pair (filter transposes fold while reading)

    graph = load_onnx_graph(path)
    optimize(
        graph,
        ConvertOptions(),
        checks=True,
        passes=("sink_transposes", "fold_constants", "eliminate_dead_code"),
    )
    after = interpret(graph, feeds)
    for key in ("pooled", "spatial"):
        np.testing.assert_allclose(after[key], before[key], rtol=1e-5, atol=1e-5)
    # Left: the input transpose and the one restoring NCHW for the `spatial` output; the reduction
    # over H, W without keepdims needs none.
    assert len(graph.find("Transpose")) == 2
    assert graph.outputs[0][1].producer.op == "Mean"


def test_full_pipeline_matches_raw_lowering(tmp_path: Path) -> None:
    path = _branchy_model(tmp_path)
    feeds = {"x": randn(1, 3, 6, 6)}
    before = interpret(load_onnx_graph(path), feeds)
    after = interpret(convert_ir(path), feeds)
    for key in before:
        np.testing.assert_allclose(after[key], before[key], rtol=1e-4, atol=1e-4)


def test_resnet_fixture_keeps_only_the_input_transpose_and_folds_every_batch_norm() -> None:
    graph = convert_ir(ROOT / "fixtures" / "models" / "onnx_resnet" / "model.onnx")
    hist = graph.op_histogram()
    assert hist.get("Transpose") == 1
    assert "FusedBatchNormV3" not in hist
    assert hist["_FusedConv2D"] == 20  # stem, 16 block convs, 3 downsample convs


def test_bert_fixture_reshapes_from_shape_pieces_without_zero_copy_guards() -> None:
    graph = convert_ir(ROOT / "fixtures" / "models" / "onnx_bert_encoder" / "model.onnx")
    hist = graph.op_histogram()
    # Each head split / merge reads its target from Shape pieces: no run-time "0 copies a dim" guard.
    assert hist.get("Equal", 0) == 0 and hist["Reshape"] == 8
    assert hist["Transpose"] == 8  # 4 per layer: Q, K, V heads and the merge
