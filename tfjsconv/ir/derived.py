"""Constants computed from other constants without holding the result until it is written.

Folding a weight (a batch norm scale into a convolution kernel, a transpose of an ONNX MatMul weight)
makes a new array as big as the weight.  Keeping every such result in the graph until the writer runs
holds the whole folded model in memory.  When a result is large and at least one of its sources is a
``LazyArray`` (read from the input file on demand), ``derive`` returns a ``LazyArray`` that computes
the result again from the sources whenever it is loaded: the writer then holds one folded weight at a
time, and the sources stay on disk.  Results of in-memory sources stay arrays: recomputing them would
keep the sources alive without saving anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable, Optional

import numpy as np

from .graph import ArrayLike, LazyArray, read_array

DEFER_ABOVE = 256 * 1024  # bytes: smaller results are simply kept


def derive(compute: Callable[..., np.ndarray], sources: tuple[ArrayLike, ...],
           result: Optional[np.ndarray] = None, *, dtype: Optional[np.dtype] = None,
           shape: Optional[tuple[int, ...]] = None) -> ArrayLike:
    """``compute(*arrays of sources)`` as a graph constant value.

    Pass the already computed ``result`` (it is returned or dropped), or the ``dtype`` and ``shape``
    ``compute`` returns when they are known without running it.  ``compute`` must be pure: it runs
    again on each load.
    """
    if result is not None:
        dtype, shape = result.dtype, result.shape
    lazy = any(isinstance(s, LazyArray) for s in sources)
    if not lazy or dtype is None or shape is None or np.dtype(dtype) == object or \
            int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize <= DEFER_ABOVE:
        return result if result is not None else _run(compute, sources)
    return LazyArray(np.dtype(dtype), tuple(shape), lambda: _run(compute, sources))


def _run(compute: Callable[..., np.ndarray], sources: tuple[ArrayLike, ...]) -> np.ndarray:
    return np.asarray(compute(*(read_array(s) for s in sources)))


def cast(value: ArrayLike, dtype: np.dtype) -> ArrayLike:
    """``value`` converted to ``dtype``, lazily when it is lazy."""
    dtype = np.dtype(dtype)
    if isinstance(value, LazyArray):
        return LazyArray(dtype, value.shape, lambda: read_array(value).astype(dtype))
    return value.astype(dtype)


def output_of(compute: Callable[..., Sequence[np.ndarray]], index: int) -> Callable[..., np.ndarray]:
    """A ``compute`` for ``derive`` that takes output ``index`` of a multi-output kernel."""
    return lambda *arrays: compute(*arrays)[index]
