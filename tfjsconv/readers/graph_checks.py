"""Checks a graph read from a file before any pass trusts it: TensorFlow refuses such a GraphDef at
import time, and the passes (fusions, folding, sorting) index node inputs without asking.

* every node of an op TF.js maps has at least the inputs the op takes (TF.js's own op table says
  which input positions each op reads); in a TensorFlow graph, every node of an op TensorFlow
  registers has at least the inputs its OpDef declares (``tf/op_inputs.json``, counted with the
  node's own ``number_attr`` and ``type_list_attr`` values), as TensorFlow's importer requires;
* no cycle other than a TF1 loop's NextIteration -> Merge back edge;
* every attr has the kind (and, for TensorFlow graphs, a value) its OpDef allows (``attr_checks``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from ..errors import InputError
from ..ir.graph import Graph, Node
from ..ir.types import DType
from ..ops.registry import op_info
from .attr_checks import check_attrs
from .tf.opdefs import input_args


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


def _opdef_inputs(node: Node) -> int:
    """Inputs the node's OpDef declares: one per plain arg, ``N`` per ``number_attr`` arg, one per
    type of a ``type_list_attr`` arg (an attr that is missing or malformed counts none: the attr
    checks judge it)."""
    args = input_args(node.op)
    if args is None:
        return 0
    count = 0
    for arg in args:
        if arg.number_attr:
            number = node.attrs.get(arg.number_attr)
            count += number if isinstance(number, int) and not isinstance(number, bool) and number > 0 else 0
        elif arg.type_list_attr:
            types = node.attrs.get(arg.type_list_attr)
            count += len(types) if isinstance(types, (list, tuple)) else 0
        else:
            count += 1
    return count


def _check_node_inputs(graph: Graph, source: Optional[Union[str, Path]] = None,
                       tensorflow: bool = True) -> None:
    """Raises InputError for a node with fewer inputs than its op takes: TF.js's op table for every
    graph, and, with ``tensorflow``, the OpDef's count."""
    for body in graph.all_graphs():
        for node in body.nodes:
            needed = _required_inputs(node.op)
            if tensorflow:
                needed = max(needed, _opdef_inputs(node))
            if len(node.inputs) < needed:
                where = "" if body is graph else f" in function {body.name}"
                raise InputError(f"node {node.name}{where} ({node.op}) has {len(node.inputs)} input(s); "
                                 f"{node.op} takes at least {needed}", source)


def check_graph(graph: Graph, source: Optional[Union[str, Path]] = None, allowed_values: bool = True) -> None:
    """Raises InputError when a body of ``graph`` (main or library) breaks the rules above;
    ``allowed_values=False`` (TF.js graphs) checks attr kinds but not TensorFlow's allowed values,
    and inputs against TF.js's op table only. TensorFlow readers call it as soon as the graph is
    built, before the rewrites that read inputs by position and attrs as typed (variable freezing,
    batch-norm expansion, table linking), and again on the finished graph."""
    _check_node_inputs(graph, source, tensorflow=allowed_values)
    for body in graph.all_graphs():
        for node in body.nodes:
            if node.op == "Placeholder" and not isinstance(node.attrs.get("dtype"), DType):
                raise InputError(f"Placeholder {node.name} has no dtype", source)
        try:
            body.toposort()
        except ValueError as exc:
            raise InputError(f"the graph is not a DAG: {exc}", source) from None
    check_attrs(graph, source, allowed_values)
