"""A named weight as readers hand it to writers: a numpy array or a lazily read one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from .graph import LazyArray


@dataclass(frozen=True)
class Weight:
    name: str
    data: Union[np.ndarray, LazyArray]

    def array(self) -> np.ndarray:
        """The weight's values; a LazyArray is read without being cached in the graph."""
        return self.data.load() if isinstance(self.data, LazyArray) else np.asarray(self.data)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype
