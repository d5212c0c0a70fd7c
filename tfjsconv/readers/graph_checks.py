"""Checks a graph read from a file before any pass trusts it: TensorFlow refuses such a GraphDef at
import time, and the passes (fusions, folding, sorting) index node inputs without asking.

* every node of an op TF.js maps has at least the inputs the op takes (TF.js's own op table says
  which input positions each op reads);
* no cycle other than a TF1 loop's NextIteration -> Merge back edge;
* every attr has the kind (and, for TensorFlow graphs, a value) its OpDef allows (``attr_checks``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from ..errors import InputError
from ..ir.graph import Graph
from ..ir.types import DType
from ..ops.registry import op_info
from .attr_checks import check_attrs


def _required_inputs(op: str) -> int:
    info = op_info(op)
    if info is None:
        return 0
    needed = 0
    for arg in info.inputs:
        if arg.type == "tensors" or arg.end is not None:  # variadic: may be empty
            needed = max(needed, arg.start) if arg.start >= 0 else max(needed, -arg.start - 1)
        elif arg.start >= 0:
            needed = max(needed, arg.start + 1)
        else:
            needed = max(needed, -arg.start)  # counted from the end
    return needed


def check_graph(graph: Graph, source: Optional[Union[str, Path]] = None, allowed_values: bool = True) -> None:
    """Raises InputError when a body of ``graph`` (main or library) breaks the rules above;
    ``allowed_values=False`` checks attr kinds but not TensorFlow's allowed values (TF.js graphs)."""
    for body in graph.all_graphs():
        for node in body.nodes:
            if node.op == "Placeholder" and not isinstance(node.attrs.get("dtype"), DType):
                raise InputError(f"Placeholder {node.name} has no dtype", source)
            needed = _required_inputs(node.op)
            if len(node.inputs) < needed:
                where = "" if body is graph else f" in function {body.name}"
                raise InputError(f"node {node.name}{where} ({node.op}) has {len(node.inputs)} input(s); "
                                 f"{node.op} takes at least {needed}", source)
        try:
            body.toposort()
        except ValueError as exc:
            raise InputError(f"the graph is not a DAG: {exc}", source) from None
    check_attrs(graph, source, allowed_values)
