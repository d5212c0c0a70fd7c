"""ONNX TensorProto element types -> the IR's DType (no protobuf import: the enum values are stable)."""

from __future__ import annotations

from typing import Any, Optional

from ....errors import UnsupportedError
from ....ir.types import DType

_ONNX_TO_DTYPE = {
    1: DType.FLOAT,
    2: DType.UINT8,
    3: DType.INT8,
    4: DType.UINT16,
    5: DType.INT16,
    6: DType.INT32,
    7: DType.INT64,
    8: DType.STRING,
    9: DType.BOOL,
    10: DType.HALF,
    11: DType.DOUBLE,
    12: DType.UINT32,
    13: DType.UINT64,
    14: DType.COMPLEX64,
    15: DType.COMPLEX128,
    16: DType.BFLOAT16,
}


def onnx_dtype(elem_type: int, ctx: Optional[Any] = None) -> DType:
    """The IR DType of an ONNX element type; refuses the float8/int4 families TF.js cannot hold."""
    try:
        return _ONNX_TO_DTYPE[int(elem_type)]
    except KeyError:
        message = f"ONNX element type {elem_type} has no TensorFlow equivalent"
        if ctx is not None:
            raise ctx.refuse(message) from None
        raise UnsupportedError(message) from None
