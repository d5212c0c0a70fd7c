"""TensorFlow proto values -> IR values: TensorProto -> numpy, AttrValue -> python.

Attr values become the IR's python forms (see ``tfjsconv.ir``): ``s`` -> bytes, ``i`` -> int,
``f`` -> float, ``b`` -> bool, ``type`` -> DType, ``shape`` -> Shape, ``tensor`` -> np.ndarray,
``func`` -> FuncAttr, ``list`` -> python list (an empty list stays ``[]``: "present but empty"
differs from "absent"), ``placeholder`` -> ``Placeholder(name)`` (substituted when inlining).
A leaf module: the OpDef tables and the GraphDef converter both build on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ...errors import InputError, UnsupportedError
from ...ir.graph import ArrayLike, LazyArray
from ...ir.types import DType, FuncAttr, Shape
from ...limits import check_tensor
from ..mapped import map_file_array, source_path
from ..wire import read_marker

# TensorProto typed field per dtype (FORMATS §1.4); half/bfloat16 travel as int bit patterns.
_INT_VAL = (DType.INT32, DType.INT16, DType.INT8, DType.UINT8, DType.UINT16, DType.QINT8, DType.QUINT8,
            DType.QINT16, DType.QUINT16, DType.QINT32)
_FIELD_OF: dict[DType, str] = {DType.FLOAT: "float_val", DType.DOUBLE: "double_val",
                               DType.INT64: "int64_val", DType.UINT32: "uint32_val",
                               DType.UINT64: "uint64_val", DType.BOOL: "bool_val",
                               DType.STRING: "string_val", DType.HALF: "half_val",
                               DType.BFLOAT16: "half_val", DType.COMPLEX64: "scomplex_val",
                               DType.COMPLEX128: "dcomplex_val"}
_FIELD_OF.update({d: "int_val" for d in _INT_VAL})
_QUANTIZED_NUMPY = {DType.QINT8: "int8", DType.QUINT8: "uint8", DType.QINT16: "int16",
                    DType.QUINT16: "uint16", DType.QINT32: "int32"}


@dataclass(frozen=True)
class AttrPlaceholder:
    """An ``AttrValue.placeholder``: the caller's attr of this name is substituted when inlining."""

    name: str


def dtype_of(value: int, where: str = "") -> DType:
    """A DataType number as DType; an element type the IR lacks (float8, int4...) is unsupported."""
    try:
        return DType.from_tf(int(value))
    except ValueError:
        raise UnsupportedError(f"{where}: DataType {value} is not supported".lstrip(": ")) from None


def shape_from_proto(proto: Any) -> Shape:
    if proto.unknown_rank:
        return Shape.unknown()
    return Shape.of(tuple(int(d.size) for d in proto.dim))


def _numpy_dtype(dtype: DType) -> np.dtype:
    if dtype == DType.BFLOAT16:
        return np.dtype("uint16")  # bit patterns; widened to float32 below
    if dtype in _QUANTIZED_NUMPY:
        return np.dtype(_QUANTIZED_NUMPY[dtype])
    return dtype.numpy


