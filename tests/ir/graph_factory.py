"""Small helpers to build IR graphs by hand in tests (imported as ``ir.graph_factory``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from tfjsconv.ir.graph import Graph, Value
from tfjsconv.ir.types import DType, Shape


def placeholder(g: Graph, name: str, dtype: DType = DType.FLOAT,
                shape: Optional[Sequence[Optional[int]]] = None, key: Optional[str] = None,
                function_arg: bool = False) -> Value:
    shp = Shape.of(tuple(shape)) if shape is not None else Shape.unknown()
    node = g.add_node("Placeholder", attrs={"dtype": dtype, "shape": shp}, name=name)
    node.outputs[0].dtype = dtype
    node.outputs[0].shape = shp
    g.inputs.append(node)
    if not function_arg:
        g.input_keys.append(key or name)
    return node.outputs[0]


def const(g: Graph, array: Any, name: str = "Const", dtype: Optional[DType] = None) -> Value:
    arr = np.asarray(array)
    return g.add_const(arr, name=name, dtype=dtype).outputs[0]


def op(g: Graph, op_type: str, inputs: Sequence[Value], attrs: Optional[dict[str, Any]] = None,
       name: Optional[str] = None, dtype: Optional[DType] = DType.FLOAT, num_outputs: int = 1) -> Value:
    node = g.add_node(op_type, inputs, attrs or {}, name=name, num_outputs=num_outputs)
    for out in node.outputs:
        out.dtype = dtype
    return node.outputs[0]


def output(g: Graph, key: str, value: Value) -> None:
    g.outputs.append((key, value))


def float_t() -> dict[str, Any]:
    return {"T": DType.FLOAT}
