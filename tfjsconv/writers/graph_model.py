"""IR Graph -> TF.js graph model: ``model.json`` plus ``group1-shard{i}of{n}.bin``.

API::

    write_graph_model(graph, out_dir, options, *, generated_by=None, initializer=None,
                      signature=None, warnings=None, producer=None) -> dict

writes ``out_dir/model.json`` and the weight shards and returns the model.json dict.  Before
writing anything it runs the TF.js op check over the main graph, every library function and the
initializer (``UnsupportedOpsError`` listing all of them; skipped with ``options.skip_op_check``).

What is read from the IR:

* ``graph.nodes`` in order; a Const's ``attrs["value"]`` becomes a weight named like the node, its
  ``attrs["dtype"]`` stays the TF dtype (DT_INT64, DT_DOUBLE...) while the weights writer converts
  the bytes (int64 -> int32...).  TF.js maps DT_INT64 to int32 and DT_DOUBLE to float32 itself, so
  Placeholders keep their truthful dtype too and users feed int32 / float32 tensors.
* ``graph.inputs`` / ``graph.input_keys`` -> ``signature.inputs`` (key -> ``"<placeholder>:0"``);
  a missing key falls back to the node name.
* ``graph.outputs`` (key, Value) -> ``signature.outputs`` in that order (sorted by key when
  ``options.use_structured_outputs_names``, which also writes
  ``userDefinedMetadata.structuredOutputKeys``).  TF.js resolves ``execute(inputs, outputNames)`` by
  signature key, but it keys its maps by node: when two outputs share a producer node, or an output
  is a graph input, an ``Identity`` node (named after the key) is added to model.json so that every
  key keeps its own tensor.
* ``graph.functions`` (name -> Graph, nested libraries included) -> ``library.function``.  A body's
  ``inputs`` are its argument Placeholders (arg name = node name), ``outputs`` its (output arg,
  Value) pairs.  Consts inside become weights renamed ``<function>/<const>``.  Tensor names inside
  bodies use the ``node:flat_index`` form, the one TF.js resolves correctly for every op (TF.js reads
  only the last number of ``node:arg:index``); two rets of one node get an ``Identity`` each
  because the JS function mapper keeps one output index per node.
* ``graph.attrs["producer"]`` -> ``versions.producer`` (or ``producer=``).
* ``initializer``: a Graph holding the resource-creating ops (HashTableV2 + LookupTableImportV2 and
  their Consts) -> ``modelInitializer``.  Its ``outputs`` are (resource key, table handle Value);
  each becomes an ``initializerSignature.outputs`` entry keyed by its tensor name with a
  ``resourceId``.  A main-graph Placeholder of dtype RESOURCE whose ``attrs["_resource_key"]`` equals
  such a key gets the same ``resourceId`` in ``signature.inputs``: TF.js then feeds the table
  handle in itself.  An initializer without outputs (TF1 tables shared by node name) is written
  without ``initializerSignature``.  Its Consts join the one weight group after the main graph's
  and function Consts, renamed when a name is already taken.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

from ..errors import OutputError
from ..ir.attrs import RESOURCE_KEY_ATTR
from ..ir.graph import Graph, Node, Value
from ..ir.types import DType, Shape
from ..ops.check import check_ops
from ..options import ConvertOptions
from ..version import CONVERTED_BY
from .graph_json import const_attrs, encode_attrs, encode_node, tensor_info, value_dtype
from .model_json import write_model_json
from .weights import Weight, write_weights


class _Names:
    """Node and weight names already taken in model.json; hands out fresh ones."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def claim(self, name: str, avoid: frozenset[str] = frozenset()) -> str:
        """``name`` (sanitized) or the first free ``name_i``; never one of ``avoid`` either."""
        base = re.sub(r"[^A-Za-z0-9_./-]", "_", name) or "node"
        candidate, i = base, 1
        while candidate in self.taken or candidate in avoid:
            candidate = f"{base}_{i}"
            i += 1
        self.taken.add(candidate)
        return candidate


def _identity(name: str, source: str, dtype: Optional[DType]) -> dict[str, Any]:
    node: dict[str, Any] = {"name": name, "op": "Identity", "input": [source]}
    if dtype is not None:
        node["attr"] = {"T": {"type": dtype.tf_name}}
    return node


