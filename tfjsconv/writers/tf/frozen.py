"""IR Graph -> frozen GraphDef (``.pb``): every weight a ``Const``, inputs and outputs named by key.

The signature does not survive in a GraphDef, so names carry it: each input Placeholder is named
after its signature key and each output is an ``Identity`` named after its key (unless the output
already is a node of that name), so ``--output_node_names=<keys>`` converts the file back.  Lookup
tables become ``HashTableV2`` nodes filled by ``LookupTableImportV2`` nodes that the NoOp
``init_all_tables`` runs (the name ``tf.compat.v1.tables_initializer()`` gives it): run it once
before the outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from ...errors import OutputError
from ...ir.attrs import RESOURCE_KEY_ATTR
from ...ir.graph import Graph, Node
from ...ir.types import DType
from .graphdef import graph_def
from .tables import Table, table_placeholders

INIT_TABLES_NODE = "init_all_tables"
FROZEN_FILE = "frozen_model.pb"
_PROTO_LIMIT = (1 << 31) - 1  # protobuf messages cannot exceed 2 GiB


def _free(graph: Graph, name: str, keep: Optional[Node] = None) -> None:
    """Makes ``name`` available by renaming whatever node holds it (other than ``keep``)."""
    holder = graph.get(name)
    if holder is not None and holder is not keep:
        graph.rename(holder, graph.unique_name(name + "_"))


def name_by_keys(graph: Graph) -> None:
    """Input Placeholders take their signature key as name; outputs get an Identity named by key."""
    for node, key in zip(graph.inputs, graph.input_keys):
        wanted = key.split(":")[0] if key else node.name
        if node.name != wanted:
            _free(graph, wanted, node)
            graph.rename(node, wanted)
    outputs = []
    for key, value in graph.outputs:
        if value.index == 0 and value.producer.name == key and value.producer not in graph.inputs:
            outputs.append((key, value))
            continue
        _free(graph, key)
        identity = graph.add_node("Identity", [value], {"T": value.dtype} if value.dtype else {}, name=key)
        identity.output(0).dtype = value.dtype
        identity.output(0).shape = value.shape
        outputs.append((key, identity.output(0)))
    graph.outputs = outputs


def add_tables(graph: Graph, tables: list[Table]) -> None:
    """Table nodes replace the resource Placeholders; their imports hang off ``init_all_tables``."""
    by_name = {t.name: t for t in tables}
    imports: list[Node] = []
    for placeholder in table_placeholders(graph):
        table = by_name[placeholder.attrs[RESOURCE_KEY_ATTR]]
        _free(graph, table.name)
        node = graph.add_node("HashTableV2", attrs=dict(table.attrs), name=table.name)
        node.output(0).dtype = DType.RESOURCE
        graph.replace_uses(placeholder.output(0), node.output(0))
        graph.remove_node(placeholder)
        keys = graph.add_const(table.keys, name=graph.unique_name(f"{table.name}/keys"),
                               dtype=table.key_dtype)
        values = graph.add_const(table.values, name=graph.unique_name(f"{table.name}/values"),
                                 dtype=table.value_dtype)
        imports.append(graph.add_node("LookupTableImportV2",
                                      [node.output(0), keys.output(0), values.output(0)],
                                      {"Tin": table.key_dtype, "Tout": table.value_dtype},
                                      name=graph.unique_name(f"{table.name}/table_init"), num_outputs=0))
    if imports:
        _free(graph, INIT_TABLES_NODE)
        graph.add_node("NoOp", name=INIT_TABLES_NODE, control_inputs=imports, num_outputs=0)


def frozen_graph_def(graph: Graph, tables: list[Table]) -> Any:
    name_by_keys(graph)
    add_tables(graph, tables)
    proto, _ = graph_def(graph)
    return proto


def write_frozen_graph(graph: Graph, tables: list[Table], path: Path) -> None:
    proto = frozen_graph_def(graph, tables)
    size = proto.ByteSize()
    if size > _PROTO_LIMIT:
        raise OutputError(f"the frozen graph would be {size} bytes, over protobuf's 2 GiB limit; write a "
                          "SavedModel instead (--output_format=tf_saved_model)", path)
    try:
        path.write_bytes(proto.SerializeToString())
    except OSError as exc:
        raise OutputError(f"cannot write the frozen graph: {exc.strerror or exc}", path) from None
