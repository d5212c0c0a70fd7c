"""Lookup tables: the initializer graph TF.js runs once before the model (``modelInitializer``).

The initializer holds the table nodes and the ops that fill them.  TF.js cannot read files, so
``InitializeTableFromTextFileV2`` is executed here: the asset is read in Python and the table is
filled by ``LookupTableImportV2`` with constant keys and values.  TF.js returns lookups of keys of
any rank as a flat vector, so lookups of keys that are not known to be rank 1 are flattened and
reshaped back.

Two ways link a table to the main graph, as the official converter writes them:

* TF1 (and the first step for TF2): by the name of the ``HashTableV2`` node.  TF.js keeps one table
  per node name, so both graphs keep the table node under its SavedModel name and the one that runs
  second finds the table the first created.
* TF2 (``capture_tables``): the main graph has no table node but a ``DT_RESOURCE`` Placeholder, and
  the initializer outputs the table handle; model.json links the two by ``resourceId`` and TF.js
  feeds the initializer's output into that input.

TF.js 4.22 runs no table op inside an ``If``/``While`` function body in either form: only the
top-level graph executor gets the model's resource manager (``graph_model.ts`` sets it on the
executor and the initializer, never on the function executors ``graph_executor.ts`` creates), so a
body lookup dies with "Cannot read properties of undefined (reading 'getHashTableById')".  Name
sharing is no way out either (the same missing manager).  So a body lookup whose inputs do not change
inside the body (``If`` arguments, loop-invariant ``While`` variables, body constants) is hoisted
out: it runs before the ``If``/``While``, whose body gets the result as a new argument.  Any other
body lookup is rejected at conversion time instead of producing a model.json that cannot run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ...errors import InputError, UnsupportedError
from ...ir.attrs import RESOURCE_KEY_ATTR, attr_text
from ...ir.graph import Graph, Node, Value, const_of
from ...ir.types import DType, FuncAttr, Shape

TABLE_OPS = frozenset({"HashTableV2", "HashTable", "MutableHashTableV2", "MutableHashTable"})
FILL_OPS = frozenset({"LookupTableImportV2", "LookupTableImport", "InitializeTableV2", "InitializeTable"})
TEXT_FILE_OPS = frozenset({"InitializeTableFromTextFileV2", "InitializeTableFromTextFile"})
LOOKUP_OPS = frozenset({"LookupTableFindV2", "LookupTableFind", "LookupTableSizeV2", "LookupTableSize"})
# Every op TF.js runs through its resource manager (the ``hash_table`` executor category).
RESOURCE_TABLE_OPS = TABLE_OPS | FILL_OPS | LOOKUP_OPS
IF_OPS = frozenset({"If", "StatelessIf"})
WHILE_OPS = frozenset({"While", "StatelessWhile"})

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
            raw = const_of(value).reshape(-1)  # type: ignore[union-attr]  (a Const)
            if raw.size == 1:
                text = attr_text(raw[0])
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
        attr_text(delimiter),
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


def link_tables(main: Graph, source: Optional[Path] = None) -> None:
    """Main-graph reads of a table handle go straight to the table node (TF.js shares it by name),
    invariant lookups leave control-flow bodies, and lookups get keys TF.js handles.  A table op
    left inside a body is an error: TF.js 4.22 cannot run it there (see the module docstring)."""
    for node in list(main.nodes):
        if node.op in ("Identity", "Snapshot") and node.attrs.get("T") == DType.RESOURCE \
                and node.inputs and node.inputs[0].producer.op in TABLE_OPS:
            main.replace_uses(node.output(0), node.inputs[0])
    while _hoist_one(main):  # one lookup per round: each hoist changes the graphs it walks
        pass
    in_bodies = sorted(f"{node.op} {node.name} (in {name})" for name, body in main.library()
                       for node in body.nodes if node.op in RESOURCE_TABLE_OPS)
    if in_bodies:
        raise UnsupportedError("lookup table used inside an If/While body, which TF.js 4.22 cannot run "
                               f"(its function executors get no table resources): {', '.join(in_bodies)}",
                               source)
    for body in main.all_graphs():
        for node in list(body.nodes):
            if node.op in ("LookupTableFindV2", "LookupTableFind"):
                if len(node.inputs) != 3:
                    raise InputError(f"{node.op} node {node.name} has {len(node.inputs)} inputs; a table "
                                     "lookup takes 3 (table, keys, default value)", source)
                _flatten_lookup_keys(body, node)


def _references(main: Graph) -> dict[str, int]:
    """How many func attrs name each function (over the main graph and every body)."""
    counts: dict[str, int] = {}
    for graph in main.all_graphs():
        for node in graph.nodes:
            for value in node.attrs.values():
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, FuncAttr):
                        counts[item.name] = counts.get(item.name, 0) + 1
    return counts


def _hoist_one(main: Graph) -> bool:
    """Moves one invariant body lookup out of its ``If``/``While``; False when none is left."""
    shared = {name for name, count in _references(main).items() if count > 1}
    for graph in main.all_graphs():
        for node in graph.nodes:
            if node.op in IF_OPS:
                branches = [node.attrs.get("then_branch"), node.attrs.get("else_branch")]
                names = [b.name for b in branches if isinstance(b, FuncAttr)]
                if len(names) != 2 or set(names) & shared or not all(n in main.functions for n in names):
                    continue
                for name in names:
                    body = main.functions[name]
                    # Every If argument is fixed for the whole branch.
                    lookup = _invariant_lookup(body, set(range(len(body.inputs))))
                    if lookup is not None:
                        _hoist_from_if(graph, node, [main.functions[n] for n in names], body, lookup)
                        graph.toposort()
                        return True
            elif node.op in WHILE_OPS:
                refs = [node.attrs.get("cond"), node.attrs.get("body")]
                names = [r.name for r in refs if isinstance(r, FuncAttr)]
                if len(names) != 2 or set(names) & shared or not all(n in main.functions for n in names):
                    continue
                cond, body = (main.functions[n] for n in names)
                # A loop variable is invariant when the body hands its argument straight back.
                invariant = {i for i, arg in enumerate(body.inputs)
                             if i < len(body.outputs) and body.outputs[i][1] is arg.output(0)}
                for part in (cond, body):
                    lookup = _invariant_lookup(part, invariant)
                    if lookup is not None:
                        _hoist_from_while(graph, node, cond, body, part, lookup)
                        graph.toposort()
                        return True
    return False


def _invariant_lookup(body: Graph, invariant: set[int]) -> Optional[Node]:
    """A lookup in ``body`` reading only invariant arguments and body constants."""
    args = {id(arg): i for i, arg in enumerate(body.inputs)}
    for node in body.nodes:
        if node.op not in LOOKUP_OPS or node.control_inputs:
            continue
        sources = [_through_identity(v).producer for v in node.inputs]
        if all(p.op == "Const" or args.get(id(p), -1) in invariant for p in sources):
            return node
    return None


def _through_identity(value: Value) -> Value:
    while value.producer.op in ("Identity", "Snapshot") and value.producer.inputs:
        value = value.producer.inputs[0]
    return value


def _lift(outer: Graph, caller: Node, body: Graph, lookup: Node, offset: int) -> Value:
    """A copy of ``lookup`` in ``outer`` reading what ``caller`` passes to the body's arguments
    (argument i is the caller's input ``i + offset``) and copies of the body's constants."""
    args = {id(arg): i for i, arg in enumerate(body.inputs)}
    inputs: list[Value] = []
    for value in map(_through_identity, lookup.inputs):
        if id(value.producer) in args:
            inputs.append(caller.inputs[args[id(value.producer)] + offset])
        else:
            const = value.producer
            copy = outer.add_node("Const", attrs=dict(const.attrs), name=outer.unique_name(const.name))
            copy.output(0).dtype, copy.output(0).shape = value.dtype, value.shape
            inputs.append(copy.output(0))
    hoisted = outer.add_node(lookup.op, inputs, dict(lookup.attrs), name=outer.unique_name(lookup.name))
    result = lookup.output(0)
    # A find returns the table's value type (Tout); a size is an int64 scalar.
    fallback = DType.INT64 if lookup.op.startswith("LookupTableSize") else lookup.attrs.get("Tout")
    hoisted.output(0).dtype = result.dtype or fallback
    hoisted.output(0).shape = result.shape
    return hoisted.output(0)


def _new_arg(body: Graph, like: Value, name: str) -> Node:
    arg_name = body.unique_name(re.sub(r"[^a-z0-9_]", "_", name.lower()) + "_hoisted")
    arg = body.add_node("Placeholder", attrs={"dtype": like.dtype, "shape": like.shape}, name=arg_name)
    arg.output(0).dtype, arg.output(0).shape = like.dtype, like.shape
    body.inputs.append(arg)
    return arg


def _replace_lookup(body: Graph, lookup: Node, arg: Node) -> None:
    body.replace_uses(lookup.output(0), arg.output(0))
    body.remove_node(lookup)
    body.prune()


def _hoist_from_if(outer: Graph, node: Node, branches: list[Graph], body: Graph, lookup: Node) -> None:
    value = _lift(outer, node, body, lookup, 1)  # input 0 is the condition
    outer.set_inputs(node, [*node.inputs, value])
    node.attrs["Tin"] = [*node.attrs.get("Tin", []), value.dtype]
    for branch in branches:  # both branches take the same arguments
        arg = _new_arg(branch, value, lookup.name)
        if branch is body:
            _replace_lookup(branch, lookup, arg)


def _hoist_from_while(outer: Graph, node: Node, cond: Graph, body: Graph, part: Graph, lookup: Node) -> None:
    value = _lift(outer, node, part, lookup, 0)
    position = len(node.inputs)
    outer.set_inputs(node, [*node.inputs, value])
    node.attrs["T"] = [*node.attrs.get("T", []), value.dtype]
    if "output_shapes" in node.attrs:
        node.attrs["output_shapes"] = [*node.attrs["output_shapes"], value.shape or Shape.unknown()]
    if "_num_original_outputs" in node.attrs:
        node.attrs["_num_original_outputs"] = position + 1
    node.output(position).dtype = value.dtype
    for graph in (cond, body):
        arg = _new_arg(graph, value, lookup.name)
        if graph is body:  # a new loop variable the body hands back unchanged
            body.outputs.append((arg.name, arg.output(0)))
        if graph is part:
            _replace_lookup(graph, lookup, arg)


def capture_tables(main: Graph, init: Graph) -> None:
    """TF2 form: each table the main graph uses becomes a ``DT_RESOURCE`` input it is fed.

    The initializer outputs the handle of its table under a key; the main graph's table node is
    replaced by a Placeholder carrying that key (``RESOURCE_KEY_ATTR``), which the writer turns into
    matching ``resourceId``s in ``signature.inputs`` and ``initializerSignature.outputs``.  The
    Placeholder is named apart from the table node on purpose: TF.js resolves any input whose node
    name equals a table's name to that table, which would hide a broken ``resourceId`` link.
    """
    init_tables = {n.name: n for n in table_nodes(init)}
    init.outputs = []
    for table in table_nodes(main):
        created = init_tables.get(table.name)
        if created is None:  # build_initializer already refuses this; keep the invariant explicit
            raise UnsupportedError(f"no initializer creates lookup table {table.name}")
        handle = main.add_node("Placeholder", name=main.unique_name(f"{table.name}/resource"),
                               attrs={"dtype": DType.RESOURCE, "shape": Shape.of(()),
                                      RESOURCE_KEY_ATTR: table.name})
        handle.output(0).dtype = DType.RESOURCE
        handle.output(0).shape = Shape.of(())
        main.replace_uses(table.output(0), handle.output(0))
        main.remove_node(table)
        # The signature key is the tensor name, as the official converter keys captured inputs.
        main.inputs.append(handle)
        main.input_keys.append(f"{handle.name}:0")
        init.outputs.append((table.name, created.output(0)))


def _flatten_lookup_keys(graph: Graph, node: Node) -> None:
    """TF.js 4.22 returns a rank-1 result whatever the rank of the keys (it reads the keys' flat data
    and stacks one value per key), so the result of keys of any other rank gets their shape back.
    The keys themselves need no flattening: TF.js never looks at their shape."""
    keys, default = node.inputs[1], node.inputs[2]
    if keys.shape is not None and keys.shape.rank == 1:
        return
    if default.shape is None or default.shape.rank != 0:
        return  # vector-valued tables: leave as TF wrote them
    key_type = node.attrs.get("Tin", keys.dtype or DType.STRING)
    value_type = node.attrs.get("Tout", default.dtype)
    consumers = list(node.output(0).uses)
    outputs = [key for key, value in graph.outputs if value is node.output(0)]
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