class _BodyEncoder:
    """Encodes the nodes of one graph (main, function or initializer) and collects its Consts."""

    def __init__(self, graph: Graph, names: _Names, mode: str, const_prefix: str = "") -> None:
        # TF.js seeds every executor's tensor map with the one shared weight map, keyed by name, and
        # skips a node whose name is already there: Consts need globally unique names, and so do
        # function-body nodes (renamed freely, only the body refers to them).  Initializer nodes
        # other than Consts keep their names: TF1 tables are shared with the main graph by name.
        self.graph = graph
        self.args = {id(n) for n in graph.inputs} if mode == "function" else set()
        self.rename: dict[int, str] = {}
        self.weights: list[Weight] = []
        self.nodes: list[dict[str, Any]] = []
        self.names = names
        local = frozenset(n.name for n in graph.nodes)
        self.local = local
        for node in graph.nodes:
            if id(node) in self.args:
                continue
            if mode == "main":
                if node.name in names.taken:
                    raise OutputError(f"two nodes are named {node.name!r} in the graph model")
                names.taken.add(node.name)
            elif node.op == "Const" or mode == "function":
                wanted = const_prefix + node.name if node.op == "Const" else node.name
                fresh = names.claim(wanted, local - {node.name})
                if fresh != node.name:
                    self.rename[id(node)] = fresh

    def node_name(self, node: Node) -> str:
        return self.rename.get(id(node), node.name)

    def tensor(self, value: Value) -> str:
        name = self.node_name(value.producer)
        return name if value.index == 0 else f"{name}:{value.index}"

    def encode(self) -> list[dict[str, Any]]:
        for node in self.graph.nodes:
            if id(node) in self.args:
                continue
            name = self.node_name(node)
            inputs = [self.tensor(v) for v in node.inputs]
            inputs += ["^" + self.node_name(c) for c in node.control_inputs]
            if node.op == "Const":
                self.weights.append(Weight(name, node.attrs["value"]))
                attrs = const_attrs(node)
            else:
                attrs = encode_attrs(node.attrs)
            self.nodes.append(encode_node(node, name, inputs, attrs))
        return self.nodes

    def distinct_outputs(self, outputs: Iterable[tuple[str, Value]], *, by_node: bool) -> list[str]:
        """Tensor names for ``outputs``; adds an Identity where TF.js would confuse two of them.

        The main graph (``by_node``) needs one node per output key, and no graph input as an output;
        a function needs one output index per node.
        """
        claimed: dict[int, int] = {}
        inputs = {id(n) for n in self.graph.inputs}
        names: list[str] = []
        for key, value in outputs:
            producer = value.producer
            previous = claimed.get(id(producer))
            clash = previous is not None and (by_node or previous != value.index)
            if clash or (by_node and id(producer) in inputs):
                fresh = self.names.claim(key, self.local)
                self.nodes.append(_identity(fresh, self.tensor(value), value_dtype(value)))
                names.append(fresh)
                continue
            claimed[id(producer)] = value.index
            names.append(self.tensor(value))
        return names


def _function_def(name: str, body: Graph, names: _Names) -> tuple[dict[str, Any], list[Weight]]:
    encoder = _BodyEncoder(body, names, "function", f"{name}/")
    node_defs = encoder.encode()
    rets = encoder.distinct_outputs(body.outputs, by_node=False)
    input_args = [{"name": arg.name, "type": arg.attrs["dtype"].tf_name} for arg in body.inputs]
    output_args: list[dict[str, Any]] = []
    for key, value in body.outputs:
        arg: dict[str, Any] = {"name": key}
        dtype = value_dtype(value)
        if dtype is not None:
            arg["type"] = dtype.tf_name
        output_args.append(arg)
    signature: dict[str, Any] = {"name": name}
    if input_args:
        signature["inputArg"] = input_args
    if output_args:
        signature["outputArg"] = output_args
    fdef: dict[str, Any] = {"signature": signature}
    if node_defs:
        fdef["nodeDef"] = node_defs
    if rets:
        fdef["ret"] = {key: ret for (key, _), ret in zip(body.outputs, rets)}
    return fdef, encoder.weights


def _placeholder_info(node: Node) -> tuple[Optional[DType], Optional[Shape]]:
    dtype = node.attrs.get("dtype")
    shape = node.attrs.get("shape")
    out = node.outputs[0] if node.outputs else None
    if not isinstance(dtype, DType) and out is not None:
        dtype = out.dtype
    if not isinstance(shape, Shape) and out is not None:
        shape = out.shape
    return dtype, shape


def _build_signature(graph: Graph, output_names: list[str], outputs: list[tuple[str, Value]],
                     resource_ids: dict[str, int]) -> dict[str, Any]:
    signature: dict[str, Any] = {}
    inputs: dict[str, Any] = {}
    for i, node in enumerate(graph.inputs):
        key = graph.input_keys[i] if i < len(graph.input_keys) and graph.input_keys[i] else node.name
        dtype, shape = _placeholder_info(node)
        info = tensor_info(f"{node.name}:0", dtype, shape)
        resource_key = node.attrs.get(RESOURCE_KEY_ATTR)
        if resource_key is not None:
            if resource_key not in resource_ids:
                raise OutputError(f"input {key!r} is a resource {resource_key!r} that the initializer "
                                  "graph does not create")
            info["resourceId"] = resource_ids[resource_key]
        inputs[key] = info
    if inputs:
        signature["inputs"] = inputs
    if outputs:
        signature["outputs"] = {
            key: tensor_info(name if ":" in name else f"{name}:0", value_dtype(value), value.shape)
            for (key, value), name in zip(outputs, output_names)}
    return signature


