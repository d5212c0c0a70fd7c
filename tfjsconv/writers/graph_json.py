"""The proto3 JSON form of GraphDef pieces, written straight from the IR (no protobuf needed).

This is what ``MessageToDict`` would print for the same protos: lowerCamelCase message fields,
attr map keys untouched (snake_case), int64 values as strings, bytes as base64, enums by name,
default scalar fields left out.  Two deliberate differences, both because TF.js reads them:
a shape dim of size 0 is written as ``{"size": "0"}`` (an empty ``{}`` makes TF.js parse NaN), and
non-finite floats are written as the proto3 JSON strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.

Attr values of the IR map to AttrValue fields as: ``bool`` -> ``b``, ``int`` -> ``i``, ``float`` ->
``f``, ``bytes``/``str`` -> ``s``, ``DType`` -> ``type``, ``Shape`` -> ``shape``, ``FuncAttr`` ->
``func``, ``np.ndarray`` -> ``tensor``, and a list/tuple of one of these -> ``list``.
Attr names starting with ``_`` are private to the IR and never written.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from ..ir.graph import Node, Value
from ..ir.types import DType, FuncAttr, Shape


def encode_shape(shape: Optional[Shape]) -> dict[str, Any]:
    if shape is None or shape.dims is None:
        return {"unknownRank": True}
    if not shape.dims:
        return {}
    return {"dim": [{"size": "-1" if d is None else str(int(d))} for d in shape.dims]}


def encode_float(value: float) -> Any:
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _b64(value: Any) -> str:
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return base64.b64encode(raw).decode("ascii")


def encode_tensor(array: np.ndarray, dtype: Optional[DType] = None) -> dict[str, Any]:
    """A full TensorProto (used for tensor-valued attrs other than a Const's value)."""
    dt = dtype or DType.from_numpy(array.dtype)
    out: dict[str, Any] = {"dtype": dt.tf_name, "tensorShape": encode_shape(Shape.of(tuple(array.shape)))}
    if dt == DType.STRING:
        out["stringVal"] = [_b64(v if isinstance(v, (bytes, str)) else str(v)) for v in array.reshape(-1)]
    elif array.size:
        little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        out["tensorContent"] = _b64(little.tobytes())
    return out


def encode_func(func: FuncAttr) -> dict[str, Any]:
    out: dict[str, Any] = {"name": func.name}
    if func.attrs:
        out["attr"] = {k: encode_attr(v) for k, v in func.attrs}
    return out


def _list_field(values: Sequence[Any]) -> dict[str, Any]:
    if not values:
        return {}
    first = values[0]
    if all(isinstance(v, (bool, np.bool_)) for v in values):
        return {"b": [bool(v) for v in values]}
    if all(isinstance(v, DType) for v in values):
        return {"type": [v.tf_name for v in values]}
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in values):
        return {"i": [str(int(v)) for v in values]}
    if all(isinstance(v, (int, float, np.integer, np.floating)) for v in values):
        return {"f": [encode_float(v) for v in values]}
    if all(isinstance(v, (bytes, str)) for v in values):
        return {"s": [_b64(v) for v in values]}
    if all(isinstance(v, Shape) for v in values):
        return {"shape": [encode_shape(v) for v in values]}
    if all(isinstance(v, FuncAttr) for v in values):
        return {"func": [encode_func(v) for v in values]}
    if all(isinstance(v, np.ndarray) for v in values):
        return {"tensor": [encode_tensor(v) for v in values]}
    raise TypeError(f"cannot encode attr list starting with {type(first).__name__}: {values!r}")


def encode_attr(value: Any) -> dict[str, Any]:
    # bool before int: bool is an int subclass in Python.
    if isinstance(value, (bool, np.bool_)):
        return {"b": bool(value)}
    if isinstance(value, DType):
        return {"type": value.tf_name}
    if isinstance(value, (int, np.integer)):
        return {"i": str(int(value))}
    if isinstance(value, (float, np.floating)):
        return {"f": encode_float(value)}
    if isinstance(value, (bytes, str)):
        return {"s": _b64(value)}
    if isinstance(value, Shape):
        return {"shape": encode_shape(value)}
    if isinstance(value, FuncAttr):
        return {"func": encode_func(value)}
    if isinstance(value, np.ndarray):
        return {"tensor": encode_tensor(value)}
    if isinstance(value, (list, tuple)):
        return {"list": _list_field(list(value))}
    raise TypeError(f"cannot encode attr value of type {type(value).__name__}: {value!r}")


def encode_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    return {key: encode_attr(value) for key, value in attrs.items()
            if not key.startswith("_") and value is not None}


def const_attrs(node: Node) -> dict[str, Any]:
    """A Const's attrs once its value has moved to the weights: dtype and shape only."""
    dtype: DType = node.attrs["dtype"]
    shape = Shape.of(tuple(node.attrs["value"].shape))
    return {"value": {"tensor": {"dtype": dtype.tf_name, "tensorShape": encode_shape(shape)}},
            "dtype": {"type": dtype.tf_name}}


def encode_node(node: Node, name: str, inputs: list[str], attrs: dict[str, Any]) -> dict[str, Any]:
    """A NodeDef in key order name, op, input, device, attr (empty fields left out)."""
    out: dict[str, Any] = {"name": name, "op": node.op}
    if inputs:
        out["input"] = inputs
    if node.device:
        out["device"] = node.device
    if attrs:
        out["attr"] = attrs
    return out


def tensor_info(name: str, dtype: Optional[DType], shape: Optional[Shape]) -> dict[str, Any]:
    """A SignatureDef TensorInfo: ``{"name", "dtype", "tensorShape"}`` with unknown parts left out."""
    out: dict[str, Any] = {"name": name}
    if dtype is not None:
        out["dtype"] = dtype.tf_name
    if shape is not None:
        out["tensorShape"] = encode_shape(shape)
    return out


def value_dtype(value: Value) -> Optional[DType]:
    """The element type of a value: its own, or what its producer's attrs say."""
    if value.dtype is not None:
        return value.dtype
    attrs = value.producer.attrs
    if value.producer.op in ("Placeholder", "Const") and isinstance(attrs.get("dtype"), DType):
        return attrs["dtype"]
    t = attrs.get("T")
    return t if isinstance(t, DType) else None
