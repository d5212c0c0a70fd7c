"""ONNX TensorProto element types -> the IR's DType (no protobuf import: the enum values are stable).

TF.js computes floats in float32 only, so float16, bfloat16 and float64 tensors are read as float32
(``compute_dtype``); the reader warns that such a model computes in float32.  The float8, 4-bit and
2-bit families have no TF.js form at all and are refused.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

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
_NAMES = {
    17: "float8e4m3fn",
    18: "float8e4m3fnuz",
    19: "float8e5m2",
    20: "float8e5m2fnuz",
    21: "uint4",
    22: "int4",
    23: "float4e2m1",
    24: "float8e8m0",
    25: "uint2",
    26: "int2",
}
# Element types TF.js computes as float32 (the model's numbers then differ by float32 rounding).
REDUCED_FLOATS = {10: "float16", 11: "float64", 16: "bfloat16"}
_REDUCED_DTYPES = {DType.HALF, DType.DOUBLE, DType.BFLOAT16}
# Integer types TF.js has no name for (its graph loader maps them to a null dtype): int16 and uint16
# fit int32; uint32 and uint64 are held like int64 (TF.js's int32, range-checked where constant).
_WIDENED = {DType.INT16: DType.INT32, DType.UINT16: DType.INT32, DType.UINT32: DType.INT64,
            DType.UINT64: DType.INT64}


def onnx_dtype(elem_type: int, ctx: Optional[Any] = None) -> DType:
    """The IR DType of an ONNX element type; refuses the float8/int4 families TF.js cannot hold."""
    try:
        return _ONNX_TO_DTYPE[int(elem_type)]
    except KeyError:
        name = _NAMES.get(int(elem_type), f"ONNX element type {elem_type}")
        message = f"{name} tensors have no TensorFlow.js equivalent"
        if ctx is not None:
            raise ctx.refuse(message) from None
        raise UnsupportedError(message) from None


def onnx_elem_type(dtype: Optional[DType]) -> int:
    """The ONNX element type of an IR DType (0, "undefined", when it has none)."""
    for elem, known in _ONNX_TO_DTYPE.items():
        if known == dtype:
            return elem
    return 0


def compute_dtype(elem_type: int, ctx: Optional[Any] = None) -> DType:
    """The DType the converted model computes with: reduced floats become float32."""
    dtype = onnx_dtype(elem_type, ctx)
    if dtype in _REDUCED_DTYPES:
        if ctx is not None:
            ctx.reduced.add(REDUCED_FLOATS[int(elem_type)])
        return DType.FLOAT
    return _WIDENED.get(dtype, dtype)


def as_computed(array: Any, reduced: Optional[set[str]] = None) -> Any:
    """A numpy array with float16 / bfloat16 / float64 data as float32 (others unchanged)."""
    dtype = np.dtype(array.dtype)
    name = "bfloat16" if dtype.name == "bfloat16" else {np.dtype(np.float16): "float16",
                                                         np.dtype(np.float64): "float64"}.get(dtype)
    if name is None:
        return array
    if reduced is not None:
        reduced.add(name)
    with np.errstate(over="ignore"):  # float64 beyond float32 becomes inf, as TF.js would hold it
        return np.asarray(array).astype(np.float32)


def is_reduced_numpy(dtype: Any) -> bool:
    dtype = np.dtype(dtype)
    return dtype.name == "bfloat16" or dtype in (np.dtype(np.float16), np.dtype(np.float64))
