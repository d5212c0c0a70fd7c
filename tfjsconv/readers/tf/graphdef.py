"""Frozen GraphDef (``.pb``, or protobuf text ``.pbtxt``) -> IR Graph with the named outputs.

A frozen graph has no signature: its inputs are its Placeholders (keyed by node name) and its
outputs the ``--output_node_names`` (``node`` or ``node:index``), keyed as the user wrote them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from google.protobuf.message import DecodeError

from ..._proto import graph_pb2
from ...errors import InputError, OptionsError
from ...ir.graph import Graph
from ...limits import check_graph_nodes
from ..graph_checks import check_graph
from .attr_values import split_tensor_name
from .freeze import expand_training_batch_norms
from .functions import FunctionLibrary, keep_tensor_list_writes
from .mapped_proto import GRAPH_DEF, parse_mapped
from .opdefs import OpDefs
from .proto_convert import graph_from_node_defs
from .saved_model import add_library_functions, finish_graph, needed_node_defs


def read_graph_def(path: Path) -> graph_pb2.GraphDef:
    if not path.is_file():
        raise InputError("frozen graph file not found", path)
    graph_def = graph_pb2.GraphDef()
    if path.suffix in (".pbtxt", ".txt"):
        from google.protobuf import text_format  # only for text files: a few ms of start-up

        errors = (text_format.ParseError, DecodeError, UnicodeDecodeError, RuntimeError, ValueError)
        try:
            text_format.Parse(path.read_bytes().decode("utf-8"), graph_def)
        except errors:
            raise InputError("not a GraphDef protobuf (cannot parse)", path) from None
    else:
        try:
            parse_mapped(path, graph_def, GRAPH_DEF)  # large Consts stay in the file
        except (DecodeError, RuntimeError, ValueError):
            raise InputError("not a GraphDef protobuf (cannot parse)", path) from None
    if not graph_def.node:
        raise InputError("the GraphDef has no nodes", path)
    check_graph_nodes(len(graph_def.node), "the GraphDef", path)
    return graph_def


def load_frozen_graph(path: Path, output_node_names: Sequence[str]) -> Graph:
    if not output_node_names:
        raise OptionsError("--output_node_names is required for --input_format tf_frozen_model")
    path = Path(path)
    graph_def = read_graph_def(path)
    opdefs = OpDefs((), graph_def.library.function)
    library = FunctionLibrary(graph_def.library.function, opdefs)
    present = {nd.name for nd in graph_def.node}
    roots = [split_tensor_name(n)[0] for n in output_node_names]
    missing = [n for n in roots if n not in present]
    if missing:
        raise InputError(f"output node(s) not in the graph: {', '.join(missing)}", path)
    needed = needed_node_defs(list(graph_def.node), roots)
    aliases: dict[str, str] = {}
    graph = graph_from_node_defs(library.inline_graph(needed, aliases=aliases), opdefs, name="main",
                                 source=path)
    graph.attrs["producer"] = int(graph_def.versions.producer)
    for node in graph.nodes:
        if node.op == "Placeholder":
            graph.inputs.append(node)
            graph.input_keys.append(node.name)
    for name in output_node_names:
        node_name, index = split_tensor_name(aliases.get(name, name))
        graph.outputs.append((name, graph.node(node_name).output(index)))
    add_library_functions(graph, library, opdefs, path)
    check_graph(graph, path)  # before the rewrites below, which read inputs and attrs unasked
    expand_training_batch_norms(graph)
    keep_tensor_list_writes(graph)
    finish_graph(graph)
    check_graph(graph, path)
    return graph
