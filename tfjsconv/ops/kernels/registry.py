"""The numpy kernel registry shared by ``passes.fold_constants``, ``ir.interpret`` and the ONNX reader.

A kernel is ``fn(inputs: list[np.ndarray], attrs: dict) -> tuple[np.ndarray, ...]`` registered
under exact TF op names with ``@kernel("AddV2", ...)``.  It follows TF's semantics for the inputs
it accepts and raises ``NotComputable`` for the ones it does not handle.

Callers run kernels through ``evaluate(op, inputs, attrs)``, the one entry: ``NotComputable`` (no
kernel, or the kernel declines) is the only "cannot evaluate" signal; folding then leaves the node
alone and the interpreter reports it.  Any other exception is a kernel bug and propagates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Optional

import numpy as np

from ...registry import Registry
from .result_size import check_result_size

Kernel = Callable[[list[np.ndarray], dict[str, Any]], tuple[np.ndarray, ...]]

KERNELS: Registry[str, Kernel] = Registry("kernel")


class NotComputable(Exception):
    """The kernel does not handle these inputs/attrs (never a user error)."""


def kernel(*ops: str) -> Callable[[Kernel], Kernel]:
    """Decorator: registers a kernel under each TF op name (a second registration fails the import)."""
    return KERNELS.register(*ops)


def get_kernel(op: str) -> Optional[Kernel]:
    return KERNELS.get(op)


def kernel_ops() -> frozenset[str]:
    return KERNELS.keys()


def evaluate(op: str, inputs: Sequence[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """The outputs of ``op`` on numpy ``inputs``, each as an array.  Raises ``NotComputable`` when
    there is no kernel for ``op`` or the kernel declines; floating-point warnings are silenced
    (folding ``x / 0`` gives inf, as TF does at run time)."""
    fn = KERNELS.get(op)
    if fn is None:
        raise NotComputable(f"no kernel for {op}")
    too_big = check_result_size(op, inputs, attrs)  # before the kernel allocates (a hostile shape)
    if too_big:
        raise NotComputable(too_big)
    with np.errstate(all="ignore"):
        return tuple(np.asarray(r) for r in fn(list(inputs), attrs))


def out_dtype(attrs: dict[str, Any], key: str, default: np.dtype) -> np.dtype:
    """The numpy type of a type attr; NotComputable for types numpy lacks (bfloat16...)."""
    dtype = attrs.get(key)
    if dtype is None:
        return default
    try:
        return dtype.numpy
    except ValueError as exc:
        raise NotComputable(str(exc)) from None
