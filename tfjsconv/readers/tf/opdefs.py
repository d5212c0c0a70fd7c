"""Output-argument tables of TF ops: what ``node:out_arg:i`` means as a flat output index.

Sources, in order (FORMATS §3.4): the MetaGraph's ``stripped_op_list``, the signatures of library
functions (a node whose op is a function name), then built-in tables (``op_outputs.json``: the
output args of every op TensorFlow 2.21 registers; ``op_defaults.json``: attr defaults of the ops
TF.js runs).  The built-ins matter because frozen ``.pb`` files carry no op list and a SavedModel's
stripped op list leaves out ops used only inside While/If bodies (*observed*: TensorListGetItem in
a tf-keras LSTM).  Default attr values refill what TF2 exports strip.  Both JSON files are generated:
``/work/fxenv/bin/python fixtures/generate/tf_op_tables.py`` rewrites them from TensorFlow's op registry
(``--check`` only compares).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ...errors import InputError
from ...ir.types import DType
from .attr_values import attr_to_value


@dataclass(frozen=True)
class OutArg:
    name: str
    type: Optional[DType] = None  # a fixed type
    type_attr: str = ""
    number_attr: str = ""
    type_list_attr: str = ""


def _maybe_dtype(value: int) -> Optional[DType]:
    """Output types only inform value dtypes: one the IR lacks (float8...) is simply unknown."""
    try:
        return DType.from_tf(value)
    except ValueError:
        return None


def _arg(spec: str) -> OutArg:
    """Table notation: ``name``, then ``*number_attr`` or ``[type_list_attr]``, then ``=type`` (a
    DataType number) or ``@type_attr``."""
    fixed: Optional[DType] = None
    type_attr = number = type_list = ""
    if "=" in spec:
        spec, code = spec.split("=")
        fixed = _maybe_dtype(int(code))
    elif "@" in spec:
        spec, type_attr = spec.split("@")
    if "*" in spec:
        spec, number = spec.split("*")
    elif "[" in spec:
        spec, type_list = spec.split("[")
        type_list = type_list.rstrip("]")
    return OutArg(spec, fixed, type_attr, number, type_list)


# Output args of every op TensorFlow 2.21 registers (from its public OpDefs: name, count, type),
# for graphs whose op list is missing or incomplete: frozen .pb files carry none, and a SavedModel's
# stripped_op_list leaves out ops used only inside While/If bodies.  One line per op:
# "arg arg ..." in the notation of ``_arg``.
_TABLE_FILE = Path(__file__).with_name("op_outputs.json")
# Attr defaults of the ops TF.js supports, same source: {op: {attr: {kind: value}}}, kind one of
# s (latin-1 text of the bytes), i, f, b, type (DataType number), list_<kind>.
_DEFAULTS_FILE = Path(__file__).with_name("op_defaults.json")
# Ops that exist only in TF.js graph models (written by converters, not by TensorFlow).
_TFJS_ONLY = {"FusedDepthwiseConv2dNative": "output@T", "Prelu": "output@T"}


@functools.lru_cache(maxsize=1)
def _builtin_table() -> dict[str, str]:
    table: dict[str, str] = json.loads(_TABLE_FILE.read_text(encoding="utf-8"))
    table.update(_TFJS_ONLY)
    return table


def _default_value(encoded: dict[str, Any]) -> Any:
    kind, value = next(iter(encoded.items()))
    if kind.startswith("list_"):
        return [_default_value({kind[5:]: v}) for v in value]
    if kind == "s":
        return str(value).encode("latin-1")
    if kind == "type":
        return _maybe_dtype(int(value))
    return {"i": int, "f": float, "b": bool}[kind](value)


@functools.lru_cache(maxsize=1)
def _builtin_defaults() -> dict[str, dict[str, Any]]:
    raw: dict[str, dict[str, dict[str, Any]]] = json.loads(_DEFAULTS_FILE.read_text(encoding="utf-8"))
    return {op: {name: _default_value(v) for name, v in attrs.items()} for op, attrs in raw.items()}


def _builtin(op: str) -> Optional[list[OutArg]]:
    spec = _builtin_table().get(op)
    if spec is None:
        return None
    return [_arg(s) for s in spec.split()]


# Input args of the same ops, same notation (``op_inputs.json``): the inputs a node must have.
_INPUTS_FILE = Path(__file__).with_name("op_inputs.json")


@functools.lru_cache(maxsize=1)
def _builtin_inputs() -> dict[str, str]:
    table: dict[str, str] = json.loads(_INPUTS_FILE.read_text(encoding="utf-8"))
    return table


def input_args(op: str) -> Optional[list[OutArg]]:
    """The input args TensorFlow's OpDef of ``op`` declares; None for an op it does not register
    (function calls, TF.js-only ops)."""
    spec = _builtin_inputs().get(op)
    return None if spec is None else [_arg(s) for s in spec.split()]


_MAX_OUTPUTS = 1 << 16  # outputs one node may have (Split/Unpack counts); beyond is a hostile attr


class OpDefs:
    """Output args and attr defaults per op name; library function names resolve to their signature."""

    def __init__(self, op_list: Iterable[Any] = (), functions: Iterable[Any] = ()) -> None:
        self._outputs: dict[str, list[OutArg]] = {}
        self._defaults: dict[str, dict[str, Any]] = {}
        for op_def in op_list:
            self._add(op_def, defaults=True)
        for fdef in functions:
            self._add(fdef.signature, defaults=False)

    def _add(self, op_def: Any, *, defaults: bool) -> None:
        if op_def.name in _builtin_table():
            # A standard op's outputs never change between TF versions: a file that redefines them
            # (Identity with no output...) describes a graph TensorFlow itself would not load.
            if defaults:
                self._add_defaults(op_def)
            return
        args = []
        for a in op_def.output_arg:
            fixed = _maybe_dtype(int(a.type)) if a.type else None
            args.append(OutArg(a.name, fixed, a.type_attr, a.number_attr, a.type_list_attr))
        self._outputs[op_def.name] = args
        if defaults:
            self._add_defaults(op_def)

    def _add_defaults(self, op_def: Any) -> None:
        self._defaults[op_def.name] = {
            a.name: attr_to_value(a.default_value, f"default of {op_def.name}.{a.name}")
            for a in op_def.attr if a.HasField("default_value")}

    def known(self, op: str) -> bool:
        return op in self._outputs or op in _builtin_table()

    def output_args(self, op: str) -> Optional[list[OutArg]]:
        args = self._outputs.get(op)
        return args if args is not None else _builtin(op)

    def fill_defaults(self, op: str, attrs: dict[str, Any]) -> None:
        defaults = self._defaults.get(op)
        if defaults is None:
            defaults = _builtin_defaults().get(op, {})
        for key, value in defaults.items():
            if key not in attrs and value is not None:
                attrs[key] = value

    @staticmethod
    def _arg_count(arg: OutArg, attrs: dict[str, Any]) -> int:
        if arg.number_attr:
            number = attrs.get(arg.number_attr, 1)
            if not isinstance(number, int) or isinstance(number, bool) or number < 0:
                return 1
            if number > _MAX_OUTPUTS:
                raise InputError(f"attr {arg.number_attr} = {number} asks for more than {_MAX_OUTPUTS} "
                                 "outputs of one node")
            return number
        if arg.type_list_attr:
            types = attrs.get(arg.type_list_attr, [])
            return len(types) if isinstance(types, list) else 0
        return 1

    def flat_index(self, op: str, attrs: dict[str, Any], out_arg: str, index: int) -> Optional[int]:
        """The flat output index of ``out_arg:index``, or None when the op or arg is unknown."""
        args = self.output_args(op)
        if args is None:
            return None
        base = 0
        for arg in args:
            if arg.name == out_arg:
                return base + index
            base += self._arg_count(arg, attrs)
        return None

    def output_dtypes(self, op: str, attrs: dict[str, Any]) -> Optional[list[Optional[DType]]]:
        args = self.output_args(op)
        if args is None:
            return None
        out: list[Optional[DType]] = []
        for arg in args:
            if arg.type_list_attr:
                types = attrs.get(arg.type_list_attr, [])
                listed = types if isinstance(types, list) else []
                out.extend(t if isinstance(t, DType) else None for t in listed)
                continue
            dtype = arg.type
            if dtype is None and arg.type_attr:
                found = attrs.get(arg.type_attr)
                dtype = found if isinstance(found, DType) else None
            out.extend([dtype] * self._arg_count(arg, attrs))
        return out
