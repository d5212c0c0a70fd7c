"""Lookup tables: the initializer graph TF.js runs once before the model (``modelInitializer``).

TF.js shares a table between the initializer and the main graph by the name of its ``HashTableV2``
node (the first one to run creates it, the other finds it by name), so both graphs keep the table
node under the name it has in the SavedModel's top-level graph.  The initializer holds the table
nodes and the ops that fill them.  TF.js cannot read files, so ``InitializeTableFromTextFileV2``
is executed here: the asset is read in Python and the table is filled by ``LookupTableImportV2``
with constant keys and values.  TF.js returns lookups of keys of any rank as a flat vector, so
lookups of keys that are not known to be rank 1 are flattened and reshaped back.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ..errors import InputError, UnsupportedError
from ..ir.graph import Graph, Node, Value, as_array
from ..ir.types import DType

TABLE_OPS = frozenset({"HashTableV2", "HashTable", "MutableHashTableV2", "MutableHashTable"})
FILL_OPS = frozenset({"LookupTableImportV2", "LookupTableImport", "InitializeTableV2", "InitializeTable"})
TEXT_FILE_OPS = frozenset({"InitializeTableFromTextFileV2", "InitializeTableFromTextFile"})

# An asset path as the graph sees it: a string tensor name -> file on disk.
AssetResolver = Callable[[Value], Optional[Path]]


def table_nodes(graph: Graph) -> list[Node]:
    return [n for n in graph.nodes if n.op in TABLE_OPS]


def _trace_table(value: Value) -> Node:
    node = value.producer
    while node.op in ("Identity", "Snapshot") and node.inputs:
        node = node.inputs[0].producer
    if node.op not in TABLE_OPS:
        raise UnsupportedError(f"table initializer {value.name} fills {node.op} {node.name}, "
                               "not a hash table")
    return node


def _trace_string(value: Value, assets: AssetResolver, graph: Graph, depth: int = 0) -> Path:
    """The file a string tensor names: a Const, an asset placeholder, or a variable assigned one."""
    path = assets(value)
    if path is not None:
        return path
    node = value.producer
    if depth < 32:
        if node.op == "Const":
            raw = as_array(node.attrs["value"]).reshape(-1)
            if raw.size == 1:
                text = raw[0].decode("utf-8") if isinstance(raw[0], bytes) else str(raw[0])
                return Path(text)
        if node.op in ("Identity", "ReadVariableOp", "Snapshot") and node.inputs:
            return _trace_string(node.inputs[0], assets, graph, depth + 1)
        if node.op == "VarHandleOp":
            for other in graph.nodes:
                if other.op == "AssignVariableOp" and other.inputs and other.inputs[0].producer is node:
                    return _trace_string(other.inputs[1], assets, graph, depth + 1)
    raise UnsupportedError(f"cannot tell which file table initializer input {value.name} names")


def _column(fields: list[str], line: str, number: int, index: int, where: str) -> str | int:
    if index == -2:
        return line
    if index == -1:
        return number
    if index >= len(fields):
        raise InputError(f"{where}: line {number + 1} has no column {index}")
    return fields[index]


def read_text_table(path: Path, key_index: int, value_index: int, delimiter: str, vocab_size: int,
                    offset: int, key_dtype: DType, value_dtype: DType) -> tuple[np.ndarray, np.ndarray]:
    """What ``InitializeTableFromTextFileV2`` would insert: (keys, values) as numpy arrays."""
    if not path.is_file():
        raise InputError("table vocabulary file (SavedModel asset) not found", path)
    try:
        lines = path.read_bytes().decode("utf-8").split("\n")
    except UnicodeDecodeError as exc:
        # TF would take the raw bytes as keys; TF.js strings are UTF-8 text, so such keys cannot match.
        raise InputError(f"table vocabulary file is not UTF-8 text (byte {exc.start})", path) from None
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    if vocab_size > 0:
        if len(lines) < vocab_size:
            raise InputError(f"vocab_size is {vocab_size} but the file has {len(lines)} lines", path)
        lines = lines[:vocab_size]
    keys: list[Any] = []
    values: list[Any] = []
    for number, line in enumerate(lines):
        fields = line.split(delimiter) if delimiter else line.split()
        keys.append(_column(fields, line, number + offset, key_index, str(path)))
        values.append(_column(fields, line, number + offset, value_index, str(path)))
    return _typed(keys, key_dtype, path), _typed(values, value_dtype, path)


def _typed(items: list[Any], dtype: DType, path: Path) -> np.ndarray:
    if dtype == DType.STRING:
        out = np.empty(len(items), dtype=object)
        out[:] = [str(v).encode("utf-8") for v in items]
        return out
    try:
        return np.array([int(v) if dtype in (DType.INT32, DType.INT64) else float(v) for v in items],
                        dtype=dtype.numpy)
    except ValueError as exc:
        raise InputError(f"table file value is not a number: {exc}", path) from None


def _text_file_to_import(graph: Graph, node: Node, assets: AssetResolver) -> Node:
    table = _trace_table(node.inputs[0])
    key_dtype = table.attrs.get("key_dtype", DType.STRING)
    value_dtype = table.attrs.get("value_dtype", DType.INT64)
    path = _trace_string(node.inputs[1], assets, graph)
    delimiter = node.attrs.get("delimiter", b"\t")
    keys, values = read_text_table(
        path, int(node.attrs.get("key_index", -2)), int(node.attrs.get("value_index", -1)),
        delimiter.decode("utf-8") if isinstance(delimiter, bytes) else str(delimiter),
        int(node.attrs.get("vocab_size", -1)), int(node.attrs.get("offset", 0)), key_dtype, value_dtype)
    key_const = graph.add_const(keys, name=node.name + "/keys", dtype=key_dtype)
    value_const = graph.add_const(values, name=node.name + "/values", dtype=value_dtype)
    inputs = [table.output(0), key_const.output(0), value_const.output(0)]
    return graph.add_node("LookupTableImportV2", inputs, {"Tin": key_dtype, "Tout": value_dtype},
                          name=node.name + "/import", num_outputs=0)


def build_initializer(init: Graph, main: Graph, assets: AssetResolver,
                      source: Optional[Path] = None) -> Optional[Graph]:
    """Reduces ``init`` (the model's init ops, inlined) to what fills the tables ``main`` uses.

    Returns None when ``main`` uses no table.  Tables are matched by node name; a table ``main``
    uses that nothing fills is an error (TF.js would look up in an empty table).
    """
    tables = {n.name for n in table_nodes(main)}
    if not tables:
        return None
    fills: list[Node] = []
    for node in list(init.nodes):
        if node.op in TEXT_FILE_OPS:
            fills.append(_text_file_to_import(init, node, assets))
        elif node.op in FILL_OPS:
            fills.append(node)
    filled = {_trace_table(n.inputs[0]).name for n in fills}
    missing = sorted(tables - filled)
    if missing:
        raise UnsupportedError(f"no initializer fills lookup table(s) {', '.join(missing)}", source)
    keep = [n for n in fills if _trace_table(n.inputs[0]).name in tables]
    init.outputs = []
    init.inputs = []
    init.input_keys = []
    init.prune(keep=keep)
    for node in init.nodes:
        node.control_inputs = []
    for node in list(init.nodes):  # the table handle goes straight into the fill ops
        if node.op in ("Identity", "Snapshot") and node.attrs.get("T") == DType.RESOURCE:
            init.replace_uses(node.output(0), node.inputs[0])
    init.prune(keep=keep)
    bad = [n.name for n in init.nodes if n.op not in TABLE_OPS | FILL_OPS | {"Const"}]
    if bad:
        raise UnsupportedError("table initializer computes its keys or values with ops "
                               f"({', '.join(bad)}); only constant keys and values are supported", source)
    return init


def link_tables(main: Graph) -> None:
    """Main-graph reads of a table handle go straight to the table node (TF.js shares it by name),
    and lookups get keys TF.js handles."""
    for node in list(main.nodes):
        if node.op in ("Identity", "Snapshot") and node.attrs.get("T") == DType.RESOURCE \
                and node.inputs and node.inputs[0].producer.op in TABLE_OPS:
            main.replace_uses(node.output(0), node.inputs[0])
    for body in main.all_graphs():
        for node in list(body.nodes):
            if node.op in ("LookupTableFindV2", "LookupTableFind"):
                _flatten_lookup_keys(body, node)


def _flatten_lookup_keys(graph: Graph, node: Node) -> None:
    """TF.js 4.22 returns a rank-1 result whatever the rank of the keys (it stacks one value per key).

    Keys of any other rank are flattened before the lookup and the result gets their shape back.
    """
    keys, default = node.inputs[1], node.inputs[2]
    if keys.shape is not None and keys.shape.rank == 1:
        return
    if default.shape is None or default.shape.rank != 0:
        return  # vector-valued tables: leave as TF wrote them
    key_type = node.attrs.get("Tin", keys.dtype or DType.STRING)
    value_type = node.attrs.get("Tout", default.dtype)
    consumers = list(node.output(0).uses)
    outputs = [key for key, value in graph.outputs if value is node.output(0)]
    minus_one = graph.add_const(np.array([-1], dtype=np.int32), name=f"{node.name}/flat_shape")
    flat = graph.add_node("Reshape", [keys, minus_one.output(0)], {"T": key_type, "Tshape": DType.INT32},
                          name=f"{node.name}/flat_keys")
    graph.set_input(node, 1, flat.output(0))
    shape = graph.add_node("Shape", [keys], {"T": key_type, "out_type": DType.INT32},
                           name=f"{node.name}/keys_shape")
    result = graph.add_node("Reshape", [node.output(0), shape.output(0)],
                            {"T": value_type, "Tshape": DType.INT32}, name=f"{node.name}/values")
    result.output(0).dtype = value_type
    result.output(0).shape = keys.shape
    for consumer, position in consumers:
        graph.set_input(consumer, position, result.output(0))
    if outputs:
        graph.outputs = [(key, result.output(0) if value is node.output(0) else value)
                         for key, value in graph.outputs]


def node_list(values: Sequence[str]) -> list[str]:
    return [v.lstrip("^").split(":")[0] for v in values]
