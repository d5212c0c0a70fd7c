"""GraphDef / SavedModel files parsed with their large constants left in the file (``readers.wire``).

Every ``TensorProto.tensor_content`` of at least ``MIN_MAPPED`` bytes on the paths below - Const
values in the graph and in its function library - is replaced in the parsed message by a marker;
``attr_values.tensor_value`` turns a marker into a ``LazyArray`` that maps those bytes from the
file each time the tensor is used.  A 1 GiB frozen graph is then parsed from a skeleton of a few KiB.
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError

from ..mapped import register_source
from ..wire import STRIP, Schema, WireError, field_bytes, marker, skeleton

MIN_MAPPED = 64 * 1024  # bytes of tensor_content: smaller tensors are parsed as usual
_SMALL_FILE = 1 << 20  # files below this are parsed whole (the scan would only cost time)

_TENSOR: Schema = {4: STRIP}  # TensorProto.tensor_content
_ATTR_VALUE: Schema = {8: _TENSOR, 1: {8: _TENSOR}}  # AttrValue.tensor, AttrValue.list.tensor
_NODE_DEF: Schema = {5: {2: _ATTR_VALUE}}  # NodeDef.attr (map entry: key = 1, value = 2)
GRAPH_DEF: Schema = {1: _NODE_DEF, 2: {1: {3: _NODE_DEF}}}  # node; library.function[].node_def
SAVED_MODEL: Schema = {2: {2: GRAPH_DEF}}  # meta_graphs[].graph_def


def parse_mapped(path: Path, message: Any, schema: Schema) -> None:
    """Parses the binary protobuf ``path`` into ``message`` (``DecodeError`` when it is damaged)."""
    size = path.stat().st_size
    if size < _SMALL_FILE:
        message.ParseFromString(path.read_bytes())
        return
    source = register_source(path)

    def replace(field: int, offset: int, length: int) -> bytes:
        return field_bytes(field, marker(source, offset, length))

    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        try:
            small = skeleton(data, schema, MIN_MAPPED, replace)
        except WireError as exc:
            raise DecodeError(str(exc)) from None
    message.ParseFromString(small)
