"""EinsumDense lowered without Einsum ops (TF.js wasm has no Einsum kernel), against np.einsum."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pytest
from lowering.keras.keras_configs import functional, input_layer, layer, lower, rng_array, run

from tfjsconv.errors import UnsupportedError


@pytest.mark.parametrize("equation,in_shape,kernel_shape,bias_shape,activation", [
    ("ab,bc->ac", (6,), (6, 4), (4,), "relu"),
    ("abc,cd->abd", (5, 6), (6, 4), (4,), None),
    ("abc,cde->abde", (5, 6), (6, 2, 3), (2, 3), None),
    ("abde,deh->abh", (5, 2, 3), (2, 3, 4), (4,), "tanh"),
    ("...b,bc->...c", (5, 6), (6, 4), None, None),
    ("abc,cd->acd", (5, 6), (6, 3), (6, 3), None),  # c is shared by all three: a batch label
    ("abc,bcd->ad", (5, 6), (5, 6, 4), None, "softmax"),
    ("abc,cd->adb", (5, 6), (6, 4), (4, 1), None),  # output reordered: bias added after the transpose
    ("abcd,ce->abe", (3, 4, 2), (4, 5), (5,), None),  # d summed in the input only
])
def test_einsum_dense_matches_numpy(equation: str, in_shape: tuple[int, ...], kernel_shape: tuple[int, ...],
                                    bias_shape: Optional[tuple[int, ...]], activation: Optional[str]) -> None:
    rng = np.random.default_rng(sum(map(ord, equation)))
    kernel = rng_array(rng, *kernel_shape)
    weights: dict[str, Any] = {"kernel": kernel}
    bias_axes = None
    if bias_shape is not None:
        weights["bias"] = rng_array(rng, *bias_shape)
        out = equation.split("->")[1]
        bias_axes = "".join(c for c, d in zip(out[len(out) - len(bias_shape):], bias_shape) if d != 1)
    config = functional([input_layer("x", list(in_shape)),
                         layer("EinsumDense", "ed", "x", equation=equation, output_shape=None,
                               activation=activation, bias_axes=bias_axes)], ["x"], ["ed"])
    graph = lower(config, {"ed": weights})
    assert not graph.find("Einsum")
    x = rng_array(rng, 2, *in_shape, scale=1.0)
    (got,) = run(graph, x=x)
    want = np.einsum(equation, x.astype(np.float64), kernel)
    if bias_shape is not None:
        want = want + weights["bias"]
    if activation == "relu":
        want = np.maximum(want, 0)
    elif activation == "tanh":
        want = np.tanh(want)
    elif activation == "softmax":
        e = np.exp(want - want.max(-1, keepdims=True))
        want = e / e.sum(-1, keepdims=True)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_dense_like_einsum_is_one_batched_product() -> None:
    """abc,cd->abd with a bias on d: BatchMatMulV2 broadcasting the kernel, AddV2, Relu (no reshapes)."""
    rng = np.random.default_rng(1)
    config = functional([input_layer("x", [5, 6]),
                         layer("EinsumDense", "ed", "x", equation="abc,cd->abd", output_shape=[None, 4],
                               activation="relu", bias_axes="d")], ["x"], ["ed"])
    graph = lower(config, {"ed": {"kernel": rng_array(rng, 6, 4), "bias": rng_array(rng, 4)}})
    ops = [n.op for n in graph.nodes if n.op not in ("Const", "Placeholder")]
    assert ops == ["BatchMatMulV2", "AddV2", "Relu"], ops


def test_kernel_shape_is_checked() -> None:
    config = functional([input_layer("x", [5, 6]),
                         layer("EinsumDense", "ed", "x", equation="abc,cd->abd", output_shape=[None, 4],
                               bias_axes=None)], ["x"], ["ed"])
    from tfjsconv.errors import InputError

    with pytest.raises(InputError, match="has shape"):
        lower(config, {"ed": {"kernel": np.zeros((7, 4), np.float32)}})
    bad = functional([input_layer("x", [5, 6]),
                      layer("EinsumDense", "ed", "x", equation="abc,cde->abx", output_shape=[None, 4])],
                     ["x"], ["ed"])
    with pytest.raises(UnsupportedError, match="neither the input nor the output"):
        lower(bad, {"ed": {"kernel": np.zeros((6, 2, 3), np.float32)}})
