"""Tensor element types and shapes of the IR, and their names in TF, numpy and TF.js."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional

import numpy as np


class DType(enum.IntEnum):
    """TensorFlow's DataType enum values (types.proto); the IR's one notion of element type."""

    INVALID = 0
    FLOAT = 1
    DOUBLE = 2
    INT32 = 3
    UINT8 = 4
    INT16 = 5
    INT8 = 6
    STRING = 7
    COMPLEX64 = 8
    INT64 = 9
    BOOL = 10
    QINT8 = 11
    QUINT8 = 12
    QINT32 = 13
    BFLOAT16 = 14
    QINT16 = 15
    QUINT16 = 16
    UINT16 = 17
    COMPLEX128 = 18
    HALF = 19
    RESOURCE = 20
    VARIANT = 21
    UINT32 = 22
    UINT64 = 23

    @classmethod
    def from_tf(cls, value: int) -> DType:
        """Accepts TF1 reference types (base + 100) too: they hold the same values."""
        return cls(value - 100 if value > 100 else value)

    @property
    def tf_name(self) -> str:
        """The proto enum name, as model.json spells it: ``DT_FLOAT``."""
        return "DT_" + self.name

    @property
    def numpy(self) -> np.dtype:
        try:
            return np.dtype(_TO_NUMPY[self])
        except KeyError:
            raise ValueError(f"{self.tf_name} has no numpy equivalent") from None

    @classmethod
    def from_numpy(cls, dtype: np.dtype) -> DType:
        dtype = np.dtype(dtype)
        if dtype.kind in ("O", "U", "S"):
            return cls.STRING
        try:
            return _FROM_NUMPY[dtype]
        except KeyError:
            raise ValueError(f"numpy dtype {dtype} has no TensorFlow equivalent") from None


_TO_NUMPY = {
    DType.FLOAT: "float32",
    DType.DOUBLE: "float64",
    DType.INT32: "int32",
    DType.UINT8: "uint8",
    DType.INT16: "int16",
    DType.INT8: "int8",
    DType.STRING: "object",
    DType.COMPLEX64: "complex64",
    DType.INT64: "int64",
    DType.BOOL: "bool",
    DType.UINT16: "uint16",
    DType.COMPLEX128: "complex128",
    DType.HALF: "float16",
    DType.UINT32: "uint32",
    DType.UINT64: "uint64",
}
_FROM_NUMPY = {np.dtype(v): k for k, v in _TO_NUMPY.items() if v != "object"}


@dataclass(frozen=True)
class Shape:
    """A tensor shape: ``dims is None`` means unknown rank; a ``None`` dim is unknown (-1 in TF)."""

    dims: Optional[tuple[Optional[int], ...]]

    @classmethod
    def unknown(cls) -> Shape:
        return cls(None)

    @classmethod
    def of(cls, dims: Optional[tuple[Optional[int], ...]]) -> Shape:
        if dims is None:
            return cls(None)
        return cls(tuple(None if d is None or d < 0 else int(d) for d in dims))

    @property
    def rank(self) -> Optional[int]:
        return None if self.dims is None else len(self.dims)

    def __str__(self) -> str:
        if self.dims is None:
            return "<unknown>"
        return "[" + ",".join("?" if d is None else str(d) for d in self.dims) + "]"


@dataclass(frozen=True)
class FuncAttr:
    """A ``func`` attr: the name of a function in the graph's library and its instantiation attrs."""

    name: str
    attrs: tuple[tuple[str, object], ...] = ()
