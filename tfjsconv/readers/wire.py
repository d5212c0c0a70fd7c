"""Large protobuf files read without holding their tensor bytes: a small protobuf wire-format scan.

A frozen GraphDef or an ONNX model keeps its weights inside the message (``TensorProto.tensor_content``,
``raw_data``).  Parsing the file makes the protobuf runtime hold all of them, and decoding them into
numpy copies them again: a 1 GiB model then needs 2-3 GiB.  Instead the file is memory-mapped and
scanned along the few message paths that can hold a large tensor (a ``Schema``), and a *skeleton* of
the file is built in which every such bytes field of at least ``min_size`` bytes is replaced by
whatever the caller's ``replace`` returns (a marker naming the field's offset and length in the file).
Everything else is copied as it is, and any message on the path that holds no large field is copied
whole without being looked into.  The skeleton is small; the caller parses it with protobuf as usual
and reads each large tensor later, one at a time, from its offset (``mapped.map_array``).

Only the wire format is interpreted here: varints, fixed 32/64-bit and length-delimited fields.
Groups (deprecated, unused by these formats) or a field running past its message end make the scan
raise ``WireError`` - the file is damaged, and the caller reports it as such.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Mapping
from typing import Callable, Optional, Union

# Field number -> the sub-message's schema, or STRIP for a bytes field to replace when large.
STRIP = "strip"
Schema = Mapping[int, Union["Schema", str]]
# (field number, offset of the field's bytes, their length) -> the complete replacement field
# (tag included; b"" drops it), or None to keep the field as it is.
Replace = Callable[[int, int, int], Optional[bytes]]


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def read_varint(data: Union[bytes, mmap.mmap], pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise WireError(f"truncated or overlong varint at byte {pos}")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_bytes(field: int, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def field_varint(field: int, value: int) -> bytes:
    return varint(field << 3) + varint(value)


def skeleton(data: Union[bytes, mmap.mmap], schema: Schema, min_size: int, replace: Replace,
             start: int = 0, end: Optional[int] = None) -> bytes:
    """The message ``data[start:end]`` with its large ``STRIP`` fields replaced (see the module doc)."""
    end = len(data) if end is None else end
    rebuilt = _rewrite(data, start, end, schema, min_size, replace)
    return bytes(data[start:end]) if rebuilt is None else rebuilt


def _rewrite(data: Union[bytes, mmap.mmap], start: int, end: int, schema: Schema, min_size: int,
             replace: Replace) -> Optional[bytes]:
    """The rebuilt message, or None when nothing in it changed (the caller copies it whole)."""
    pieces: list[bytes] = []
    copied = pos = start
    while pos < end:
        field_start = pos
        key, pos = read_varint(data, pos, end)
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, pos = read_varint(data, pos, end)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        elif wire_type == 2:
            length, pos = read_varint(data, pos, end)
            value_start, pos = pos, pos + length
            if pos > end:
                raise WireError(f"field {field} at byte {field_start} runs past the end of its message")
            sub = schema.get(field)
            if sub is None or length < min_size:
                continue
            if sub == STRIP:
                new = replace(field, value_start, length)
            else:
                assert not isinstance(sub, str)
                inner = _rewrite(data, value_start, pos, sub, min_size, replace)
                new = None if inner is None else field_bytes(field, inner)
            if new is not None:
                pieces.append(bytes(data[copied:field_start]))
                pieces.append(new)
                copied = pos
        else:
            raise WireError(f"unsupported wire type {wire_type} at byte {field_start}")
        if pos > end:
            raise WireError(f"field {field} at byte {field_start} runs past the end of its message")
    if not pieces:
        return None
    pieces.append(bytes(data[copied:end]))
    return b"".join(pieces)


# ----- markers for a bytes field that stays in the file ----------------------------------------------

_MARKER = b"\x00tfjsconv:mapped\x00"
_MARKER_SIZE = len(_MARKER) + 24


def marker(source: int, offset: int, length: int) -> bytes:
    """What replaces a large bytes field's content: which file (``mapped.register_source``) holds its
    bytes, and where."""
    return _MARKER + struct.pack("<QQQ", source, offset, length)


def read_marker(content: bytes) -> Optional[tuple[int, int, int]]:
    """``(source, offset, length)`` when ``content`` is a marker, else None.

    Real content equal to a marker would have to be exactly 40 bytes long, while a marker stands only
    for a field of at least ``min_size`` bytes: callers also check that ``length`` is what they expect.
    """
    if len(content) != _MARKER_SIZE or not content.startswith(_MARKER):
        return None
    source, offset, length = struct.unpack_from("<QQQ", content, len(_MARKER))
    return int(source), int(offset), int(length)
