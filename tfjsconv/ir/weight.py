"""A named weight as readers hand it to writers: a numpy array or a lazily read one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from .graph import LazyArray, read_array


@dataclass(frozen=True)
class Weight:
    name: str
    data: Union[np.ndarray, LazyArray]

    def array(self) -> np.ndarray:
        """The weight's values; a LazyArray is read without being cached in the graph."""
        return read_array(self.data)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype
