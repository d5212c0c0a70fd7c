"""Reads a TF.js graph model (``model.json`` with ``"format": "graph-model"`` plus its weight shards)
into the IR: the main graph, its library functions and the table initializer.

``modelTopology`` and ``modelInitializer`` are GraphDefs in proto3 JSON, so they are parsed into the
project's GraphDef proto and built by the same code as a frozen ``.pb`` (attr decoding, OpDef
defaults, function bodies in either tensor-name form).  Each ``Const`` gets its value from the weight
of the same name, read lazily from the shards and cast back to the Const's own dtype (the converter
stored int64 as int32 and float64 as float32); a quantized weight is dequantized exactly as TF.js
decodes it.

The signature gives the inputs (keys -> Placeholders) and outputs (keys -> tensors).  An input with a
``resourceId`` is a lookup table the initializer creates: its Placeholder carries the initializer
output key in ``RESOURCE_KEY_ATTR`` and ``initializer.outputs`` pairs that key with the table
handle - the form ``readers/tf/tables.capture_tables`` builds and the graph-model writer writes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
from google.protobuf import json_format

from ..._proto import graph_pb2
from ...errors import InputError
from ...ir.attrs import RESOURCE_KEY_ATTR
from ...ir.graph import Graph, LazyArray, Node, Value
from ...ir.types import DType
from ...limits import load_json
from ..graph_checks import check_graph
from ..tf.attr_values import split_tensor_name
from ..tf.functions import FunctionLibrary
from ..tf.opdefs import OpDefs
from ..tf.proto_convert import graph_from_node_defs
from ..tf.saved_model import add_library_functions
from .layers_model import ShardGroup, WeightSpec, decode_weight, model_json_path, parse_manifest, read_span

_READ = Callable[[WeightSpec], np.ndarray]


@dataclass
class TfjsGraphModel:
    model_json: Path
    document: dict[str, Any]
    graph: Graph
    initializer: Optional[Graph]
    quantized: list[str] = field(default_factory=list)  # weights stored quantized (now dequantized)

    @property
    def generated_by(self) -> Optional[str]:
        value = self.document.get("generatedBy")
        return value if isinstance(value, str) else None


def _load_document(where: Path) -> dict[str, Any]:
    try:
        raw = where.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read model.json: {exc.strerror or exc}", where) from None
    document = load_json(raw, "model.json", where)
    if not isinstance(document, dict):
        raise InputError("model.json is not a JSON object", where)
    if document.get("format") != "graph-model":
        raise InputError(f"model.json has format {document.get('format')!r}, not 'graph-model'", where)
    if not isinstance(document.get("modelTopology"), dict):
        raise InputError("model.json has no modelTopology object", where)
    return document


def _check_shard_sizes(groups: tuple[ShardGroup, ...], specs: tuple[WeightSpec, ...], where: Path) -> None:
    """The shards of each group hold exactly the bytes its weights need (short shards are reported
    while the manifest is parsed; here the other way round: bytes no weight accounts for)."""
    for index, group in enumerate(groups):
        needed = sum(spec.nbytes for spec in specs if spec.group == index)
        held = sum(group.sizes)
        if held != needed:
            raise InputError(f"weight shards of group {index} hold {held} bytes but the weightsManifest "
                             f"entries need {needed}: the manifest does not describe these shards",
                             group.paths[-1] if group.paths else where)


def _strip_const_values(nodes: list[Any]) -> None:
    """Const values without inline data are weights: parse them as scalars (no zero-filled copy of a
    large tensor) and keep the real shape for the weight lookup."""
    for node in nodes:
        if not isinstance(node, dict) or node.get("op") != "Const":
            continue
        tensor = ((node.get("attr") or {}).get("value") or {}).get("tensor")
        if not isinstance(tensor, dict):
            continue
        if any(k.endswith("Val") or k == "tensorContent" for k in tensor):
            continue  # inline value: keep it
        node["_shape"] = [int(d.get("size", 0)) for d in (tensor.get("tensorShape") or {}).get("dim", [])]
        tensor["tensorShape"] = {}


def _graph_def(topology: dict[str, Any], where: Path, what: str) -> tuple[Any, dict[str, list[int]]]:
    topology = copy.deepcopy(topology)
    shapes: dict[str, list[int]] = {}
    nodes = topology.get("node") or []
    functions = ((topology.get("library") or {}).get("function")) or []
    if not isinstance(nodes, list) or not isinstance(functions, list):
        raise InputError(f"{what} is not a GraphDef (node/library lists expected)", where)
    for body in [nodes] + [f.get("nodeDef") or [] for f in functions if isinstance(f, dict)]:
        _strip_const_values(body)
        for node in body:
            if isinstance(node, dict) and "_shape" in node:
                shapes[str(node.get("name"))] = node.pop("_shape")
    try:
        graph_def = json_format.ParseDict(topology, graph_pb2.GraphDef(), ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        message = str(exc).splitlines()[0]
        raise InputError(f"{what} is not a valid GraphDef: {message}", where) from None
    return graph_def, shapes


def _build(graph_def: Any, where: Path, name: str) -> Graph:
    opdefs = OpDefs((), graph_def.library.function)
    library = FunctionLibrary(graph_def.library.function, opdefs)
    graph = graph_from_node_defs(list(graph_def.node), opdefs, name=name, source=where)
    graph.attrs["producer"] = int(graph_def.versions.producer)
    add_library_functions(graph, library, opdefs, where)
    return graph


def _bind_weights(graph: Graph, shapes: dict[str, list[int]], specs: dict[str, WeightSpec], read: _READ,
                  used: set[str], where: Path) -> None:
    for body in graph.all_graphs():
        for node in body.nodes:
            if node.op != "Const" or node.name not in shapes:
                continue
            spec = specs.get(node.name)
            if spec is None:
                raise InputError(f"Const node {node.name!r} has no weight of that name in the "
                                 "weightsManifest",
                                 where)
            shape = tuple(shapes[node.name])
            if tuple(spec.shape) != shape:
                raise InputError(f"weight {node.name!r} has shape {list(spec.shape)} but its Const node says "
                                 f"{list(shape)}", where)
            dtype: DType = node.attrs["dtype"]
            try:
                target = np.dtype(object) if dtype == DType.STRING else dtype.numpy
            except ValueError:  # DT_INVALID, resources...: no values to bind (found by fuzzing)
                raise InputError(f"Const node {node.name!r} has dtype {dtype.tf_name}, which holds no weight "
                                 "values", where) from None
            node.attrs["value"] = LazyArray(target, shape, _loader(read, spec, target))
            node.output(0).shape = None
            used.add(node.name)


def _loader(read: _READ, spec: WeightSpec, target: np.dtype) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        data = read(spec)
        if data.dtype == target:
            return data
        try:
            return data.astype(target)
        except (ValueError, TypeError):  # e.g. string bytes under a numeric Const (found by fuzzing)
            raise InputError(f"weight {spec.name!r} holds {data.dtype} values that cannot be read as the "
                             f"{target} its Const node declares") from None
    return load


def _tensor(graph: Graph, name: str, where: Path, what: str) -> Value:
    node_name, index = split_tensor_name(name)
    node = graph.get(node_name)
    if node is None:
        raise InputError(f"signature {what} names tensor {name!r}, which the graph lacks", where)
    return node.output(index)


def _through_identity(value: Value) -> Node:
    node = value.producer
    while node.op == "Identity" and node.inputs:
        node = node.inputs[0].producer
    return node


def _set_signature(model: dict[str, Any], graph: Graph, init: Optional[Graph], where: Path) -> None:
    signature = model.get("signature") if isinstance(model.get("signature"), dict) else {}
    resources: dict[int, str] = {}
    if init is not None:
        outputs = ((model.get("initializerSignature") or {}).get("outputs")) or {}
        for info in outputs.values():
            if isinstance(info, dict) and "resourceId" in info:
                value = _tensor(init, str(info.get("name")), where, "initializer output")
                key = _through_identity(value).name
                resources[int(info["resourceId"])] = key
                init.outputs.append((key, value))
    inputs = signature.get("inputs") or {}
    outputs = signature.get("outputs") or {}
    if not inputs:
        inputs = {n.name: {"name": f"{n.name}:0"} for n in graph.nodes if n.op == "Placeholder"}
    for key in inputs:
        info = inputs[key]
        node = _tensor(graph, str(info.get("name")), where, "input").producer
        if node.op != "Placeholder":
            raise InputError(f"signature input {key!r} is not a Placeholder ({node.op})", where)
        if "resourceId" in info:
            resource = resources.get(int(info["resourceId"]))
            if resource is None:
                raise InputError(f"signature input {key!r} has resourceId {info['resourceId']}, which no "
                                 "initializerSignature output provides", where)
            node.attrs[RESOURCE_KEY_ATTR] = resource
        graph.inputs.append(node)
        graph.input_keys.append(key)
    if not outputs:
        read = {id(v.producer) for n in graph.nodes for v in n.inputs}
        outputs = {n.name: {"name": f"{n.name}:0"} for n in graph.nodes
                   if id(n) not in read and n.op not in ("Const", "Placeholder", "NoOp")}
    for key in outputs:
        graph.outputs.append((key, _tensor(graph, str(outputs[key].get("name")), where, "output")))


def _json_walk(fn: Callable[..., Any], *args: Any) -> Any:
    """Runs a walker over the untrusted model.json: a list or a number where an object belongs is the
    file's fault, said in one line naming model.json (the Path among ``args``)."""
    try:
        return fn(*args)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        where = next((a for a in args if isinstance(a, Path)), None)
        raise InputError("model.json does not have the structure of a graph model "
                         f"({type(exc).__name__}: {' '.join(str(exc).split())[:160]})", where) from None


