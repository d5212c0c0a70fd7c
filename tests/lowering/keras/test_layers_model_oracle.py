"""TF.js layers models -> graph models, checked against TF.js's OWN layers implementation: the same
model.json run by tfjs-layers and, converted, by the graph executor must agree.  This pins the TF.js
meaning of activation names (``hard_sigmoid`` is Keras 2's, ``gelu_new`` the tanh approximation)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tfjs_runner import TfjsRunner

import tfjsconv
from tfjsconv.ir.weight import Weight
from tfjsconv.writers.layers_model import write_layers_model

TFJS_ACTIVATIONS = ("elu", "gelu", "hard_sigmoid", "linear", "mish", "relu", "relu6", "selu",
                    "sigmoid", "softmax", "softplus", "softsign", "swish", "tanh", "log_softmax")


def _dense(name: str, units: int, activation: str, **extra: Any) -> dict[str, Any]:
    return {"class_name": "Dense", "config": {"name": name, "units": units, "activation": activation,
                                              "use_bias": True, "dtype": "float32", **extra}}


def _write(tmp_path: Path, layers: list[dict[str, Any]], weights: list[tuple[str, list[Weight]]]) -> Path:
    out = tmp_path / "layers"
    out.mkdir()
    config = {"class_name": "Sequential", "config": {"name": "oracle", "layers": layers}}
    write_layers_model(out, keras_version="2.15.0", backend="tensorflow", model_config=config,
                       training_config=None, layers=weights)
    return out


def _dense_model(tmp_path: Path, activation: str, seed: int) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """A one-Dense layers model, its graph-model conversion, an input and the pre-activation values."""
    rng = np.random.default_rng(seed)
    kernel = rng.normal(0, 1.5, (4, 6)).astype(np.float32)
    bias = rng.normal(0, 0.5, 6).astype(np.float32)
    layers = [_dense("d", 6, activation, batch_input_shape=[None, 4])]
    source = _write(tmp_path, layers, [("d", [Weight("d/kernel", kernel), Weight("d/bias", bias)])])
    graph = tmp_path / "graph"
    tfjsconv.convert(str(source), str(graph), input_format="tfjs_layers_model",
                     output_format="tfjs_graph_model")
    x = rng.normal(0, 2, (3, 4)).astype(np.float32)
    return source, graph, x, x @ kernel + bias


@pytest.mark.parametrize("activation", TFJS_ACTIVATIONS)
def test_activation_means_what_tfjs_layers_computes(activation: str, tfjs: TfjsRunner,
                                                    tmp_path: Path) -> None:
    source, graph, x, _ = _dense_model(tmp_path, activation, TFJS_ACTIVATIONS.index(activation))
    want = tfjs.run(source, "layers", [("d_input", x)])[0]
    got = tfjs.run(graph, "graph", [("d_input", x)], ["d"])[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=activation)


def test_gelu_new_is_the_tanh_approximation(tfjs: TfjsRunner, tmp_path: Path) -> None:
    """tfjs-layers cannot load its own ``gelu_new`` from a config (it looks up ``geluNew``), so the
    reference here is the formula."""
    _, graph, x, pre = _dense_model(tmp_path, "gelu_new", 99)
    got = tfjs.run(graph, "graph", [("d_input", x)], ["d"])[0]
    tanh_form = 0.5 * pre * (1 + np.tanh(np.sqrt(2 / np.pi) * (pre + 0.044715 * pre ** 3)))
    exact = 0.5 * pre * (1 + np.vectorize(math.erf)(pre / np.sqrt(2)))
    np.testing.assert_allclose(got, tanh_form, rtol=1e-5, atol=1e-5)
    assert np.max(np.abs(got - exact)) > 1e-4  # the two forms are told apart by these inputs
