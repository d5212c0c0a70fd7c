"""Lookup tables of a graph model, made ready for TensorFlow.

A TF.js graph model keeps tables in a separate initializer graph, linked to the main graph either by
the table node's name (TF1 form: both graphs hold a ``HashTableV2`` of that name) or by a
``DT_RESOURCE`` input (TF2 form: a Placeholder carrying ``RESOURCE_KEY_ATTR``).  ``extract_tables``
turns both into one form: every main-graph use of a table reads a ``DT_RESOURCE`` Placeholder whose
``RESOURCE_KEY_ATTR`` names a ``Table`` (the table op's attrs plus the constant keys and values its
initializer imports).  The writers then create the table the TensorFlow way: a table node plus a
``LookupTableImportV2`` run once by an init op (frozen graph) or a tracked resource with
``_create_resource``/``_initialize`` functions (SavedModel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ...errors import InputError, UnsupportedError
from ...ir.attrs import RESOURCE_KEY_ATTR
from ...ir.graph import ArrayLike, Graph, Node, Value
from ...ir.types import DType, Shape

_TABLE_OPS = {"HashTableV2": "HashTableV2", "HashTable": "HashTableV2"}
_FILL_OPS = frozenset({"LookupTableImportV2", "LookupTableImport", "InitializeTableV2", "InitializeTable"})
_TABLE_ATTRS = ("container", "shared_name", "use_node_name_sharing", "key_dtype", "value_dtype")


@dataclass
class Table:
    name: str  # the key main-graph Placeholders carry in RESOURCE_KEY_ATTR
    attrs: dict[str, Any]  # HashTableV2 attrs
    keys: ArrayLike
    values: ArrayLike

    @property
    def key_dtype(self) -> DType:
        return self.attrs["key_dtype"]

    @property
    def value_dtype(self) -> DType:
        return self.attrs["value_dtype"]


def _table_node(value: Value) -> Optional[Node]:
    node = value.producer
    while node.op == "Identity" and node.inputs:
        node = node.inputs[0].producer
    return node if node.op in _TABLE_OPS else None


def _const(value: Value) -> Optional[ArrayLike]:
    node = value.producer
    while node.op == "Identity" and node.inputs:
        node = node.inputs[0].producer
    return node.attrs.get("value") if node.op == "Const" else None


def _tables_of(init: Graph) -> dict[str, Table]:
    """Every table the initializer creates and fills with constant keys and values, by node name."""
    tables: dict[str, Table] = {}
    for node in init.nodes:
        if node.op not in _FILL_OPS:
            continue
        table = _table_node(node.inputs[0])
        keys, values = _const(node.inputs[1]), _const(node.inputs[2])
        if table is None or keys is None or values is None:
            raise UnsupportedError(f"table initializer {node.name} does not import constant keys and values "
                                   "into a hash table")
        if table.name in tables:
            raise UnsupportedError(f"lookup table {table.name} is filled twice by the initializer")
        attrs = {k: table.attrs[k] for k in _TABLE_ATTRS if k in table.attrs}
        missing = [k for k in ("key_dtype", "value_dtype") if not isinstance(attrs.get(k), DType)]
        if missing:  # found by fuzzing: a table node without its dtypes (KeyError when written)
            raise InputError(f"lookup table {table.name} has no {' or '.join(missing)} attribute")
        tables[table.name] = Table(table.name, attrs, keys, values)
    allowed = _FILL_OPS | set(_TABLE_OPS) | {"Const", "Identity"}
    others = sorted(n.op for n in init.nodes if n.op not in allowed)
    if others:
        raise UnsupportedError(f"the model initializer runs ops other than hash-table imports: "
                               f"{', '.join(sorted(set(others)))}")
    return tables


def _resource_placeholder(graph: Graph, name: str) -> Node:
    node = graph.add_node("Placeholder", name=graph.unique_name(f"{name}/resource"),
                          attrs={"dtype": DType.RESOURCE, "shape": Shape.of(()), RESOURCE_KEY_ATTR: name})
    node.output(0).dtype = DType.RESOURCE
    node.output(0).shape = Shape.of(())
    return node


def extract_tables(graph: Graph, initializer: Optional[Graph]) -> list[Table]:
    """The tables ``graph`` reads, with their uses rewritten to resource Placeholders (see above).

    Resource Placeholders leave ``graph.inputs``: tables are not something the caller feeds.
    """
    tables = _tables_of(initializer) if initializer is not None else {}
    by_output = {key: _table_node(value) for key, value in (initializer.outputs if initializer else [])}
    used: dict[str, Table] = {}
    for node in list(graph.nodes):
        if node.op in _TABLE_OPS:  # TF1 form: shared with the initializer by name
            table = tables.get(node.name)
            if table is None:
                raise UnsupportedError(f"lookup table {node.name} is never filled by the model initializer")
            handle = _resource_placeholder(graph, node.name)
            graph.replace_uses(node.output(0), handle.output(0))
            graph.remove_node(node)
            used[node.name] = table
    for node in list(graph.inputs):
        key = node.attrs.get(RESOURCE_KEY_ATTR)
        if key is None:
            continue
        created = by_output.get(key) if key in by_output else None
        name = created.name if created is not None else key
        table = tables.get(name)
        if table is None:
            raise UnsupportedError(f"table input {node.name} refers to {key!r}, which the model initializer "
                                   "does not create and fill")
        node.attrs[RESOURCE_KEY_ATTR] = name
        used[name] = table
    keep = [(n, k) for n, k in zip(graph.inputs, graph.input_keys) if RESOURCE_KEY_ATTR not in n.attrs]
    graph.inputs = [n for n, _ in keep]
    graph.input_keys = [k for _, k in keep]
    for _, body in graph.library():
        bad = [n.name for n in body.nodes if n.op in _TABLE_OPS]
        if bad:
            raise UnsupportedError(f"lookup table created inside function {body.name}: {', '.join(bad)}")
    return [used[name] for name in sorted(used)]


def table_placeholders(graph: Graph) -> list[Node]:
    return [n for n in graph.nodes if n.op == "Placeholder" and n.attrs.get(RESOURCE_KEY_ATTR) is not None]
