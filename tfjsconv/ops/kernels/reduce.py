"""Reductions: Sum, Prod, Max, Min, Mean, All, Any, ArgMax, ArgMin."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .registry import NotComputable, kernel, out_dtype


def _axes(x: np.ndarray, axes: np.ndarray) -> tuple[int, ...]:
    result = []
    for a in np.asarray(axes).reshape(-1):
        a = int(a)
        if not -x.ndim <= a < max(x.ndim, 1):
            raise NotComputable(f"reduction axis {a} out of range")
        result.append(a + x.ndim if a < 0 else a)
    return tuple(sorted(set(result)))


def _reduction(fn: Callable[..., np.ndarray], keep_type: bool = True
               ) -> Callable[[list[np.ndarray], dict[str, Any]], tuple[np.ndarray]]:
    def run(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray]:
        x = inputs[0]
        axes = _axes(x, inputs[1])
        if x.ndim == 0:
            return (x.copy(),)
        if any(x.shape[a] == 0 for a in axes) and fn in (np.max, np.min):
            raise NotComputable("empty max/min")
        result = fn(x, axis=axes, keepdims=bool(attrs.get("keep_dims", False)))
        return (np.asarray(result).astype(x.dtype) if keep_type else np.asarray(result),)

    return run


kernel("Sum")(_reduction(np.sum))
kernel("Prod")(_reduction(np.prod))
kernel("Max")(_reduction(np.max))
kernel("Min")(_reduction(np.min))
kernel("Mean")(_reduction(np.mean))
kernel("All")(_reduction(np.all, keep_type=False))
kernel("Any")(_reduction(np.any, keep_type=False))


def _arg(fn: Callable[..., np.ndarray]) -> Callable[[list[np.ndarray], dict[str, Any]], tuple[np.ndarray]]:
    def run(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray]:
        x = inputs[0]
        (axis,) = _axes(x, inputs[1])
        return (fn(x, axis=axis).astype(out_dtype(attrs, "output_type", np.dtype(np.int64))),)

    return run


kernel("ArgMax")(_arg(np.argmax))
kernel("ArgMin")(_arg(np.argmin))
