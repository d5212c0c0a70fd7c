"""Numpy kernels by op family; importing this package registers all of them."""

from __future__ import annotations

from . import array, indexing, math, nn, reduce  # noqa: F401  (imported for their @kernel registrations)
from .registry import Kernel, NotComputable, evaluate, get_kernel, kernel, kernel_ops

__all__ = ["Kernel", "NotComputable", "evaluate", "get_kernel", "kernel", "kernel_ops"]
