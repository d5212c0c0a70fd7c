"""Keras 3 functional op nodes (keras.ops calls recorded with module keras.src.ops.*), written as
Keras 3.15 writes them (constructor arguments in the config, call arguments in the node), lowered and
compared with numpy."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
from lowering.keras.keras_configs import functional, input_layer, k3_op, k3_tensor, layer, lower, run

from tfjsconv.errors import UnsupportedError

X = np.linspace(-2.0, 2.0, 2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
Y = np.sin(np.arange(24, dtype=np.float32) + 0.5).reshape(2, 3, 4)
x, y = k3_tensor("x"), k3_tensor("y")


def _slice(start: Any = None, stop: Any = None, step: Any = None) -> dict[str, Any]:
    return {"class_name": "__slice__", "config": {"start": start, "stop": stop, "step": step}}


CASES: list[tuple[str, list[Any], dict[str, Any], str, Callable[[np.ndarray, np.ndarray], np.ndarray]]] = [
    ("Add", [x, 3.0], {}, "numpy", lambda a, b: a + 3),
    ("TrueDivide", [2.0, y], {}, "numpy", lambda a, b: 2.0 / b),
    ("Subtract", [x, y], {}, "numpy", lambda a, b: a - b),
    ("Power", [x, 2], {}, "numpy", lambda a, b: a ** 2),
    ("Where", [k3_tensor("gt"), 1.0, y], {}, "numpy", lambda a, b: np.where(a > b, 1.0, b)),
    ("Clip", [x], {"x_min": -0.5, "x_max": 0.5}, "numpy", lambda a, b: np.clip(a, -0.5, 0.5)),
    ("Relu6", [x], {}, "nn", lambda a, b: np.clip(a, 0, 6)),
    ("HardSigmoid", [x], {}, "nn", lambda a, b: np.clip(a + 3, 0, 6) / 6),
    ("HardSilu", [x], {}, "nn", lambda a, b: a * np.clip(a + 3, 0, 6) / 6),
    ("LeakyRelu", [x], {"negative_slope": 0.3}, "nn", lambda a, b: np.where(a > 0, a, 0.3 * a)),
    ("Elu", [x], {"alpha": 0.5}, "nn", lambda a, b: np.where(a > 0, a, 0.5 * (np.exp(a) - 1))),
    ("Gelu", [x], {"approximate": True}, "nn",
     lambda a, b: 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3)))),
    ("Softmax", [x], {"axis": 1}, "nn", lambda a, b: np.exp(a) / np.exp(a).sum(1, keepdims=True)),
    ("Mean", [x], {"axis": [1, 2], "keepdims": True}, "numpy", lambda a, b: a.mean((1, 2), keepdims=True)),
    ("Var", [x], {"axis": 1, "keepdims": False}, "numpy", lambda a, b: a.var(1)),
    ("Logsumexp", [x], {"axis": -1, "keepdims": False}, "math", lambda a, b: np.log(np.exp(a).sum(-1))),
    ("Norm", [x], {"ord": None, "axis": 2, "keepdims": False}, "linalg",
     lambda a, b: np.linalg.norm(a, axis=2)),
    ("Argmax", [y], {"axis": 2, "keepdims": False}, "numpy", lambda a, b: b.argmax(2).astype(np.int32)),
    ("Reshape", [x], {"newshape": [-1, 12]}, "numpy", lambda a, b: a.reshape(-1, 12)),
    ("Transpose", [x], {"axes": [0, 2, 1]}, "numpy", lambda a, b: a.transpose(0, 2, 1)),
    ("Moveaxis", [x], {"source": 1, "destination": 2}, "numpy", lambda a, b: np.moveaxis(a, 1, 2)),
    ("Swapaxes", [x], {"axis1": 0, "axis2": 1}, "numpy", lambda a, b: np.swapaxes(a, 0, 1)),
    ("Concatenate", [[x, y]], {"axis": -1}, "numpy", lambda a, b: np.concatenate([a, b], -1)),
    ("Stack", [[x, y]], {"axis": 1}, "numpy", lambda a, b: np.stack([a, b], 1)),
    ("ExpandDims", [x], {"axis": 1}, "numpy", lambda a, b: a[:, None]),
    ("Tile", [x], {"repeats": [2, 1]}, "numpy", lambda a, b: np.tile(a, (2, 1))),
    ("Take", [x, [3, 0]], {"axis": 2}, "numpy", lambda a, b: a[:, :, [3, 0]]),
    ("Repeat", [x], {"repeats": 2, "axis": 1}, "numpy", lambda a, b: np.repeat(a, 2, 1)),
    ("Flip", [x], {"axis": 1}, "numpy", lambda a, b: a[:, ::-1]),
    ("Pad", [x], {"pad_width": [[0, 0], [1, 0], [0, 2]], "mode": "constant"}, "numpy",
     lambda a, b: np.pad(a, [(0, 0), (1, 0), (0, 2)])),
    ("Matmul", [x, k3_tensor("yt")], {}, "numpy", lambda a, b: a @ b.transpose(0, 2, 1)),
    ("Einsum", [x, y], {"subscripts": "bij,bkj->bik"}, "numpy", lambda a, b: np.einsum("bij,bkj->bik", a, b)),
    ("GetItem", [x, [_slice(), _slice(1, None), _slice(None, None, -2)]], {}, "numpy",
     lambda a, b: a[:, 1:, ::-2]),
    ("GetItem", [x, [{"class_name": "__ellipsis__", "config": {}}, None, -1]], {}, "numpy",
     lambda a, b: a[..., None, -1]),
    ("GetItem", [x, 0], {}, "numpy", lambda a, b: a[0]),
    ("Cast", [x], {"dtype": "int32"}, "core", lambda a, b: np.trunc(a).astype(np.int32)),
]


def _model(op: dict[str, Any], extra: list[dict[str, Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    helpers = [k3_op("Greater", "gt", [x, y]), k3_op("Transpose", "yt", [y], axes=[0, 2, 1])]
    return functional([input_layer("x", [3, 4]), input_layer("y", [3, 4]), *helpers, *extra, op],
                      ["x", "y"], [op["name"]])


@pytest.mark.parametrize("cls,args,config,module,reference", CASES,
                         ids=[f"{c[0]}{i}" for i, c in enumerate(CASES)])
def test_keras_op(cls: str, args: list[Any], config: dict[str, Any], module: str,
                  reference: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    op = k3_op(cls, "op", args, module=f"keras.src.ops.{module}", **config)
    graph = lower(_model(op), keras3=True)
    (got,) = run(graph, x=X, y=Y)
    want = reference(X.astype(np.float64), Y.astype(np.float64))
    if np.asarray(want).dtype.kind in "iub":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_split_takes_indices_not_sizes() -> None:
    """numpy semantics: ops.split(x, [1], axis=-1) is x[..., :1], x[..., 1:]."""
    split = k3_op("Split", "split", [x], indices_or_sections=[1], axis=-1)
    second = k3_op("Add", "second", [k3_tensor("split", 1), 0.0])
    graph = lower(functional([input_layer("x", [3, 4]), input_layer("y", [3, 4]), split, second],
                             ["x", "y"], [["split", 0, 0], "second"]), keras3=True)
    first, rest = run(graph, x=X, y=Y)
    np.testing.assert_array_equal(first, X[..., :1])
    np.testing.assert_array_equal(rest, X[..., 1:])


def test_layer_and_op_of_the_same_class_name() -> None:
    """An Add LAYER and an Add OPERATION in one model: the module tells them apart."""
    add_layer = layer("Add", "add_layer", [["x", 0, 0, {}], ["y", 0, 0, {}]])
    add_op = k3_op("Add", "add_op", [k3_tensor("add_layer"), 1.0])
    graph = lower(functional([input_layer("x", [3, 4]), input_layer("y", [3, 4]), add_layer, add_op],
                             ["x", "y"], ["add_op"]), keras3=True)
    (got,) = run(graph, x=X, y=Y)
    np.testing.assert_allclose(got, X + Y + 1.0, rtol=1e-6)


def test_unknown_operations_are_listed() -> None:
    ops = [k3_op("Fft2", "f", [x], module="keras.src.ops.math"), k3_op("Sort", "s", [y], axis=-1)]
    with pytest.raises(UnsupportedError) as info:
        lower(functional([input_layer("x", [3, 4]), input_layer("y", [3, 4]), *ops], ["x", "y"], ["f", "s"]),
              keras3=True)
    assert "'f' (Fft2)" in str(info.value) and "'s' (Sort)" in str(info.value)
