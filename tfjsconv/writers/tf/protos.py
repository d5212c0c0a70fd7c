"""IR values -> TensorFlow protos: TensorProto, TensorShapeProto and AttrValue (the inverse of
``readers/tf/attr_values``).

Numeric tensors are stored as little-endian ``tensor_content`` (what TensorFlow itself writes for
all but tiny constants), strings as ``string_val``.  An AttrValue's field comes from the attr's
OpDef type when known (so an empty list still becomes ``list {}`` of the right kind), else from the
python value: ``bool`` -> b, ``int`` -> i, ``float`` -> f, ``bytes``/``str`` -> s, ``DType`` -> type,
``Shape`` -> shape, ``FuncAttr`` -> func, ``np.ndarray`` -> tensor, list -> list.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..._proto import attr_value_pb2, tensor_pb2, tensor_shape_pb2
from ...errors import UnsupportedError
from ...ir.graph import LazyArray, read_array
from ...ir.types import DType, FuncAttr, Shape


def shape_proto(shape: Optional[Shape], out: Optional[Any] = None) -> Any:
    proto = out if out is not None else tensor_shape_pb2.TensorShapeProto()
    if shape is None or shape.dims is None:
        proto.unknown_rank = True
        return proto
    for dim in shape.dims:
        proto.dim.add().size = -1 if dim is None else int(dim)
    return proto


def _as_bytes(item: Any) -> bytes:
    return item.encode("utf-8") if isinstance(item, str) else bytes(item)


def tensor_proto(value: Any, dtype: Optional[DType] = None, out: Optional[Any] = None) -> Any:
    """A TensorProto holding ``value`` (numpy array, LazyArray or scalar) as ``dtype``."""
    array = read_array(value)
    if dtype is None:
        dtype = DType.STRING if array.dtype.kind in "OSU" else DType.from_numpy(array.dtype)
    proto = out if out is not None else tensor_pb2.TensorProto()
    proto.dtype = int(dtype)
    proto.tensor_shape.SetInParent()
    for dim in array.shape:
        proto.tensor_shape.dim.add().size = int(dim)
    if dtype == DType.STRING:
        proto.string_val.extend(_as_bytes(v) for v in array.reshape(-1).tolist())
        return proto
    if dtype in (DType.RESOURCE, DType.VARIANT):
        raise UnsupportedError(f"a constant of type {dtype.tf_name} cannot be written")
    if array.size == 0:
        return proto
    if dtype == DType.BFLOAT16:
        bits = np.ascontiguousarray(array, dtype="<f4").view("<u4") >> 16
        proto.tensor_content = bits.astype("<u2").tobytes()
        return proto
    storage = np.dtype(dtype.numpy).newbyteorder("<")
    proto.tensor_content = np.ascontiguousarray(array, dtype=storage).tobytes()
    return proto


def _func(value: FuncAttr, out: Any) -> None:
    out.name = value.name
    for key, item in value.attrs:
        attr_value(item, None, out.attr[key])


_LIST_FIELDS = {"string": "s", "int": "i", "float": "f", "bool": "b", "type": "type", "shape": "shape",
                "tensor": "tensor", "func": "func"}


def _kind_of(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, DType):
        return "type"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, (bytes, str)):
        return "string"
    if isinstance(value, Shape):
        return "shape"
    if isinstance(value, FuncAttr):
        return "func"
    if isinstance(value, (np.ndarray, LazyArray)):
        return "tensor"
    raise UnsupportedError(f"cannot write an attr value of type {type(value).__name__}")


def _set_scalar(proto: Any, kind: str, value: Any) -> None:
    if kind == "string":
        proto.s = _as_bytes(value)
    elif kind == "int":
        proto.i = int(value)
    elif kind == "float":
        proto.f = float(value)
    elif kind == "bool":
        proto.b = bool(value)
    elif kind == "type":
        proto.type = int(value)
    elif kind == "shape":
        shape_proto(value, proto.shape)
    elif kind == "tensor":
        tensor_proto(value, None, proto.tensor)
    elif kind == "func":
        _func(value, proto.func)
    else:
        raise UnsupportedError(f"cannot write an attr of kind {kind}")


def attr_value(value: Any, attr_type: Optional[str] = None, out: Optional[Any] = None) -> Any:
    """An AttrValue for ``value``; ``attr_type`` is the OpDef's type string when known."""
    proto = out if out is not None else attr_value_pb2.AttrValue()
    if isinstance(value, (list, tuple)):
        kind = attr_type[5:-1] if attr_type and attr_type.startswith("list(") else (
            _kind_of(value[0]) if value else "")
        proto.list.SetInParent()
        if not kind:
            return proto
        field = getattr(proto.list, _LIST_FIELDS[kind])
        for item in value:
            if kind == "string":
                field.append(_as_bytes(item))
            elif kind in ("int", "type"):
                field.append(int(item))
            elif kind == "float":
                field.append(float(item))
            elif kind == "bool":
                field.append(bool(item))
            elif kind == "shape":
                shape_proto(item, field.add())
            elif kind == "tensor":
                tensor_proto(item, None, field.add())
            else:
                _func(item, field.add())
        return proto
    kind = attr_type if attr_type in _LIST_FIELDS else _kind_of(value)
    _set_scalar(proto, kind, value)
    return proto
