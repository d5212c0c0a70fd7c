"""Kernels never allocate a result beyond --max_tensor_bytes: evaluate() declines it up front."""

from __future__ import annotations

import numpy as np
import pytest

from tfjsconv import limits
from tfjsconv.ops.kernels import NotComputable, evaluate


@pytest.mark.parametrize(("op", "inputs"), [
    ("Fill", [np.array([10 ** 6, 10 ** 6]), np.array(1.0, np.float32)]),
    ("BroadcastTo", [np.ones(1, np.float32), np.array([10 ** 5, 10 ** 5])]),
    ("Tile", [np.ones((2, 2), np.float32), np.array([10 ** 5, 10 ** 5])]),
    ("Range", [np.array(0), np.array(10 ** 12), np.array(1)]),
    ("AddV2", [np.ones((10 ** 5, 1), np.float32), np.ones((1, 10 ** 5), np.float32)]),
    ("MatMul", [np.ones((10 ** 5, 1), np.float32), np.ones((1, 10 ** 5), np.float32)]),
    ("Pad", [np.ones((2, 2), np.float32), np.array([[0, 10 ** 5], [0, 10 ** 5]])]),
])
def test_expanding_kernels_decline_huge_results(op: str, inputs: list[np.ndarray]) -> None:
    with pytest.raises(NotComputable, match="tensor limit"):
        evaluate(op, inputs, {})


def test_the_cap_is_the_conversion_limit() -> None:
    fill = [np.array([64, 64]), np.array(2.0, np.float32)]
    assert evaluate("Fill", fill, {})[0].sum() == 64 * 64 * 2.0
    with limits.applied(limits.Limits(max_tensor_bytes=1000)), pytest.raises(NotComputable):
        evaluate("Fill", fill, {})
    outer = evaluate("AddV2", [np.arange(3.0).reshape(3, 1), np.arange(4.0).reshape(1, 4)], {})[0]
    assert outer.shape == (3, 4) and outer[2, 3] == 5.0
