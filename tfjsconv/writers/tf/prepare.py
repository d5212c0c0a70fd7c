"""One entry for the TF writers: a graph model's IR made into a graph TensorFlow accepts."""

from __future__ import annotations

from typing import Optional

from ...ir.graph import Graph
from .frames import enter_loop_invariants
from .legalize import scalarize_operands, undilate_depthwise
from .tables import Table, extract_tables
from .tf_dialect import to_tensorflow_ops


def prepare_for_tensorflow(graph: Graph, initializer: Optional[Graph]) -> list[Table]:
    """Takes the tables out of the initializer, splits TF.js-only ops, makes axis-like operands
    scalars, dilated depthwise filters explicit and gives TF1 loops their missing ``Enter`` nodes;
    returns the tables."""
    tables = extract_tables(graph, initializer)
    to_tensorflow_ops(graph)
    scalarize_operands(graph)
    undilate_depthwise(graph)
    enter_loop_invariants(graph)
    return tables
