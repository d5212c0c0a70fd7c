"""Value types shared by the Keras HDF5 readers (legacy layout and Keras 3 positional weights)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...ir.graph import LazyArray

# What h5py raises for damaged files: OSError for I/O and most format errors, RuntimeError when a
# group or link walk fails, KeyError when a damaged object cannot be opened, ValueError for some
# bad dataspace/type messages.
H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError)


@dataclass(frozen=True)
class H5Weight:
    """One stored weight: its name as written in ``weight_names`` and its lazily read value."""

    name: str
    data: LazyArray


@dataclass(frozen=True)
class H5Layer:
    name: str
    weights: tuple[H5Weight, ...]


def h5_text(value: Any) -> str:
    """An HDF5 string attribute as text: h5py gives bytes, str or a 0-d array of either."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return h5_text(value.item())
    return str(value)