def _bfloat16_to_float32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def tensor_to_array(proto: Any, where: str = "") -> np.ndarray:
    """A TensorProto as a numpy array (strings: object array of bytes; bfloat16 -> float32).

    The declared size is checked (limits.py) before anything is allocated: a TensorProto may declare
    any shape and store a single value that TensorFlow repeats.
    """
    dtype = dtype_of(proto.dtype, where)
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    if any(d < 0 for d in shape):
        raise InputError(f"{where}: constant tensor with unknown dimension {list(shape)}")
    if dtype in (DType.RESOURCE, DType.VARIANT):
        raise UnsupportedError(f"{where}: constant of type {dtype.tf_name} cannot be converted")
    what = f"{where}: constant".lstrip(": ")
    if dtype == DType.STRING:
        count = check_tensor(shape, 8, what)  # one object pointer per element, before any bytes
        out = np.empty(count, dtype=object)
        _fill_into(out, list(proto.string_val), b"")
        return out.reshape(shape)
    try:
        np_dtype = _numpy_dtype(dtype)
    except ValueError:  # DT_INVALID and the like: no element type at all
        raise UnsupportedError(f"{where}: constant of type {dtype.tf_name} cannot be converted") from None
    width = 2 if dtype == DType.BFLOAT16 else np_dtype.itemsize  # stored bytes per element
    count = check_tensor(shape, 4 if dtype == DType.BFLOAT16 else width, what)  # bfloat16 -> float32
    if proto.tensor_content:
        mapped = _mapped(proto, np_dtype, shape, count * width, where)
        if mapped is not None:
            array = mapped.load()
            return _bfloat16_to_float32(array) if dtype == DType.BFLOAT16 else array
        raw = bytes(proto.tensor_content)
        if len(raw) != count * width:
            raise InputError(f"{where}: tensor_content holds {len(raw)} bytes, expected {count * width}")
        array = np.frombuffer(raw, dtype=np_dtype.newbyteorder("<")).astype(np_dtype).reshape(shape)
        return _bfloat16_to_float32(array) if dtype == DType.BFLOAT16 else array
    field = _FIELD_OF.get(dtype)
    if field is None:
        raise UnsupportedError(f"{where}: constant of type {dtype.tf_name} cannot be converted")
    values = getattr(proto, field)
    if dtype in (DType.HALF, DType.BFLOAT16):
        bits = np.empty(count, dtype=np.uint16)
        _fill_into(bits, np.asarray(values, dtype=np.int64).astype(np.uint16), 0)
        bits = bits.reshape(shape)
        return _bfloat16_to_float32(bits) if dtype == DType.BFLOAT16 else bits.view(np.float16)
    if dtype in (DType.COMPLEX64, DType.COMPLEX128):
        flat = np.asarray(values, dtype=np.float64)
        pairs = flat[: len(flat) // 2 * 2].reshape(-1, 2)
        out = np.empty(count, dtype=np_dtype)
        _fill_into(out, pairs[:, 0] + 1j * pairs[:, 1], 0)
        return out.reshape(shape)
    out = np.empty(count, dtype=np_dtype)
    if np_dtype.kind in "iu":
        # Wider ints than the element type wrap as TensorFlow's static_cast does.
        source: Any = np.asarray(values, dtype=np.uint64 if np_dtype == np.uint64 else np.int64)
        source = source.astype(np_dtype)
    else:
        source = np.asarray(values, dtype=np_dtype)
    _fill_into(out, source, 0)
    return out.reshape(shape)


def _mapped(proto: Any, np_dtype: np.dtype, shape: tuple[int, ...], nbytes: int, where: str
            ) -> Optional[LazyArray]:
    """The tensor when its content stayed in the file (``mapped_proto``): mapped on each load."""
    found = read_marker(proto.tensor_content)
    if found is None:
        return None
    source, offset, length = found
    if length != nbytes:
        raise InputError(f"{where}: tensor_content holds {length} bytes, expected {nbytes}")
    path = source_path(source)
    stored = np_dtype.newbyteorder("<")

    def load() -> np.ndarray:
        array = map_file_array(path, offset, stored, shape)
        return array if stored == np_dtype else array.astype(np_dtype)

    return LazyArray(np_dtype, shape, load)


def tensor_value(proto: Any, where: str = "") -> ArrayLike:
    """``tensor_to_array``, except that a large tensor left in the file stays there until it is used."""
    dtype = dtype_of(proto.dtype, where)
    # (DT_INVALID: tensor_to_array refuses it; numpy has no type for it to map the content with)
    if proto.tensor_content and dtype not in (DType.STRING, DType.BFLOAT16, DType.RESOURCE, DType.VARIANT,
                                              DType.INVALID):
        shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
        if all(d >= 0 for d in shape):
            np_dtype = _numpy_dtype(dtype)
            count = check_tensor(shape, np_dtype.itemsize, f"{where}: constant".lstrip(": "))
            mapped = _mapped(proto, np_dtype, shape, count * np_dtype.itemsize, where)
            if mapped is not None:
                return mapped
    return tensor_to_array(proto, where)


def _fill_into(out: np.ndarray, values: Any, zero: Any) -> None:
    """TF's rule: fewer values than elements -> the last value repeats; none at all -> zeros."""
    count = len(out)
    given = len(values)
    if given == 0:
        out[:] = zero
        return
    if given >= count:
        out[:] = values[:count]
        return
    out[:given] = values
    out[given:] = values[-1]


def _func(proto: Any, where: str) -> FuncAttr:
    attrs = tuple(sorted((k, attr_to_value(v, where)) for k, v in proto.attr.items()))
    return FuncAttr(proto.name, attrs)


def _list_value(proto: Any, where: str) -> list[Any]:
    # A ListValue holds one kind of element; an empty one is just [].
    if proto.s:
        return [bytes(v) for v in proto.s]
    if proto.i:
        return [int(v) for v in proto.i]
    if proto.f:
        return [float(v) for v in proto.f]
    if proto.b:
        return [bool(v) for v in proto.b]
    if proto.type:
        return [dtype_of(v, where) for v in proto.type]
    if proto.shape:
        return [shape_from_proto(v) for v in proto.shape]
    if proto.tensor:
        return [tensor_to_array(v, where) for v in proto.tensor]
    if proto.func:
        return [_func(v, where) for v in proto.func]
    return []


def attr_to_value(proto: Any, where: str = "") -> Any:
    kind = proto.WhichOneof("value")
    if kind is None:
        return None
    if kind == "s":
        return bytes(proto.s)
    if kind == "i":
        return int(proto.i)
    if kind == "f":
        return float(proto.f)
    if kind == "b":
        return bool(proto.b)
    if kind == "type":
        return dtype_of(proto.type, where)
    if kind == "shape":
        return shape_from_proto(proto.shape)
    if kind == "tensor":
        return tensor_value(proto.tensor, where)
    if kind == "list":
        return _list_value(proto.list, where)
    if kind == "func":
        return _func(proto.func, where)
    return AttrPlaceholder(proto.placeholder)


def node_attrs(node_def: Any) -> dict[str, Any]:
    where = f"node {node_def.name}"
    out: dict[str, Any] = {}
    for key in sorted(node_def.attr):
        value = attr_to_value(node_def.attr[key], where)
        if value is not None:
            out[key] = value
    return out


def split_tensor_name(name: str) -> tuple[str, int]:
    """``node:3`` -> (node, 3); ``node`` -> (node, 0).  Node names never contain ``:``."""
    head, sep, tail = name.rpartition(":")
    if sep and tail.isdigit():
        return head, int(tail)
    return name, 0
