"""channels_first models (Keras 3 writes them from the jax/torch backends; TF's CPU kernels cannot run
them, so there is no TF reference): the same layers and weights in channels_last form are the
oracle.  Keras kernels do not depend on the data format and Flatten restores channels-last order,
so the two models compute the same outputs from transposed inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from keras_h5 import functional, layer, write_keras2_h5
from tfjs_runner import TfjsRunner

import tfjsconv

CONV = {"strides": [1, 1], "dilation_rate": [1, 1], "groups": 1, "activation": "linear", "use_bias": True}


def _stack(fmt: str) -> list[dict[str, Any]]:
    spec = [
        ("Conv2D", "c1", dict(CONV, filters=4, kernel_size=[3, 3], padding="same", activation="relu")),
        ("BatchNormalization", "bn", {"axis": 1 if fmt == "channels_first" else -1, "epsilon": 1e-3}),
        ("MaxPooling2D", "mp", {"pool_size": [2, 2], "strides": [1, 1], "padding": "valid"}),
        ("ZeroPadding2D", "zp", {"padding": [[1, 0], [0, 2]]}),
        ("DepthwiseConv2D", "dw", dict(CONV, kernel_size=[3, 3], padding="valid", depth_multiplier=2)),
        ("AveragePooling2D", "ap", {"pool_size": [2, 2], "strides": [2, 2], "padding": "same"}),
        ("UpSampling2D", "up", {"size": [2, 2], "interpolation": "bilinear"}),
        ("Cropping2D", "cr", {"cropping": [[1, 0], [0, 1]]}),
        ("SeparableConv2D", "sep", dict(CONV, filters=3, kernel_size=[2, 2], padding="same",
                                        depth_multiplier=1)),
        ("Conv2DTranspose", "tr", dict(CONV, filters=2, kernel_size=[3, 3], strides=[2, 2], padding="same")),
        ("Flatten", "flat", {}),
        ("Dense", "out", {"units": 3, "activation": "linear", "use_bias": True}),
    ]
    layers, source = [], "x"
    for cls, name, config in spec:
        extra = {} if cls in ("BatchNormalization", "Dense") else {"data_format": fmt}
        layers.append(layer(cls, name, source, **config, **extra))
        source = name
    return layers


def _weights(rng: np.random.Generator) -> dict[str, dict[str, np.ndarray]]:
    def r(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.5, shape).astype(np.float32)

    return {"c1": {"kernel": r(3, 3, 2, 4), "bias": r(4)},
            "bn": {"gamma": r(4) + 1, "beta": r(4), "moving_mean": r(4),
                   "moving_variance": np.abs(r(4)) + 0.5},
            "dw": {"depthwise_kernel": r(3, 3, 4, 2), "bias": r(8)},
            "sep": {"depthwise_kernel": r(2, 2, 8, 1), "pointwise_kernel": r(1, 1, 8, 3), "bias": r(3)},
            "tr": {"kernel": r(3, 3, 2, 3), "bias": r(2)},
            "out": {"kernel": r(10 * 14 * 2, 3), "bias": r(3)}}


def test_channels_first_computes_what_channels_last_does(tfjs: TfjsRunner, tmp_path: Path) -> None:
    weights = _weights(np.random.default_rng(3))
    x = np.random.default_rng(4).normal(0, 1, (2, 7, 9, 2)).astype(np.float32)
    results = {}
    for fmt, shape, feed in (("channels_last", (7, 9, 2), x),
                             ("channels_first", (2, 7, 9), x.transpose(0, 3, 1, 2))):
        model = write_keras2_h5(tmp_path / f"{fmt}.h5", functional(_stack(fmt), "out", shape=shape), weights)
        out = tmp_path / fmt
        tfjsconv.convert(str(model), str(out), input_format="keras", output_format="tfjs_graph_model")
        results[fmt] = tfjs.run(out, "graph", [("x", np.ascontiguousarray(feed))], ["out"])[0]
    assert results["channels_last"].shape == (2, 3)
    np.testing.assert_allclose(results["channels_first"], results["channels_last"], rtol=1e-4, atol=1e-4)
