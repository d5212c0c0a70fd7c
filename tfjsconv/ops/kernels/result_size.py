"""Upper bounds on a kernel's result size, checked before the kernel allocates it.

Most kernels return at most about as many bytes as they are given, but some grow a few bytes of
input into any size: ``Fill``/``BroadcastTo``/``Tile`` of a constant shape, ``Range``, padding, one-hot,
the size argument of a transposed convolution or a resize, and every broadcasting op (``[n, 1] +
[1, n]`` is n^2 elements).  A hostile graph can ask a constant folder for terabytes that way, so
``evaluate`` asks here first and declines (``NotComputable``: the node stays in the graph for TF.js
to compute) anything larger than ``--max_tensor_bytes``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Callable, Optional

import numpy as np

from ...limits import current
from ...registry import Registry

Estimate = Callable[[Sequence[np.ndarray], dict[str, Any]], Optional[int]]  # elements, None: unknown

ESTIMATES: Registry[str, Estimate] = Registry("result-size estimate")


def _ints(array: np.ndarray) -> list[int]:
    return [int(v) for v in np.asarray(array).reshape(-1)] if np.asarray(array).dtype.kind in "iub" else []


def _product(values: Sequence[int]) -> int:
    return math.prod(max(v, 0) for v in values)


@ESTIMATES.register("Fill", "Empty")
def _shape_first(inputs: Sequence[np.ndarray], attrs: dict[str, Any]) -> Optional[int]:
    return _product(_ints(inputs[0])) if inputs else None


@ESTIMATES.register("BroadcastTo")
def _shape_second(inputs: Sequence[np.ndarray], attrs: dict[str, Any]) -> Optional[int]:
    return _product(_ints(inputs[1])) if len(inputs) > 1 else None


@ESTIMATES.register("Tile")
def _tile(inputs: Sequence[np.ndarray], attrs: dict[str, Any]) -> Optional[int]:
    return int(np.asarray(inputs[0]).size) * _product(_ints(inputs[1])) if len(inputs) > 1 else None


@ESTIMATES.register("Range")
def _range(inputs: Sequence[np.ndarray], attrs: dict[str, Any]) -> Optional[int]:
    try:
        start, limit, delta = (float(np.asarray(v).reshape(-1)[0]) for v in inputs[:3])
    except (ValueError, IndexError, TypeError):
        return None
    if delta == 0 or not all(math.isfinite(v) for v in (start, limit, delta)):
        return None
    return max(int(math.ceil((limit - start) / delta)), 0)


@ESTIMATES.register("Pad", "PadV2", "MirrorPad")
def _pad(inputs: Sequence[np.ndarray], attrs: dict[str, Any]) -> Optional[int]:
    if len(inputs) < 2:
        return None
    pads = _ints(inputs[1])
    dims = list(np.asarray(inputs[0]).shape)
    if len(pads) != 2 * len(dims):
        return None
    return _product(d + pads[2 * i] + pads[2 * i + 1] for i, d in enumerate(dims))


@ESTIMATES.register("OneHot")
def _one_hot(inputs: Sequence[np.ndarray], attrs: dict[str, Any]) -> Optional[int]:
    depth = _ints(inputs[1]) if len(inputs) > 1 else []
    return int(np.asarray(inputs[0]).size) * max(depth[0], 0) if depth else None


@ESTIMATES.register("Conv2DBackpropInput", "Conv3DBackpropInputV2", "ResizeBilinear",
                    "ResizeNearestNeighbor", "ResizeBicubic", "ResizeArea")
def _size_argument(inputs: Sequence[np.ndarray], attrs: dict[str, Any]) -> Optional[int]:
    # The first small integer vector among the inputs names the output (or its spatial) size.
    sizes = [a for a in inputs if np.asarray(a).ndim == 1 and np.asarray(a).dtype.kind in "iu"]
    if not sizes:
        return None
    largest = max(int(np.asarray(a).size) for a in inputs)
    return _product(_ints(sizes[0])) * max(largest, 1)


def _broadcast(inputs: Sequence[np.ndarray]) -> Optional[int]:
    try:
        return _product(np.broadcast_shapes(*(np.asarray(a).shape for a in inputs)))
    except ValueError:
        return None


def _einsum_or_outer(inputs: Sequence[np.ndarray]) -> int:
    # Contractions of rank-2+ operands (MatMul, Einsum "ij,jk->ik", outer products) are bounded by
    # the product of every operand's largest dimension per axis: crude, but never too small.
    return _product(max((np.asarray(a).shape + (1,) * 8)[i] for a in inputs) for i in range(8)) \
        if inputs else 0


def check_result_size(op: str, inputs: Sequence[np.ndarray], attrs: dict[str, Any]) -> Optional[str]:
    """Why ``op`` on ``inputs`` would exceed the tensor cap (None when it stays within it)."""
    estimate = ESTIMATES.get(op)
    elements = estimate(inputs, attrs) if estimate is not None else None
    if elements is None and len(inputs) > 1:
        elements = _broadcast(inputs)
        if elements is None or op in ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum"):
            elements = max(elements or 0, _einsum_or_outer(inputs))
    if elements is None:
        return None
    itemsize = max((np.asarray(a).dtype.itemsize for a in inputs), default=8) or 8
    cap = current().max_tensor_bytes
    if elements * max(itemsize, 4) > cap:
        return f"{op} would produce {elements} elements, more than the {cap}-byte tensor limit"
    return None
