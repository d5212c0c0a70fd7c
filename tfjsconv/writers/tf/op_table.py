"""TensorFlow's OpDefs for the ops the TF writers emit (``op_defs.json``, generated from TF 2.21's
registry by ``fixtures/generate/tf_op_defs.py``; never edited by hand).

The writers need them to give each NodeDef exactly the attrs TensorFlow checks (required type attrs,
``N``/list attrs, defaults; nothing it does not know) and to name function-body tensors
``node:output_arg:index``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from google.protobuf import json_format

from ..._proto import op_def_pb2
from ...ir.types import DType
from ...readers.tf.attr_values import attr_to_value

TABLE_PATH = Path(__file__).with_name("op_defs.json")


@dataclass(frozen=True)
class ArgSpec:
    name: str
    type: Optional[DType]  # a fixed element type
    type_attr: str = ""
    number_attr: str = ""
    type_list_attr: str = ""

    @property
    def variadic(self) -> bool:
        return bool(self.number_attr or self.type_list_attr)


@dataclass(frozen=True)
class AttrSpec:
    name: str
    type: str  # "type", "int", "list(type)", "shape", "func", ...
    has_default: bool
    default: Any = None  # the IR form of the default value


@dataclass(frozen=True)
class OpSpec:
    name: str
    inputs: tuple[ArgSpec, ...]
    outputs: tuple[ArgSpec, ...]
    attrs: dict[str, AttrSpec]
    stateful: bool
    proto: Any  # the OpDef (for a MetaGraph's stripped_op_list)

    def output_count(self, attrs: dict[str, Any]) -> Optional[int]:
        counts = [arg_count(arg, attrs) for arg in self.outputs]
        return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)

    def output_arg(self, attrs: dict[str, Any], flat: int) -> Optional[tuple[str, int]]:
        """(output arg name, index inside the arg) of flat output ``flat``."""
        base = 0
        for arg in self.outputs:
            count = arg_count(arg, attrs)
            if count is None:
                return None
            if flat < base + count:
                return arg.name, flat - base
            base += count
        return None


def arg_count(arg: ArgSpec, attrs: dict[str, Any]) -> Optional[int]:
    if arg.number_attr:
        value = attrs.get(arg.number_attr)
        return int(value) if isinstance(value, int) else None
    if arg.type_list_attr:
        value = attrs.get(arg.type_list_attr)
        return len(value) if isinstance(value, (list, tuple)) else None
    return 1


def _arg(proto: Any) -> ArgSpec:
    fixed = DType.from_tf(proto.type) if proto.type else None
    return ArgSpec(proto.name, fixed, proto.type_attr, proto.number_attr, proto.type_list_attr)


def _spec(proto: Any) -> OpSpec:
    attrs = {}
    for a in proto.attr:
        has = a.HasField("default_value")
        default = attr_to_value(a.default_value, f"default of {proto.name}.{a.name}") if has else None
        attrs[a.name] = AttrSpec(a.name, a.type, has, default)
    inputs = tuple(_arg(a) for a in proto.input_arg)
    outputs = tuple(_arg(a) for a in proto.output_arg)
    return OpSpec(proto.name, inputs, outputs, attrs, bool(proto.is_stateful), proto)


@lru_cache(maxsize=1)
def _table() -> dict[str, OpSpec]:
    rows = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    table = {}
    for row in rows:
        proto = json_format.ParseDict(row, op_def_pb2.OpDef())
        table[proto.name] = _spec(proto)
    return table


def op_spec(op: str) -> Optional[OpSpec]:
    return _table().get(op)


def known_ops() -> frozenset[str]:
    return frozenset(_table())
