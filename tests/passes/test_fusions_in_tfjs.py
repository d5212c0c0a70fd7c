"""Every contraction x activation fusion the passes emit, run in real TF.js on cpu and wasm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ir.graph_factory import const, op, output, placeholder

from tfjsconv.ir.graph import Graph, Value
from tfjsconv.ir.interpret import interpret
from tfjsconv.ir.types import DType
from tfjsconv.options import ConvertOptions
from tfjsconv.passes.pipeline import optimize
from tfjsconv.writers.graph_model import write_graph_model

F = DType.FLOAT
T = {"T": F}
CONTRACTIONS = {
    "Conv2D": "_FusedConv2D",
    "DepthwiseConv2dNative": "FusedDepthwiseConv2dNative",
    "MatMul": "_FusedMatMul",
}
ACTIVATIONS = ("Relu", "Relu6", "Elu", "LeakyRelu", "Sigmoid", "Prelu")
# TF.js's FusedDepthwiseConv2dNative reads no leakyrelu_alpha; Sigmoid is not fused there either.
UNFUSED = {("DepthwiseConv2dNative", "LeakyRelu"), ("DepthwiseConv2dNative", "Sigmoid")}


def _build(kind: str, activation: str, rng: np.random.Generator) -> tuple[Graph, np.ndarray]:
    g = Graph()
    if kind == "MatMul":
        x = placeholder(g, "x", F, [None, 4])
        w = const(g, rng.standard_normal((4, 3)).astype(np.float32), "w")
        y = op(g, "MatMul", [x, w], {"T": F, "transpose_a": False, "transpose_b": False}, name="contraction")
        channels, feed = 3, rng.standard_normal((2, 4)).astype(np.float32)
    else:
        x = placeholder(g, "x", F, [None, 5, 5, 3])
        shape = (3, 3, 3, 4) if kind == "Conv2D" else (3, 3, 3, 1)
        w = const(g, rng.standard_normal(shape).astype(np.float32), "w")
        y = op(
            g,
            kind,
            [x, w],
            {
                "T": F,
                "strides": [1, 1, 1, 1],
                "padding": b"SAME",
                "data_format": b"NHWC",
                "dilations": [1, 1, 1, 1],
            },
            name="contraction",
        )
        channels, feed = (
            shape[3] * (3 if kind != "Conv2D" else 1),
            rng.standard_normal((1, 5, 5, 3)).astype(np.float32),
        )
    bias = const(g, rng.standard_normal(channels).astype(np.float32), "b")
    y = op(g, "BiasAdd", [y, bias], {"T": F, "data_format": b"NHWC"}, name="bias")
    output(g, "y", _activation(g, y, activation, channels))
    return g, feed


def _activation(g: Graph, y: Value, activation: str, channels: int) -> Value:
    if activation == "Prelu":  # as Keras writes it: relu(y) + (-alpha) * relu(-y)
        neg = op(g, "Relu", [op(g, "Neg", [y], T, name="neg")], T, name="relu_neg")
        alpha = const(g, -np.linspace(0.1, 0.4, channels).astype(np.float32), "neg_alpha")
        return op(
            g,
            "AddV2",
            [op(g, "Relu", [y], T, name="relu_pos"), op(g, "Mul", [alpha, neg], T, name="mul")],
            T,
            name="act",
        )
    attrs = {"T": F, "alpha": 0.3} if activation == "LeakyRelu" else T
    return op(g, activation, [y], attrs, name="act")


@pytest.mark.parametrize("backend", ["cpu", "wasm"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", list(CONTRACTIONS))
def test_fusion_runs_in_tfjs(tmp_path: Path, tfjs: Any, kind: str, activation: str, backend: str) -> None:
    g, feed = _build(kind, activation, np.random.default_rng(len(kind) * 7 + len(activation)))
    expected = interpret(g, {"x": feed})["y"]
    optimize(g, ConvertOptions(), checks=True)
    hist = g.op_histogram()
    assert hist[CONTRACTIONS[kind]] == 1 and kind not in hist and "BiasAdd" not in hist
    fused = next(n for n in g.nodes if n.op == CONTRACTIONS[kind])
    if (kind, activation) in UNFUSED:
        assert fused.attrs["fused_ops"] == [b"BiasAdd"] and hist[activation] == 1
    else:
        assert fused.attrs["fused_ops"] == [b"BiasAdd", activation.encode()]
        assert fused.attrs["num_args"] == (2 if activation == "Prelu" else 1)
        assert set(hist) == {"Const", "Placeholder", CONTRACTIONS[kind]}
    out = tmp_path / "model"
    out.mkdir()
    write_graph_model(g, out, ConvertOptions())
    (got,) = tfjs.run(out, "graph", [("x", feed)], backend=backend)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
