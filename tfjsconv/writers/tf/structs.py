"""``StructuredValue`` builders for a SavedModel's object graph: the nested Python structures (tuples,
dicts, TensorSpecs, ``FullArgSpec``) TensorFlow records for every function's inputs and outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from ..._proto import saved_object_graph_pb2, struct_pb2
from ...ir.types import DType, Shape
from .protos import shape_proto


def tensor_spec(name: str, dtype: DType, shape: Optional[Shape]) -> Any:
    value = struct_pb2.StructuredValue()
    spec = value.tensor_spec_value
    spec.name = name
    spec.dtype = int(dtype)
    shape_proto(shape, spec.shape)
    return value


def tuple_of(items: Sequence[Any]) -> Any:
    value = struct_pb2.StructuredValue()
    value.tuple_value.SetInParent()
    for item in items:
        value.tuple_value.values.add().CopyFrom(item)
    return value


def dict_of(items: Mapping[str, Any]) -> Any:
    value = struct_pb2.StructuredValue()
    value.dict_value.SetInParent()
    for key, item in items.items():
        value.dict_value.fields[key].CopyFrom(item)
    return value


def list_of(items: Sequence[Any]) -> Any:
    value = struct_pb2.StructuredValue()
    value.list_value.SetInParent()
    for item in items:
        value.list_value.values.add().CopyFrom(item)
    return value


def none() -> Any:
    value = struct_pb2.StructuredValue()
    value.none_value.SetInParent()
    return value


def string(text: str) -> Any:
    value = struct_pb2.StructuredValue()
    value.string_value = text
    return value


def keyword_signature(specs: Mapping[str, Any]) -> Any:
    """``((), {key: spec})``: how TensorFlow records a function called with keyword arguments only."""
    return tuple_of([tuple_of([]), dict_of(specs)])


def function_spec(args: Sequence[str] = (), input_signature: Optional[Any] = None) -> Any:
    """A ``FunctionSpec`` for ``def f(<args>)`` (no varargs, defaults or annotations)."""
    spec = saved_object_graph_pb2.FunctionSpec()
    full = spec.fullargspec.named_tuple_value
    full.name = "FullArgSpec"
    fields = [("args", list_of([string(a) for a in args])), ("varargs", none()), ("varkw", none()),
              ("defaults", none()), ("kwonlyargs", list_of([])), ("kwonlydefaults", none()),
              ("annotations", dict_of({}))]
    for key, item in fields:
        pair = full.values.add()
        pair.key = key
        pair.value.CopyFrom(item)
    spec.input_signature.CopyFrom(input_signature if input_signature is not None else tuple_of([]))
    return spec
