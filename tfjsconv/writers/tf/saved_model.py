"""IR Graph -> TF2 SavedModel: ``saved_model.pb`` + ``variables/`` (an object-based checkpoint).

The layout is the one ``tf.saved_model.save`` writes for a ``tf.Module`` with a serving signature,
so that every loader reads it:

* the serving function: the main graph as a FunctionDef whose arguments are the signature inputs
  (sorted by key, as TensorFlow flattens the keyword dict), then the variables (DT_RESOURCE, read by
  ``ReadVariableOp``) and lookup tables it captures; its results are the outputs sorted by key;
* the object graph (``tf.saved_model.load``): a root object with one variable per weight, one
  resource per table (with ``_create_resource`` / ``_initialize`` / ``_destroy_resource`` functions)
  and ``signatures`` mapping the signature name to the serving function, whose ``bound_inputs``
  are those variables and tables;
* the MetaGraph's own graph (TF1 loaders, TF Serving): ``VarHandleOp``/``HashTableV2`` nodes, a
  Placeholder per input, a ``StatefulPartitionedCall`` of the serving function, the
  ``__saved_model_init_op`` (fills the tables), and a ``saver_def`` whose restore op reads
  ``variables/variables`` with ``RestoreV2`` and assigns every variable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..._proto import saved_model_pb2, saver_pb2
from ...errors import OutputError
from ...ir.attrs import RESOURCE_KEY_ATTR
from ...ir.graph import Graph, Node, Value
from ...ir.types import DType, FuncAttr, Shape
from ...readers.tf.bundle import OBJECT_GRAPH_KEY
from .graphdef import Names, graph_def, value_dtype
from .object_graph import ObjectGraph
from .op_table import op_spec
from .protos import shape_proto
from .structs import dict_of, keyword_signature, tensor_spec
from .tables import Table
from .variables import Variable, checkpoint_object_graph, write_checkpoint

INIT_OP_SIGNATURE = "__saved_model_init_op"
PREDICT_METHOD = "tensorflow/serving/predict"
SAVED_MODEL_FILE = "saved_model.pb"


@dataclass
class Signature:
    """The serving function: ``body`` (inputs = args, outputs = results) and what it captures."""

    name: str
    body: Graph
    input_keys: list[str]  # one per user argument, in argument order (sorted)
    captures: list[tuple[Node, int]] = field(default_factory=list)  # (resource arg, object node id)


def _spec_of(value: Value, key: str) -> Any:
    return tensor_spec(key, value_dtype(value, f"output {key}"), value.shape)


def _shape_of(node: Node) -> Optional[Shape]:
    shape = node.attrs.get("shape")
    return shape if isinstance(shape, Shape) else None


class _FunctionNames:
    """``__inference_<stem>_<n>`` names, as TensorFlow gives its traced functions."""

    def __init__(self) -> None:
        self.counter = 0

    def __call__(self, stem: str) -> str:
        self.counter += 1
        return f"__inference_{stem}_{self.counter}"


def _function(build: Any) -> Graph:
    body = Graph(name="function")
    build(body)
    return body


def _one(body: Graph, after: list[Node]) -> None:
    """Returns the int32 scalar 1 once ``after`` ran (what TensorFlow's own table functions return)."""
    one = body.add_const(np.array(1, np.int32), name="Const")
    out = body.add_node("Identity", [one.output(0)], {"T": DType.INT32}, name="Identity",
                        control_inputs=after)
    out.output(0).dtype = DType.INT32
    body.outputs = [("identity", out.output(0))]


def table_functions(table: Table, shared_name: bytes) -> dict[str, Graph]:
    """The ``_create_resource``, ``_initialize`` and ``_destroy_resource`` functions of a table."""
    attrs = dict(table.attrs, shared_name=shared_name)

    def creator(body: Graph) -> None:
        node = body.add_node("HashTableV2", attrs=attrs, name="hash_table")
        node.output(0).dtype = DType.RESOURCE
        out = body.add_node("Identity", [node.output(0)], {"T": DType.RESOURCE}, name="Identity")
        out.output(0).dtype = DType.RESOURCE
        body.outputs = [("identity", out.output(0))]

    def initializer(body: Graph) -> None:
        handle = body.add_node("Placeholder", attrs={"dtype": DType.RESOURCE, "shape": Shape.of(())},
                               name="table")
        handle.output(0).dtype = DType.RESOURCE
        body.inputs = [handle]
        keys = body.add_const(table.keys, name="keys", dtype=table.key_dtype)
        values = body.add_const(table.values, name="values", dtype=table.value_dtype)
        done = body.add_node("LookupTableImportV2", [handle.output(0), keys.output(0), values.output(0)],
                             {"Tin": table.key_dtype, "Tout": table.value_dtype}, name="table_init",
                             num_outputs=0)
        _one(body, [done])

    return {"_create_resource": _function(creator), "_initialize": _function(initializer),
            "_destroy_resource": _function(lambda body: _one(body, []))}


def _call(top: Graph, name: str, fn: str, inputs: list[Value], out_types: list[DType]) -> Node:
    node = top.add_node("StatefulPartitionedCall", inputs,
                        {"f": FuncAttr(fn), "Tout": out_types,
                         "Tin": [value_dtype(v, f"call of {fn}") for v in inputs]},
                        name=top.unique_name(name), num_outputs=len(out_types))
    for value, dtype in zip(node.outputs, out_types):
        value.dtype = dtype
    return node


def _strings(top: Graph, values: list[str], name: str) -> Value:
    array = np.array([v.encode("utf-8") for v in values], dtype=object)
    return top.add_const(array, name=top.unique_name(name), dtype=DType.STRING).output(0)


def _saver(top: Graph, handles: list[tuple[Node, Variable]], object_graph: bytes) -> Any:
    """Save and restore ops on the MetaGraph's own graph (what a TF1 ``Saver`` / TF Serving runs)."""
    saver = saver_pb2.SaverDef()
    filename = top.add_node("Placeholder", attrs={"dtype": DType.STRING, "shape": Shape.of(())},
                            name=top.unique_name("saver_filename"))
    filename.output(0).dtype = DType.STRING
    keys = [v.checkpoint_key for _, v in handles]
    dtypes = [v.dtype for _, v in handles]
    restore_all = top.add_node("NoOp", name=top.unique_name("restore_all"), num_outputs=0)
    if handles:
        names = _strings(top, keys, "RestoreV2/tensor_names")
        slices = _strings(top, [""] * len(keys), "RestoreV2/shape_and_slices")
        restore = top.add_node("RestoreV2", [filename.output(0), names, slices], {"dtypes": dtypes},
                               name=top.unique_name("RestoreV2"), num_outputs=len(keys))
        for (handle, variable), value in zip(handles, restore.outputs):
            value.dtype = variable.dtype
            assign = top.add_node("AssignVariableOp", [handle.output(0), value], {"dtype": variable.dtype},
                                  name=top.unique_name(f"{handle.name}/restore"), num_outputs=0)
            restore_all.control_inputs.append(assign)
    reads = []
    for handle, variable in handles:
        read = top.add_node("ReadVariableOp", [handle.output(0)], {"dtype": variable.dtype},
                            name=top.unique_name(f"{handle.name}/save"))
        read.output(0).dtype = variable.dtype
        reads.append(read.output(0))
    graph_const = top.add_const(np.array(object_graph, dtype=object), name=top.unique_name("object_graph"),
                                dtype=DType.STRING)
    names = _strings(top, keys + [OBJECT_GRAPH_KEY], "SaveV2/tensor_names")
    slices = _strings(top, [""] * (len(keys) + 1), "SaveV2/shape_and_slices")
    save = top.add_node("SaveV2", [filename.output(0), names, slices, *reads, graph_const.output(0)],
                        {"dtypes": dtypes + [DType.STRING]}, name=top.unique_name("SaveV2"), num_outputs=0)
    saved = top.add_node("Identity", [filename.output(0)], {"T": DType.STRING},
                         name=top.unique_name("save_done"), control_inputs=[save])
    saved.output(0).dtype = DType.STRING
    saver.filename_tensor_name = f"{filename.name}:0"
    saver.save_tensor_name = f"{saved.name}:0"
    saver.restore_op_name = restore_all.name
    saver.version = saver_pb2.SaverDef.V2
    return saver


def _tensor_info(out: Any, name: str, dtype: DType, shape: Optional[Shape]) -> None:
    out.name = name
    out.dtype = int(dtype)
    shape_proto(shape, out.tensor_shape)


def serving_signature(graph: Graph, signature_name: str, lifted: list[tuple[Node, Variable]]) -> Signature:
    """Makes ``graph`` the serving function body: user inputs sorted by key, then the variable and
    table handles; outputs sorted by key."""
    keys = graph.input_keys or [n.name for n in graph.inputs]
    user = sorted(zip(keys, graph.inputs), key=lambda kv: kv[0])
    tables = [n for n in graph.nodes if n.op == "Placeholder" and n.attrs.get(RESOURCE_KEY_ATTR) is not None]
    graph.inputs = [node for _, node in user] + [handle for handle, _ in lifted] + tables
    graph.input_keys = [key for key, _ in user] + [h.name for h, _ in lifted] + [t.name for t in tables]
    graph.outputs = sorted(graph.outputs, key=lambda kv: kv[0])
    return Signature(signature_name, graph, [key for key, _ in user])


class _Builder:
    """Puts the serving function, its variables and tables into one MetaGraph and object graph."""

    def __init__(self, objects: Optional[ObjectGraph]) -> None:
        self.obj = objects or ObjectGraph()
        self.top = Graph(name="saved_model")
        self.names = Names()
        self.function_names = _FunctionNames()
        self.handles: list[tuple[Node, Variable]] = []
        self.variable_ids: dict[int, int] = {}  # id(variable) -> its object node
        self.table_ids: dict[str, int] = {}
        self.table_handles: dict[str, Value] = {}
        self.init_calls: list[Node] = []

    def add_variable(self, variable: Variable) -> None:
        if variable.node_id is not None:  # already in the object graph the caller built
            self.variable_ids[id(variable)] = variable.node_id
        else:
            parent = 0
            for part in variable.path[:-1]:
                parent = self.obj.child(parent, part)
            self.variable_ids[id(variable)] = self.obj.variable(parent, variable.path[-1], variable)
        name = self.names.claim("_".join(variable.path))
        handle = self.top.add_node("VarHandleOp", name=name, attrs={
            "dtype": variable.dtype, "shape": Shape.of(variable.shape), "shared_name": name.encode()})
        handle.output(0).dtype = DType.RESOURCE
        self.handles.append((handle, variable))

    def add_table(self, table: Table) -> None:
        shared = table.attrs.get("shared_name") or f"table_{table.name}".encode()
        shared = shared if isinstance(shared, bytes) else str(shared).encode()
        rid = self.obj.resource(0, self.names.claim("table_" + table.name.replace("/", "_")))
        self.table_ids[table.name] = rid
        specs = {"_create_resource": tensor_spec("unknown", DType.RESOURCE, Shape.of(())),
                 "_initialize": tensor_spec("unknown", DType.INT32, Shape.of(())),
                 "_destroy_resource": tensor_spec("unknown", DType.INT32, Shape.of(()))}
        initialize = ""
        for child, body in table_functions(table, shared).items():
            name = self.function_names(child.strip("_"))
            self.top.functions[name] = body
            self.obj.function(rid, child, name)
            bound = [rid] if child == "_initialize" else []
            self.obj.concrete(name, bound, keyword_signature({}), specs[child])
            initialize = name if child == "_initialize" else initialize
        node = self.top.add_node("HashTableV2", attrs=dict(table.attrs, shared_name=shared),
                                 name=self.names.claim(table.name))
        node.output(0).dtype = DType.RESOURCE
        self.table_handles[table.name] = node.output(0)
        self.init_calls.append(_call(self.top, "table_init", initialize, [node.output(0)], [DType.INT32]))

    def add_signature(self, signature: Signature,
                      lifted: list[tuple[Node, Variable]]) -> tuple[list[Node], Node, list[DType]]:
        """The signature's object, concrete function, Placeholders and call; returns the last three."""
        body = signature.body
        handles = {id(variable): handle for handle, variable in self.handles}
        name = self.function_names(f"signature_wrapper_{signature.name}")
        self.top.functions[name] = body
        placeholders = []
        for key, node in zip(signature.input_keys, body.inputs):
            placeholder = self.top.add_node("Placeholder", name=self.names.claim(f"{signature.name}_{key}"),
                                            attrs={"dtype": node.attrs["dtype"],
                                                   "shape": _shape_of(node) or Shape.unknown()})
            placeholder.output(0).dtype = node.attrs["dtype"]
            placeholders.append(placeholder)
        tables = [t.attrs[RESOURCE_KEY_ATTR] for t in body.inputs[len(placeholders) + len(lifted):]]
        captured = [handles[id(v)].output(0) for _, v in lifted] + [self.table_handles[t] for t in tables]
        bound = [self.variable_ids[id(v)] for _, v in lifted] + [self.table_ids[t] for t in tables]
        out_types = [value_dtype(v, f"output {k}") for k, v in body.outputs]
        call_inputs = [p.output(0) for p in placeholders] + captured
        call = _call(self.top, "StatefulPartitionedCall", name, call_inputs, out_types)
        signatures = self.obj.user_object(0, "signatures", "signature_map")
        self.obj.bare_function(signatures, signature.name, name, signature.input_keys)
        inputs = {key: tensor_spec(key, node.attrs["dtype"], _shape_of(node))
                  for key, node in zip(signature.input_keys, body.inputs)}
        outputs = {key: _spec_of(value, key) for key, value in body.outputs}
        self.obj.concrete(name, bound, keyword_signature(inputs), dict_of(outputs))
        return placeholders, call, out_types

    def meta_info(self, meta: Any, tags: Sequence[str]) -> None:
        meta.meta_info_def.tags.extend(tags)
        ops = sorted({n.op for g in self.top.all_graphs() for n in g.nodes})
        for op in ops:
            spec = op_spec(op)
            if spec is not None:
                meta.meta_info_def.stripped_op_list.op.add().CopyFrom(spec.proto)


def build_saved_model(graph: Optional[Graph], tables: list[Table], lifted: list[tuple[Node, Variable]],
                      signature_name: str, tags: Sequence[str] = ("serve",),
                      objects: Optional[ObjectGraph] = None, checkpoint_graph: Optional[Any] = None,
                      variables: Optional[list[Variable]] = None) -> tuple[Any, list[Variable]]:
    """The SavedModel proto whose ``signature_name`` runs ``graph`` (see ``serving_signature``) with
    the ``lifted`` variables and the tables; also returns the variables to checkpoint.

    ``objects`` is an object graph the caller already started (a Keras model's layers, whose
    variables then carry their ``node_id``), ``checkpoint_graph`` its checkpoint counterpart, and
    ``variables`` all the model's variables when the serving function uses only some of them.
    Without a ``graph`` the SavedModel has no signature (only the objects and their variables).
    """
    builder = _Builder(objects)
    all_variables = variables if variables is not None else [v for _, v in lifted]
    for variable in all_variables:
        builder.add_variable(variable)
    for table in tables:
        builder.add_table(table)
    top = builder.top
    signature = serving_signature(graph, signature_name, lifted) if graph is not None else None
    placeholders, call, out_types = builder.add_signature(signature, lifted) if signature else ([], None, [])
    init = top.add_node("NoOp", name=top.unique_name("saved_model_init"), control_inputs=builder.init_calls,
                        num_outputs=0)
    model = saved_model_pb2.SavedModel()
    model.saved_model_schema_version = 1
    meta = model.meta_graphs.add()
    object_graph = (checkpoint_graph or checkpoint_object_graph(all_variables)).SerializeToString()
    meta.saver_def.CopyFrom(_saver(top, builder.handles, object_graph))
    proto, encoder = graph_def(top)
    meta.graph_def.CopyFrom(proto)
    builder.meta_info(meta, tags)
    if signature is not None and call is not None:
        sig = meta.signature_def[signature_name]
        sig.method_name = PREDICT_METHOD
        for key, placeholder, node in zip(signature.input_keys, placeholders, signature.body.inputs):
            _tensor_info(sig.inputs[key], f"{encoder.node_names[id(placeholder)]}:0", node.attrs["dtype"],
                         _shape_of(node))
        call_name = encoder.node_names[id(call)]
        for index, (key, value) in enumerate(signature.body.outputs):
            _tensor_info(sig.outputs[key], f"{call_name}:{index}", out_types[index], value.shape)
    meta.signature_def[INIT_OP_SIGNATURE].outputs[INIT_OP_SIGNATURE].name = encoder.node_names[id(init)]
    meta.object_graph_def.CopyFrom(builder.obj.proto)
    return model, all_variables


def write_saved_model(model: Any, variables: list[Variable], out_dir: Path,
                      checkpoint_graph: Optional[Any] = None) -> None:
    """``saved_model.pb`` and ``variables/`` in ``out_dir`` (variables streamed one at a time)."""
    write_checkpoint(out_dir / "variables" / "variables", variables, checkpoint_graph)
    try:
        (out_dir / SAVED_MODEL_FILE).write_bytes(model.SerializeToString())
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot write the SavedModel: {exc}", out_dir / SAVED_MODEL_FILE) from None
