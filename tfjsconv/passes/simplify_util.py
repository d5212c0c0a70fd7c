"""Helpers shared by the simplification passes: dropping a node whose result equals one of its
inputs, and the shape facts that decide whether broadcasting a constant leaves a shape alone."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir.graph import Node, Value
from .base import Editor, is_output

# TF.js 4.22's cpu TensorScatterUpdate writes into its input's buffer: a node feeding it may be the
# private copy rewrite_tfjs_gaps made on purpose (``x * 1``), so it is never bypassed.
WRITES_INPUT = frozenset({"TensorScatterUpdate"})


def forward(ed: Editor, node: Node, value: Value) -> bool:
    """``node``'s only output equals ``value``: its readers read ``value`` and ``node`` goes.

    Control edges survive: readers also wait for what ``node`` waited for, and nodes that waited
    for ``node`` wait for ``value``'s producer.  A main-graph output keeps its node (its name is
    the output's tensor name)."""
    graph = ed.graph
    out = node.outputs[0]
    if any(v.uses or is_output(graph, v) for v in node.outputs[1:]):
        return False
    if ed.is_main and is_output(graph, out):
        return False
    readers = [n for n, _ in out.uses]
    if any(r.op in WRITES_INPUT for r in readers):
        return False
    graph.replace_uses(out, value)
    for reader in readers:
        for dep in node.control_inputs:
            ed.add_control(reader, dep)
    for other in ed.control_dependents(node):
        ed.drop_control(other, node)
        ed.add_control(other, value.producer)
        for dep in node.control_inputs:
            ed.add_control(other, dep)
    ed.remove(node)
    return True


def dims(value: Value) -> Optional[tuple[Optional[int], ...]]:
    shape = value.shape
    return None if shape is None or shape.dims is None else tuple(shape.dims)


def keeps_shape(value: Value, c: np.ndarray) -> bool:
    """True when broadcasting ``c`` against ``value`` cannot change ``value``'s shape."""
    if c.ndim == 0:
        return True
    known = dims(value)
    if known is None or len(known) < c.ndim:
        return False
    return all(cd == 1 or (vd is not None and vd == cd) for cd, vd in zip(c.shape[::-1], known[::-1]))
