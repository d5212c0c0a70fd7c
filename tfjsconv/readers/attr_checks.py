"""Every attr of a node read from a file checked against the attr types of TensorFlow's OpDef.

TensorFlow validates each NodeDef against its OpDef when it imports a graph: an attr of the wrong
kind (a string where ``strides`` is a list of ints) or a type outside the op's allowed list (a
``quint8`` Add) makes the import fail.  The passes and writers trust those rules (they read
``strides`` as ints, fold arithmetic with numpy), so a file breaking them is refused here, once, with
the node, the attr and what TensorFlow expects, instead of failing somewhere downstream.

The table ``ops/tf_op_attrs.json`` is generated from TensorFlow's op registry
(``fixtures/generate/tf_op_tables.py``).  Ops it does not know (function calls, TF.js-only fused ops,
ops newer than the table) and attrs it does not list are left alone: only what TensorFlow defines is
checked.  Allowed values are TensorFlow's rule for TensorFlow graphs; a TF.js graph model (whose
runtime ignores most type attrs) is checked for kinds only.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ..errors import InputError
from ..ir.attrs import attr_text
from ..ir.graph import Graph, LazyArray, Node
from ..ir.types import DType, FuncAttr, Shape
from .tf.attr_values import AttrPlaceholder

TABLE_PATH = Path(__file__).resolve().parents[1] / "ops" / "tf_op_attrs.json"


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, list[Any]]]:
    table: dict[str, dict[str, list[Any]]] = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    return table


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_float(value: Any) -> bool:
    return _is_int(value) or isinstance(value, (float, np.floating))


_KIND_CHECKS: dict[str, Callable[[Any], bool]] = {
    "int": _is_int,
    "float": _is_float,
    "bool": lambda v: isinstance(v, (bool, np.bool_)),
    "string": lambda v: isinstance(v, (bytes, str)),
    "type": lambda v: isinstance(v, DType),
    "shape": lambda v: isinstance(v, Shape),
    "tensor": lambda v: isinstance(v, (np.ndarray, LazyArray)),
    "func": lambda v: isinstance(v, FuncAttr),
}


def _describe(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "a list of " + (_describe(value[0]) if value else "nothing")
    if isinstance(value, DType):
        return value.tf_name
    if isinstance(value, (bytes, str)):
        return "a string"
    if isinstance(value, (bool, np.bool_)):
        return "a bool"
    if _is_int(value):
        return "an int"
    if _is_float(value):
        return "a float"
    if isinstance(value, Shape):
        return "a shape"
    if isinstance(value, FuncAttr):
        return "a function"
    return "a tensor" if isinstance(value, (np.ndarray, LazyArray)) else type(value).__name__


def _problem(value: Any, spec: list[Any], allowed_values: bool) -> Optional[str]:
    """What is wrong with ``value`` for an attr of OpDef type ``spec[0]``, or None."""
    if isinstance(value, AttrPlaceholder):
        return None  # a function body's attr, substituted (and checked) where it is called
    kind = spec[0]
    is_list = kind.startswith("list(")
    element = kind[5:-1] if is_list else kind
    check = _KIND_CHECKS.get(element)
    if check is None:
        return None
    items = value if is_list else [value]
    if is_list and not isinstance(value, (list, tuple)) or not all(check(v) for v in items):
        return f"is {_describe(value)}; TensorFlow's op takes {kind}"
    if allowed_values and len(spec) > 1:
        allowed = spec[1]
        for item in items:
            if element == "type" and int(item) not in allowed:
                names = ", ".join(DType(t).tf_name for t in allowed if t in DType._value2member_map_)
                return f"is {item.tf_name}, not one of the types the op allows ({names})"
            if element == "string" and attr_text(item) not in allowed:
                return f"is {attr_text(item)!r}, not one of {', '.join(allowed)}"
    return None


def check_node_attrs(node: Node, allowed_values: bool = True) -> Optional[str]:
    """The first broken attr rule of ``node`` as text, or None when it keeps them all."""
    specs = _table().get(node.op)
    if specs is None:
        return None
    for name, value in node.attrs.items():
        spec = specs.get(name)
        if spec is None or value is None:
            continue
        problem = _problem(value, spec, allowed_values)
        if problem is not None:
            return f"attr {name} {problem}"
    return None


def check_attrs(graph: Graph, source: Optional[Union[str, Path]] = None, allowed_values: bool = True) -> None:
    """Raises InputError naming the first node (in any body) whose attrs break its OpDef's rules."""
    for body in graph.all_graphs():
        for node in body.nodes:
            problem = check_node_attrs(node, allowed_values)
            if problem is not None:
                where = "" if body is graph else f" in function {body.name}"
                raise InputError(f"node {node.name}{where} ({node.op}): {problem}", source)