def _sinks(graph: Graph) -> list[Node]:
    """Nodes nothing reads (by data or control) and that no output names: side effects."""
    read = {id(v.producer) for n in graph.nodes for v in n.inputs}
    read |= {id(c) for n in graph.nodes for c in n.control_inputs}
    read |= {id(v.producer) for _, v in graph.outputs}
    return [n for n in graph.nodes if id(n) not in read and n.op != "Const"]


def _initializer_parts(initializer: Graph, names: _Names
                       ) -> tuple[dict[str, Any], Optional[dict[str, Any]], dict[str, int], list[Weight]]:
    encoder = _BodyEncoder(initializer, names, "initializer")
    node_defs = encoder.encode()
    topology = {"node": node_defs, "versions": {"producer": int(initializer.attrs.get("producer", 0))}}
    if not initializer.outputs:
        return topology, None, {}, encoder.weights
    resource_ids: dict[str, int] = {}
    outputs: dict[str, Any] = {}
    names_out = encoder.distinct_outputs(initializer.outputs, by_node=True)
    sinks = _sinks(initializer)
    for resource_id, ((key, value), name) in enumerate(zip(initializer.outputs, names_out), start=1):
        if sinks:
            # TF.js runs only what the initializer outputs need; the table imports produce nothing
            # that is read, so the handle is returned through an Identity that depends on them.
            fresh = names.claim(f"{value.producer.name}/initialized", encoder.local)
            ready = _identity(fresh, name, value_dtype(value))
            ready["input"] += ["^" + encoder.node_name(s) for s in sinks]
            node_defs.append(ready)
            name = fresh
        tensor = name if ":" in name else f"{name}:0"
        info = tensor_info(tensor, value_dtype(value) or DType.RESOURCE, Shape.of(()))
        info["resourceId"] = resource_id
        outputs[tensor] = info
        resource_ids[key] = resource_id
    return topology, {"outputs": outputs}, resource_ids, encoder.weights


def build_graph_model(graph: Graph, options: ConvertOptions, *, generated_by: Optional[str] = None,
                      initializer: Optional[Graph] = None, signature: Optional[dict[str, Any]] = None,
                      producer: Optional[int] = None) -> tuple[dict[str, Any], list[Weight]]:
    """model.json (without ``weightsManifest``) and the weights in manifest order; writes nothing."""
    names = _Names()
    main = _BodyEncoder(graph, names, "main")
    nodes = main.encode()
    outputs = list(graph.outputs)
    if options.use_structured_outputs_names:
        outputs.sort(key=lambda item: item[0])
    output_names = main.distinct_outputs(outputs, by_node=True)

    functions: list[dict[str, Any]] = []
    function_weights: list[Weight] = []
    for name, body in graph.library():
        fdef, weights = _function_def(name, body, names)
        functions.append(fdef)
        function_weights.extend(weights)

    init_topology = init_signature = None
    resource_ids: dict[str, int] = {}
    init_weights: list[Weight] = []
    if initializer is not None:
        init_topology, init_signature, resource_ids, init_weights = _initializer_parts(initializer, names)

    if signature is None:
        signature = _build_signature(graph, output_names, outputs, resource_ids)
    version = producer if producer is not None else int(graph.attrs.get("producer", 0))
    model: dict[str, Any] = {
        "format": "graph-model",
        "generatedBy": generated_by,
        "convertedBy": CONVERTED_BY,
        "signature": signature,
        "modelTopology": {"node": nodes, "library": {"function": functions} if functions else {},
                          "versions": {"producer": version}},
    }
    metadata: dict[str, Any] = dict(options.metadata)
    if options.use_structured_outputs_names and outputs:
        metadata["structuredOutputKeys"] = [key for key, _ in outputs]
    if metadata:
        model["userDefinedMetadata"] = metadata
    if init_topology is not None:
        model["modelInitializer"] = init_topology
        if init_signature is not None:
            model["initializerSignature"] = init_signature
    return model, main.weights + function_weights + init_weights


def write_graph_model(graph: Graph, out_dir: Path, options: ConvertOptions, *,
                      generated_by: Optional[str] = None, initializer: Optional[Graph] = None,
                      signature: Optional[dict[str, Any]] = None, warnings: Optional[list[str]] = None,
                      producer: Optional[int] = None) -> dict[str, Any]:
    """Checks the ops, then writes model.json and the weight shards into ``out_dir``.

    ``signature`` replaces the signature built from ``graph`` (a ready proto3-JSON dict);
    ``warnings`` receives the weights writer's notes on lossy conversions (float64 overflow...).
    """
    check_ops(graph, skip=options.skip_op_check, initializer=initializer)
    model, weights = build_graph_model(graph, options, generated_by=generated_by, initializer=initializer,
                                       signature=signature, producer=producer)
    manifest = write_weights([weights], Path(out_dir), options.shard_size, options.quantization_map() or None,
                             warnings=warnings)
    model["weightsManifest"] = manifest
    write_model_json(Path(out_dir), model)
    return model
