"""A stable, readable text form of a Graph (and its library) for debugging and golden tests.

One line per node in graph order: ``name = Op(input, input:1, ^control) {attr=value, ...}``;
Consts show dtype and shape instead of their values; inputs and outputs are listed first.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .graph import Graph, LazyArray, Node
from .types import DType, FuncAttr, Shape


def _attr(value: Any) -> str:
    if isinstance(value, bytes):
        return repr(value.decode("utf-8", "replace"))
    if isinstance(value, DType):
        return value.tf_name
    if isinstance(value, Shape):
        return str(value)
    if isinstance(value, FuncAttr):
        return f"@{value.name}"
    if isinstance(value, (np.ndarray, LazyArray)):
        return f"<{np.dtype(value.dtype).name}{list(value.shape)}>"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_attr(v) for v in value) + "]"
    return repr(value)


def _line(node: Node) -> str:
    args = [v.name for v in node.inputs] + ["^" + c.name for c in node.control_inputs]
    attrs = {k: v for k, v in node.attrs.items() if not (node.op == "Const" and k == "dtype")}
    shown = ", ".join(f"{k}={_attr(v)}" for k, v in sorted(attrs.items()))
    return f"{node.name} = {node.op}({', '.join(args)})" + (f" {{{shown}}}" if shown else "")


def dump(graph: Graph) -> str:
    lines = [f"graph {graph.name}"]
    keys = graph.input_keys or [n.name for n in graph.inputs]
    lines += [f"  input {key}: {node.name}" for key, node in zip(keys, graph.inputs)]
    lines += [f"  output {key}: {value.name}" for key, value in graph.outputs]
    lines += ["  " + _line(node) for node in graph.nodes]
    for name, body in graph.functions.items():
        body_lines = dump(body).splitlines()[1:]  # without its own "graph" header
        lines += ["", f"  function {name}"] + ["  " + line if line else "" for line in body_lines]
    return "\n".join(lines) + "\n"