def read_tfjs_graph_model(path: Path) -> TfjsGraphModel:
    """Parses model.json (a file or a directory holding one), checks the shards and builds the IR."""
    where = model_json_path(path)
    document = _load_document(where)
    groups, spec_list = parse_manifest(document.get("weightsManifest", []), where.parent, where)
    _check_shard_sizes(groups, spec_list, where)
    specs = {spec.name: spec for spec in spec_list}

    def read(spec: WeightSpec) -> np.ndarray:
        return decode_weight(spec, read_span(groups[spec.group], spec.offset, spec.nbytes))

    main_def, shapes = _json_walk(_graph_def, document["modelTopology"], where, "modelTopology")
    graph = _build(main_def, where, "main")
    used: set[str] = set()
    _bind_weights(graph, shapes, specs, read, used, where)
    init = None
    if isinstance(document.get("modelInitializer"), dict) and document["modelInitializer"].get("node"):
        init_def, init_shapes = _json_walk(_graph_def, document["modelInitializer"], where,
                                           "modelInitializer")
        init = _build(init_def, where, "initializer")
        _bind_weights(init, init_shapes, specs, read, used, where)
    _json_walk(_set_signature, document, graph, init, where)
    quantized = sorted(name for name in used if specs[name].quantization is not None)
    check_graph(graph, where, allowed_values=False)
    if init is not None:
        check_graph(init, where, allowed_values=False)
    return TfjsGraphModel(where, document, graph, init, quantized)
