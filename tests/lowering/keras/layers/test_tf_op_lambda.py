"""tf-keras TFOpLambda / SlicingOpLambda nodes, written as tf-keras 2.21 writes them (the first call
argument as the node entry, a lone entry unwrapped, list arguments as a list of entries, constants
as ``_CONSTANT_VALUE`` entries, every other argument a keyword), lowered and compared with numpy."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest
from lowering.keras.keras_configs import functional, input_layer, lower, run

from tfjsconv.errors import UnsupportedError

erf = np.vectorize(math.erf)
X = np.linspace(-2.0, 2.0, 2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
Y = np.cos(np.arange(24, dtype=np.float32)).reshape(2, 3, 4)


def tf_op(function: str, name: str, node: Any, cls: str = "TFOpLambda") -> dict[str, Any]:
    return {"class_name": cls, "name": name, "inbound_nodes": [node],
            "config": {"name": name, "trainable": True, "dtype": "float32", "function": function}}


def entry(source: str, index: int = 0, **kwargs: Any) -> list[Any]:
    return [source, 0, index, kwargs]


def _model(*layers: dict[str, Any], outputs: Any) -> dict[str, Any]:
    return functional([input_layer("x", [3, 4]), input_layer("y", [3, 4]), *layers], ["x", "y"], outputs)


CASES: list[tuple[str, Any, Callable[[np.ndarray, np.ndarray], np.ndarray]]] = [
    ("__operators__.add", entry("x", y=["y", 0, 0], name=None), lambda x, y: x + y),
    ("math.subtract", ["_CONSTANT_VALUE", -1, 3.0, {"y": ["x", 0, 0], "name": None}], lambda x, y: 3.0 - x),
    ("math.truediv", entry("x", y=2.0, name=None), lambda x, y: x / 2.0),
    ("math.pow", entry("x", y=2, name=None), lambda x, y: x ** 2),
    ("math.maximum", entry("x", y=["y", 0, 0], name=None), np.maximum),
    ("math.squared_difference", entry("x", y=["y", 0, 0], name=None), lambda x, y: (x - y) ** 2),
    ("compat.v1.floor_div", entry("x", y=0.5, name=None), lambda x, y: np.floor(x / 0.5)),
    ("nn.relu6", entry("x"), lambda x, y: np.clip(x, 0, 6)),
    ("nn.leaky_relu", entry("x", alpha=0.3), lambda x, y: np.where(x > 0, x, 0.3 * x)),
    ("nn.gelu", entry("x", approximate=False), lambda x, y: 0.5 * x * (1 + erf(x / np.sqrt(2)))),
    ("nn.silu", entry("x"), lambda x, y: x / (1 + np.exp(-x))),
    ("nn.softmax", entry("x", axis=1), lambda x, y: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
    ("math.l2_normalize", entry("x", axis=-1), lambda x, y: x / np.sqrt((x * x).sum(-1, keepdims=True))),
    ("clip_by_value", entry("x", clip_value_min=-0.5, clip_value_max=0.5), lambda x, y: np.clip(x, -.5, .5)),
    ("where", entry("x", x=["x", 0, 0], y=["y", 0, 0]), lambda x, y: np.where(x != 0, x, y)),
    ("cast", entry("x", dtype="int32"), lambda x, y: np.trunc(x).astype(np.int32)),
    ("math.reduce_mean", entry("x", axis=[1], keepdims=True), lambda x, y: x.mean(1, keepdims=True)),
    ("math.reduce_std", entry("x", axis=-1), lambda x, y: x.std(-1)),
    ("math.reduce_logsumexp", entry("x", axis=2), lambda x, y: np.log(np.exp(x).sum(2))),
    ("math.argmax", entry("y", axis=1, output_type="int32"), lambda x, y: y.argmax(1).astype(np.int32)),
    ("reshape", entry("x", shape=[-1, 12]), lambda x, y: x.reshape(-1, 12)),
    ("compat.v1.transpose", entry("x", perm=[0, 2, 1], name="transpose", conjugate=False),
     lambda x, y: x.transpose(0, 2, 1)),
    ("concat", [entry("x", axis=2), entry("y", axis=2)], lambda x, y: np.concatenate([x, y], 2)),
    ("stack", [entry("x", axis=1), entry("y", axis=1)], lambda x, y: np.stack([x, y], 1)),
    ("math.add_n", [entry("x"), entry("y"), entry("x")], lambda x, y: 2 * x + y),
    ("expand_dims", entry("x", axis=-1), lambda x, y: x[..., None]),
    ("tile", entry("x", multiples=[1, 2, 1], name=None), lambda x, y: np.tile(x, (1, 2, 1))),
    ("compat.v1.gather", entry("x", indices=[2, 0], validate_indices=None, name=None, axis=1, batch_dims=0),
     lambda x, y: x[:, [2, 0]]),
    ("compat.v1.pad", entry("x", paddings=[[0, 0], [1, 0], [0, 2]], mode="CONSTANT", name=None,
                            constant_values=0), lambda x, y: np.pad(x, [(0, 0), (1, 0), (0, 2)])),
    ("linalg.matmul", entry("x", b=["y", 0, 0], transpose_b=True), lambda x, y: x @ y.transpose(0, 2, 1)),
    ("math.cumsum", entry("x", axis=2), lambda x, y: np.cumsum(x, 2)),
]


@pytest.mark.parametrize("function,node,reference", CASES, ids=[c[0] for c in CASES])
def test_tf_function(function: str, node: Any,
                     reference: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    graph = lower(_model(tf_op(function, "op", node), outputs=["op"]))
    (got,) = run(graph, x=X, y=Y)
    want = reference(X.astype(np.float64), Y.astype(np.float64))
    if np.asarray(want).dtype.kind in "iub":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_split_outputs_and_slicing() -> None:
    """tf.split (two outputs used separately), x[:, 1:, ::2], x[..., 0], x[:, None, -1]."""
    split = tf_op("split", "split", entry("x", num_or_size_splits=[1, 3], axis=-1))
    every = {"start": None, "stop": None, "step": None}
    from_1 = {"start": 1, "stop": None, "step": None}
    step_2 = {"start": None, "stop": None, "step": 2}

    def getitem(name: str, source: str, index: int, spec: list[Any]) -> dict[str, Any]:
        node = entry(source, index, slice_spec=spec)
        return tf_op("__operators__.getitem", name, node, cls="SlicingOpLambda")

    s1 = getitem("s1", "split", 1, [every, from_1, step_2])
    s2 = getitem("s2", "x", 0, [{"class_name": "__ellipsis__"}, 0])
    s3 = getitem("s3", "split", 0, [every, None, -1])
    graph = lower(_model(split, s1, s2, s3, outputs=["s1", "s2", "s3"]))
    got = run(graph, x=X, y=Y)
    want = [X[:, :, 1:][:, 1:, ::2], X[..., 0], X[:, :, :1][:, None, -1]]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_shape_arithmetic_in_reshape() -> None:
    """tf.reshape(x, [tf.shape(x)[0], -1]): a list mixing a tensor and numbers becomes a Pack."""
    shape = tf_op("shape", "shape", entry("x"))
    first = tf_op("__operators__.getitem", "batch", entry("shape", slice_spec=0), cls="SlicingOpLambda")
    reshape = tf_op("reshape", "flat", entry("x", shape=[["batch", 0, 0], -1]))
    graph = lower(_model(shape, first, reshape, outputs=["flat"]))
    (got,) = run(graph, x=X, y=Y)
    np.testing.assert_array_equal(got, X.reshape(2, -1))


def test_unknown_functions_are_listed_in_one_error() -> None:
    layers = [tf_op("math.bessel_i0", "b", entry("x")), tf_op("linalg.det", "d", entry("y")),
              tf_op("nn.relu", "r", entry("x"))]
    with pytest.raises(UnsupportedError) as info:
        lower(_model(*layers, outputs=["b", "d", "r"]))
    text = str(info.value)
    assert "tf.math.bessel_i0" in text and "tf.linalg.det" in text and "nn.relu" not in text.replace(
        "tf.math", "")


def test_unsupported_argument_is_named() -> None:
    node = entry("x", axis=1, exclusive=False, reverse=False, foo=3)
    with pytest.raises(UnsupportedError, match="foo"):
        lower(_model(tf_op("math.cumsum", "c", node), outputs=["c"]))


def test_tf_keras_archive_module_is_not_a_custom_class() -> None:
    """A .keras archive written by tf-keras names its own TFOpLambda by module
    ``tf_keras.src.layers.core.tf_op_layer`` (a built-in, not user code); a user package stays custom."""
    layer = tf_op("__operators__.add", "add", entry("x", y=["y", 0, 0], name=None))
    layer.update(module="tf_keras.src.layers.core.tf_op_layer", registered_name="TFOpLambda")
    (got,) = run(lower(_model(layer, outputs=["add"])), x=X, y=Y)
    np.testing.assert_allclose(got, X + Y)
    layer.update(module="my_pkg.layers", registered_name="my_pkg>TFOpLambda")
    with pytest.raises(UnsupportedError, match="a custom class"):
        lower(_model(layer, outputs=["add"]))


def test_reshape_to_a_run_time_shape_keeps_its_rank() -> None:
    """``tf.reshape(x, [tf.shape(x)[0], -1])`` then ops that need the rank (axis=-1 reductions): the
    target is computed at run time, but its length fixes the rank (this was refused)."""
    layers = [tf_op("compat.v1.shape", "shape", entry("x", name=None, out_type="int32")),
              tf_op("__operators__.getitem", "batch", entry("shape", slice_spec=0), cls="SlicingOpLambda"),
              tf_op("reshape", "flat", entry("x", shape=[["batch", 0, 0], -1])),
              tf_op("math.l2_normalize", "norm", entry("flat", axis=-1)),
              tf_op("math.reduce_std", "std", entry("flat", axis=-1, keepdims=True))]
    norm, std = run(lower(_model(*layers, outputs=["norm", "std"])), x=X, y=Y)
    flat = X.reshape(2, -1)
    np.testing.assert_allclose(norm, flat / np.sqrt((flat * flat).sum(-1, keepdims=True)), rtol=1e-6)
    np.testing.assert_allclose(std, flat.std(-1, keepdims=True), rtol=1e-5)
