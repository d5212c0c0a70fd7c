"""The numpy kernel registry shared by ``passes.fold_constants`` and ``ir.interpret``.

A kernel is ``fn(inputs: list[np.ndarray], attrs: dict) -> tuple[np.ndarray, ...]`` registered
under exact TF op names with ``@kernel("AddV2", ...)``.  It follows TF's semantics for the inputs
it accepts and raises ``NotComputable`` for the ones it does not handle (folding then leaves the
node alone; the interpreter reports it).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

Kernel = Callable[[list[np.ndarray], dict[str, Any]], tuple[np.ndarray, ...]]

_KERNELS: dict[str, Kernel] = {}


class NotComputable(Exception):
    """The kernel does not handle these inputs/attrs (never a user error)."""


def kernel(*ops: str) -> Callable[[Kernel], Kernel]:
    def register(fn: Kernel) -> Kernel:
        for op in ops:
            if op in _KERNELS:
                raise RuntimeError(f"kernel for {op} registered twice")
            _KERNELS[op] = fn
        return fn

    return register


def get_kernel(op: str) -> Optional[Kernel]:
    return _KERNELS.get(op)


def kernel_ops() -> frozenset[str]:
    return frozenset(_KERNELS)


def text(value: Any) -> str:
    """A string attr as str (the IR stores ``s`` attrs as bytes)."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def out_dtype(attrs: dict[str, Any], key: str, default: np.dtype) -> np.dtype:
    dtype = attrs.get(key)
    return default if dtype is None else dtype.numpy
