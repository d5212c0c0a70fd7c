"""Lowered Keras layers reach the TF.js fused ops, as a SavedModel of the same model would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from keras_h5 import functional, layer, write_keras2_h5
from tfjs_runner import TfjsRunner

import tfjsconv


def test_conv_batchnorm_relu_is_one_fused_conv_even_with_a_zero_offset(tfjs: TfjsRunner,
                                                                       tmp_path: Path) -> None:
    """Conv2D(use_bias=False) + freshly initialised BatchNormalization (offset exactly 0) + ReLU: the
    folded zero bias must survive, or the activation could not fuse (TF.js fused ops start with
    BiasAdd)."""
    conv = layer("Conv2D", "conv", "x", filters=3, kernel_size=[3, 3], strides=[1, 1], padding="same",
                 data_format="channels_last", dilation_rate=[1, 1], groups=1, activation="linear",
                 use_bias=False)
    bn = layer("BatchNormalization", "bn", "conv", axis=-1, epsilon=1e-3, center=True, scale=True)
    relu = layer("Activation", "relu", "bn", activation="relu")
    kernel = np.random.default_rng(0).normal(0, 1, (3, 3, 2, 3)).astype(np.float32)
    stats = {"gamma": np.ones(3, np.float32), "beta": np.zeros(3, np.float32),
             "moving_mean": np.zeros(3, np.float32), "moving_variance": np.ones(3, np.float32)}
    model = write_keras2_h5(tmp_path / "m.h5", functional([conv, bn, relu], "relu", shape=(5, 5, 2)),
                            {"conv": {"kernel": kernel}, "bn": stats})
    out = tmp_path / "graph"
    tfjsconv.convert(str(model), str(out), input_format="keras", output_format="tfjs_graph_model")
    nodes = json.loads((out / "model.json").read_text())["modelTopology"]["node"]
    ops = sorted(n["op"] for n in nodes if n["op"] != "Const")
    assert ops == ["Placeholder", "_FusedConv2D"], ops
    x = np.random.default_rng(1).normal(0, 1, (2, 5, 5, 2)).astype(np.float32)
    got = tfjs.run(out, "graph", [("x", x)], ["relu"])[0]
    padded = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
    want = np.zeros((2, 5, 5, 3), np.float64)
    for i in range(3):
        for j in range(3):
            want += padded[:, i:i + 5, j:j + 5, :] @ kernel[i, j]
    want = np.maximum(want / np.sqrt(1 + 1e-3), 0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_float16_and_float64_weights_compute_in_float32(tfjs: TfjsRunner, tmp_path: Path) -> None:
    """Weights stored in half or double precision (Keras float16/float64 policies) become float32
    constants: TF.js's graph executor computes in float32 only."""
    rng = np.random.default_rng(5)
    kernel = rng.normal(0, 1, (3, 4)).astype(np.float16)
    bias = rng.normal(0, 1, 4).astype(np.float64)
    dense = layer("Dense", "d", "x", units=4, activation="tanh", use_bias=True)
    model = write_keras2_h5(tmp_path / "m.h5", functional([dense], "d"),
                            {"d": {"kernel": kernel, "bias": bias}})
    out = tmp_path / "graph"
    tfjsconv.convert(str(model), str(out), input_format="keras", output_format="tfjs_graph_model")
    manifest = json.loads((out / "model.json").read_text())["weightsManifest"][0]["weights"]
    assert {w["dtype"] for w in manifest} == {"float32"}
    x = rng.normal(0, 1, (2, 3)).astype(np.float32)
    got = tfjs.run(out, "graph", [("x", x)], ["d"])[0]
    np.testing.assert_allclose(got, np.tanh(x @ kernel.astype(np.float32) + bias.astype(np.float32)),
                               rtol=1e-5, atol=1e-5)
