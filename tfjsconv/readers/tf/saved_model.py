"""SavedModel (TF2 or TF1) -> a frozen IR Graph for one signature, plus its table initializer.

The signature's tensors live in the MetaGraph's top-level ``graph_def``.  That graph is pruned to
what the signature outputs need, every function call in it is inlined (TF2 signatures are one
``StatefulPartitionedCall`` to a wrapper function), variables are frozen from the checkpoint, and
``If``/``While`` bodies stay library functions.  Output keys stay the signature's keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from google.protobuf.message import DecodeError

from ..._proto import meta_graph_pb2, node_def_pb2, saved_model_pb2
from ...errors import InputError
from ...ir.graph import Graph, Node, Value
from ...ir.types import FuncAttr
from ...limits import check_graph_nodes
from ..graph_checks import check_graph
from .attr_values import dtype_of, shape_from_proto, split_tensor_name
from .bundle import TensorBundle
from .freeze import expand_training_batch_norms, freeze_variables, tf1_variable_keys, tf2_variable_keys
from .functions import CALL_OPS, FunctionLibrary, keep_tensor_list_writes
from .mapped_proto import SAVED_MODEL, parse_mapped
from .opdefs import OpDefs
from .proto_convert import graph_from_node_defs
from .tables import build_initializer, link_tables, table_nodes

INIT_OP_SIGNATURE = "__saved_model_init_op"
_TF1_INIT_COLLECTIONS = ("table_initializer", "saved_model_main_op", "legacy_init_op")
_DROP_OPS = frozenset({"NoOp"})


@dataclass
class LoadedModel:
    graph: Graph
    initializer: Optional[Graph]
    producer: int
    signature: str
    is_tf2: bool
    warnings: list[str] = field(default_factory=list)
    tensorflow_version: str = ""  # MetaInfoDef.tensorflow_version: the TF that wrote the model


def read_saved_model(directory: Path) -> Any:
    pb = directory / "saved_model.pb"
    pbtxt = directory / "saved_model.pbtxt"
    model = saved_model_pb2.SavedModel()
    if pb.is_file():
        try:
            parse_mapped(pb, model, SAVED_MODEL)  # large Consts stay in the file
        except (DecodeError, RuntimeError, ValueError):  # RuntimeError: the upb runtime's recursion limit
            raise InputError("not a SavedModel protobuf (cannot parse)", pb) from None
        return _with_meta_graphs(model, pb)
    if pbtxt.is_file():
        from google.protobuf import text_format  # only for text files: a few ms of start-up

        try:
            text_format.Parse(pbtxt.read_text(encoding="utf-8"), model)
        except (text_format.ParseError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"cannot parse SavedModel text: {exc}", pbtxt) from None
        return _with_meta_graphs(model, pbtxt)
    raise InputError("no saved_model.pb or saved_model.pbtxt in this directory", directory)


def _with_meta_graphs(model: Any, source: Path) -> Any:
    # An empty or truncated file parses as a SavedModel with nothing in it: say so, naming the file.
    if not model.meta_graphs:
        raise InputError("holds no MetaGraph (empty, truncated or not a SavedModel)", source)
    return model


def select_meta_graph(model: Any, tags: set[str], source: Path) -> Any:
    for meta in model.meta_graphs:
        if set(meta.meta_info_def.tags) == tags:
            return meta
    available = "; ".join("{" + ", ".join(sorted(m.meta_info_def.tags)) + "}" for m in model.meta_graphs)
    wanted = ",".join(sorted(tags)) or "(empty)"
    raise InputError(f"no MetaGraph with tags {wanted!r}; available tag sets: {available or 'none'}", source)


def user_signatures(meta: Any) -> list[str]:
    return sorted(k for k in meta.signature_def if not k.startswith("__"))


def select_signature(meta: Any, name: str, source: Path) -> Any:
    if name in meta.signature_def and not name.startswith("__"):
        return meta.signature_def[name]
    available = ", ".join(user_signatures(meta)) or "none"
    raise InputError(f"signature {name!r} does not exist; available signatures: {available}", source)


def needed_node_defs(node_defs: Sequence[Any], roots: Iterable[str]) -> list[Any]:
    """The NodeDefs the named nodes depend on (data and control), in graph order."""
    by_name = {nd.name: nd for nd in node_defs}
    live: set[str] = set()
    stack = [r for r in roots if r in by_name]
    while stack:
        name = stack.pop()
        if name in live:
            continue
        live.add(name)
        for text in by_name[name].input:
            dep = split_tensor_name(text.lstrip("^"))[0]
            if dep in by_name and dep not in live:
                stack.append(dep)
    return [nd for nd in node_defs if nd.name in live]


def open_checkpoint(directory: Path) -> Optional[TensorBundle]:
    index = directory / "variables" / "variables.index"
    if not index.is_file():
        if index.exists():
            raise InputError("is not a file (the checkpoint index must be one)", index)
        return None
    return TensorBundle.open(directory / "variables" / "variables")


class _Loader:
    def __init__(self, directory: Path, meta: Any) -> None:
        self.directory = directory
        self.meta = meta
        self.is_tf2 = len(meta.object_graph_def.nodes) > 0
        library = meta.graph_def.library.function
        self.opdefs = OpDefs(meta.meta_info_def.stripped_op_list.op, library)
        self.library = FunctionLibrary(library, self.opdefs)
        self.node_defs = list(meta.graph_def.node)
        self.assets = self._asset_paths()

    # ----- pieces -----------------------------------------------------------------------------------
    def _asset_paths(self) -> dict[str, Path]:
        """Tensor name (``node:0``) -> file, from ``asset_file_def`` and the TF1 assets collection."""
        out: dict[str, Path] = {}
        defs = list(self.meta.asset_file_def)
        collection = self.meta.collection_def.get("saved_model_assets")
        if collection is not None:
            for item in collection.any_list.value:
                asset = meta_graph_pb2.AssetFileDef()
                if item.Unpack(asset):
                    defs.append(asset)
        for asset in defs:
            name = asset.tensor_info.name
            node, index = split_tensor_name(name)
            out[f"{node}:{index}"] = self.directory / "assets" / asset.filename
        return out

    def asset_of(self, value: Value) -> Optional[Path]:
        return self.assets.get(f"{value.producer.name}:{value.index}")

    def call_function(self, nd: Any) -> Optional[str]:
        if nd.op in CALL_OPS and "f" in nd.attr:
            return nd.attr["f"].func.name
        return nd.op if nd.op in self.library.functions else None

    def build(self, roots: Iterable[str], name: str) -> Graph:
        needed = needed_node_defs(self.node_defs, roots)
        aliases: dict[str, str] = {}
        flat = self.library.inline_graph(needed, aliases=aliases)
        graph = graph_from_node_defs(flat, self.opdefs, name=name, source=self.directory)
        graph.attrs["_aliases"] = aliases
        return graph

    def add_functions(self, graph: Graph) -> None:
        add_library_functions(graph, self.library, self.opdefs, self.directory)

    def bindings(self, bundle: Optional[TensorBundle]) -> dict[str, tuple[str, str]]:
        found = tf1_variable_keys(self.node_defs)
        if self.is_tf2:
            found.update(tf2_variable_keys(self.node_defs, self.meta.object_graph_def, bundle,
                                           self.call_function))
        return found

    def init_roots(self) -> list[str]:
        roots: list[str] = []
        init_sig = self.meta.signature_def.get(INIT_OP_SIGNATURE)
        if init_sig is not None:
            roots.extend(split_tensor_name(t.name)[0] for t in init_sig.outputs.values())
        for key in _TF1_INIT_COLLECTIONS:
            collection = self.meta.collection_def.get(key)
            if collection is not None:
                roots.extend(split_tensor_name(v.lstrip("^"))[0] for v in collection.node_list.value)
        return roots


def add_library_functions(graph: Graph, library: FunctionLibrary, opdefs: OpDefs, source: Path) -> None:
    """Converts every function an If/While (or other func attr) refers to into a library Graph."""
    pending = _referenced_functions(graph)
    while pending:
        name = pending.pop()
        if name in graph.functions:
            continue
        defs, args, rets = library.function_node_defs(name, node_def_pb2.NodeDef)
        body = graph_from_node_defs(defs, opdefs, name=name, source=source)
        body.inputs = [body.node(a) for a in args]
        fdef = library.functions[name]
        values = [body.node(split_tensor_name(r)[0]).output(split_tensor_name(r)[1]) for r in rets]
        body.outputs = [(a.name, v) for a, v in zip(fdef.signature.output_arg, values)]
        for arg, value in zip(fdef.signature.output_arg, values):
            if arg.type and value.dtype is None:
                value.dtype = dtype_of(arg.type, arg.name)
        graph.functions[name] = body
        pending.extend(_referenced_functions(body))


def _referenced_functions(graph: Graph) -> list[str]:
    names: list[str] = []
    for node in graph.nodes:
        for value in node.attrs.values():
            items = value if isinstance(value, list) else [value]
            names.extend(v.name for v in items if isinstance(v, FuncAttr))
    return names


def _resolve(graph: Graph, tensor: str) -> str:
    """A signature tensor name after inlining (a call node's output is now a body tensor)."""
    node, index = split_tensor_name(tensor)
    return graph.attrs.get("_aliases", {}).get(f"{node}:{index}", f"{node}:{index}")


def _set_inputs(graph: Graph, signature: Any, source: Path) -> None:
    for key in sorted(signature.inputs):
        info = signature.inputs[key]
        if info.WhichOneof("encoding") != "name":
            raise InputError(f"signature input {key!r} is a sparse or composite tensor; only dense tensors "
                             "are supported", source)
        node_name, index = split_tensor_name(_resolve(graph, info.name))
        node = graph.get(node_name)
        if node is None:
            raise InputError(f"signature input {key!r} names {info.name}, which the graph lacks", source)
        if node.op not in ("Placeholder", "PlaceholderWithDefault") or index != 0:
            node = _feed_point(graph, node.output(index), info, key)
        node.attrs["dtype"] = dtype_of(info.dtype, str(info.name))
        node.attrs["shape"] = shape_from_proto(info.tensor_shape)
        node.output(0).dtype = node.attrs["dtype"]
        node.output(0).shape = node.attrs["shape"]
        graph.inputs.append(node)
        graph.input_keys.append(key)


def _feed_point(graph: Graph, value: Value, info: Any, key: str) -> Node:
    """A Placeholder that replaces an inner tensor a TF1 signature feeds directly."""
    placeholder = graph.add_node("Placeholder", attrs={"dtype": dtype_of(info.dtype, str(info.name))},
                                 name=graph.unique_name(key))
    graph.replace_uses(value, placeholder.output(0))
    return placeholder


def _set_outputs(graph: Graph, signature: Any, source: Path) -> None:
    for key in sorted(signature.outputs):
        info = signature.outputs[key]
        if info.WhichOneof("encoding") != "name":
            raise InputError(f"signature output {key!r} is a sparse or composite tensor", source)
        node_name, index = split_tensor_name(_resolve(graph, info.name))
        node = graph.get(node_name)
        if node is None:
            raise InputError(f"signature output {key!r} names {info.name}, which the graph lacks", source)
        value = node.output(index)
        value.dtype = dtype_of(info.dtype, str(info.name))
        if info.HasField("tensor_shape"):
            value.shape = shape_from_proto(info.tensor_shape)
        graph.outputs.append((key, value))


def finish_graph(graph: Graph) -> None:
    """Drops what inference never runs: NoOps, control edges to them, dead nodes, unused functions."""
    for body in graph.all_graphs():
        for node in body.nodes:
            node.control_inputs = [c for c in node.control_inputs if c.op not in _DROP_OPS]
        body.prune()
        for node in body.nodes:
            node.attrs.pop("_output_shapes", None)
    graph.attrs.pop("_aliases", None)
    live: set[str] = set()
    pending = _referenced_functions(graph)
    while pending:
        name = pending.pop()
        if name in live or name not in graph.functions:
            continue
        live.add(name)
        pending.extend(_referenced_functions(graph.functions[name]))
    for name in list(graph.functions):
        if name not in live:
            del graph.functions[name]


def load_saved_model(directory: Path, tags: set[str], signature_name: str) -> LoadedModel:
    directory = Path(directory)
    model = read_saved_model(directory)
    meta = select_meta_graph(model, tags, directory)
    check_graph_nodes(len(meta.graph_def.node), "the MetaGraph's GraphDef", directory)
    signature = select_signature(meta, signature_name, directory)
    loader = _Loader(directory, meta)
    # Inputs are roots too: a signature input nothing reads must still exist to be fed.
    roots = [split_tensor_name(t.name)[0] for t in (*signature.outputs.values(), *signature.inputs.values())]
    graph = loader.build(roots, "main")
    graph.attrs["producer"] = int(meta.graph_def.versions.producer)
    _set_inputs(graph, signature, directory)
    _set_outputs(graph, signature, directory)
    loader.add_functions(graph)
    check_graph(graph, directory)  # before the rewrites below, which read inputs and attrs unasked
    bundle = open_checkpoint(directory)
    freeze_variables(graph, loader.bindings(bundle), bundle, directory)
    if bundle is not None:
        bundle.verify_ahead()  # the weights' checksums, on another core while the graph is optimized
    warnings: list[str] = []
    expanded = expand_training_batch_norms(graph)
    if expanded:
        warnings.append(f"{expanded} training-mode FusedBatchNorm node(s) (as tf-keras LayerNormalization "
                        "builds them) written as explicit mean/variance ops: TF.js ignores is_training")
    link_tables(graph)
    keep_tensor_list_writes(graph)
    initializer = None
    if table_nodes(graph):  # only tables need the init ops (other initializers restore variables)
        init = loader.build(loader.init_roots(), "initializer")
        init.attrs["producer"] = graph.attrs["producer"]
        initializer = build_initializer(init, graph, loader.asset_of, directory)
    finish_graph(graph)
    check_graph(graph, directory)
    if initializer is not None:
        check_graph(initializer, directory)
    return LoadedModel(graph, initializer, graph.attrs["producer"], signature_name, loader.is_tf2, warnings,
                       meta.meta_info_def.tensorflow_version)
