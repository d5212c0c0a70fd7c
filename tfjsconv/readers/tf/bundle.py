"""Tensor-bundle checkpoints (``<prefix>.index`` + ``<prefix>.data-SSSSS-of-NNNNN``), FORMATS.md §2.

``TensorBundle.open(prefix)`` reads and checks the whole index (it is small); tensor bytes stay in
the memory-mapped data shards until a ``LazyArray`` returned by ``tensor()`` is materialized, and that
is also when the tensor's checksum is verified (``verify()`` checks everything up front).

Numeric tensors come back as read-only views of the mapping (no copy) unless the checkpoint is
big-endian.  DT_STRING tensors come back as numpy object arrays of ``bytes``.  DT_BFLOAT16 tensors are
widened to float32 (exact).  Partitioned variables are reassembled; their per-slice entries (binary keys
starting with 0x00) are hidden from ``keys()``.
"""

from __future__ import annotations

import os
import struct
import weakref
from pathlib import Path
from typing import BinaryIO, Optional, Union

import numpy as np
from google.protobuf.message import DecodeError

from ..._proto.tensor_bundle_pb2 import BundleEntryProto, BundleHeaderProto
from ..._proto.trackable_object_graph_pb2 import TrackableObjectGraph
from ...errors import InputError, UnsupportedError
from ...ir.graph import LazyArray
from ...ir.types import DType
from ...limits import check_tensor
from ..mapped import map_array
from . import verify_ahead as ahead
from .crc32c import crc32c, mask
from .sstable import read_table, read_varint

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"

# Storage dtype of each readable DataType (little-endian); quantized types are plain integers.
_STORAGE: dict[DType, str] = {
    DType.FLOAT: "<f4", DType.DOUBLE: "<f8", DType.INT32: "<i4", DType.UINT8: "u1", DType.INT16: "<i2",
    DType.INT8: "i1", DType.COMPLEX64: "<c8", DType.INT64: "<i8", DType.BOOL: "?", DType.QINT8: "i1",
    DType.QUINT8: "u1", DType.QINT32: "<i4", DType.BFLOAT16: "<u2", DType.QINT16: "<i2",
    DType.QUINT16: "<u2", DType.UINT16: "<u2", DType.COMPLEX128: "<c16", DType.HALF: "<f2",
    DType.UINT32: "<u4", DType.UINT64: "<u8",
}

Extents = tuple[tuple[int, int], ...]  # per dim (start, length); length -1 = the whole dimension
Shape = tuple[int, ...]
PathLike = Union[str, Path]


# ----- slice keys (FORMATS.md §2.6: TensorFlow's OrderedCode) -------------------------------------

def _decode_name(key: bytes, pos: int) -> tuple[bytes, int]:
    """Unescapes an OrderedCode string (00 FF -> 00, FF 00 -> FF) up to its 00 01 terminator."""
    out = bytearray()
    while pos < len(key):
        byte = key[pos]
        if byte not in (0x00, 0xFF):
            out.append(byte)
            pos += 1
            continue
        if pos + 1 >= len(key):
            break
        pair = (byte, key[pos + 1])
        if pair == (0x00, 0x01):
            return bytes(out), pos + 2
        if pair not in ((0x00, 0xFF), (0xFF, 0x00)):
            raise ValueError(f"bad escape {pair[0]:02x} {pair[1]:02x}")
        out.append(byte)
        pos += 2
    raise ValueError("unterminated name")


def _decode_num_increasing(key: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(key):
        raise ValueError("missing number")
    length = key[pos]
    if pos + 1 + length > len(key):
        raise ValueError("truncated number")
    return int.from_bytes(key[pos + 1:pos + 1 + length], "big"), pos + 1 + length


def _leading_ones(byte: int) -> int:
    count = 0
    while count < 8 and byte & (0x80 >> count):
        count += 1
    return count


def _decode_signed_num_increasing(key: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(key):
        raise ValueError("missing signed number")
    # Negative numbers are stored with every header bit inverted.
    flip = 0x00 if key[pos] & 0x80 else 0xFF
    first = key[pos] ^ flip
    if first == 0xFF:
        if pos + 1 >= len(key):
            raise ValueError("truncated signed number")
        length = 8 + _leading_ones(key[pos + 1] ^ flip)
    else:
        length = _leading_ones(first)
    if length == 0 or length > 10 or pos + length > len(key):
        raise ValueError("bad signed number")
    header = ((1 << length) - 1) << (8 * length - length)  # the top `length` bits of `length` bytes
    raw = int.from_bytes(key[pos:pos + length], "big") ^ header
    value = raw - (1 << (8 * length)) if raw >> (8 * length - 1) else raw
    return value, pos + length


def decode_slice_key(key: bytes) -> tuple[str, Extents]:
    """``00 escaped(name) 00 01 rank (start length)*rank`` -> (full tensor name, extents)."""
    if not key or key[0] != 0x00:
        raise ValueError("not a slice key")
    name, pos = _decode_name(key, 1)
    rank, pos = _decode_num_increasing(key, pos)
    extents = []
    for _ in range(rank):
        start, pos = _decode_signed_num_increasing(key, pos)
        length, pos = _decode_signed_num_increasing(key, pos)
        extents.append((start, length))
    if pos != len(key):
        raise ValueError("trailing bytes")
    return name.decode("utf-8", "surrogateescape"), tuple(extents)


# ----- the bundle ---------------------------------------------------------------------------------

def _shape_of(entry: BundleEntryProto) -> Shape:
    return tuple(int(d.size) for d in entry.shape.dim)


def _extents_of(slice_proto: object) -> Extents:
    return tuple((int(e.start), int(e.length) if e.HasField("length") else -1)
                 for e in slice_proto.extent)  # type: ignore[attr-defined]


class TensorBundle:
    """A V2 tensor-bundle checkpoint opened for reading."""

    def __init__(self, prefix: Path, index_path: Path, header: BundleHeaderProto,
                 entries: dict[str, bytes], slices: dict[str, dict[Extents, bytes]],
                 verify_checksums: bool) -> None:
        self.prefix = prefix
        self.index_path = index_path
        self.header = header
        self.verify_checksums = verify_checksums
        self._raw = entries
        self._slices = slices
        self._parsed: dict[str, BundleEntryProto] = {}
        self._shards: dict[int, tuple[BinaryIO, int]] = {}
        self._verified: set[str] = set()
        self._handed_out: dict[str, None] = {}  # keys given to tensor(), in order (verify_ahead's list)
        self._verifier: Optional[ahead.Verifier] = None

    # ----- opening --------------------------------------------------------------------------------
    @classmethod
    def open(cls, prefix: PathLike, verify_checksums: bool = True) -> TensorBundle:
        """Opens ``<prefix>.index`` (``prefix`` may also be the ``.index`` path itself)."""
        text = str(prefix)
        if text.endswith(".index"):
            text = text[: -len(".index")]
        prefix_path = Path(text)
        index_path = Path(text + ".index")
        if not index_path.is_file():
            if prefix_path.is_file():
                raise InputError("looks like a V1 checkpoint (a single file); only V2 checkpoints "
                                 "(.index + .data files) are supported", prefix_path)
            raise InputError("checkpoint index not found", index_path)
        table = read_table(index_path.read_bytes(), index_path)
        if not table or table[0][0] != b"":
            raise InputError("checkpoint index has no header entry", index_path)
        header = BundleHeaderProto()
        try:
            header.ParseFromString(table[0][1])
        except DecodeError:
            raise InputError("corrupt checkpoint header entry", index_path) from None
        if header.endianness not in (BundleHeaderProto.LITTLE, BundleHeaderProto.BIG):
            raise InputError(f"unknown byte order {header.endianness} in checkpoint header", index_path)
        if header.num_shards < 1:
            raise InputError(f"checkpoint header declares {header.num_shards} data shards", index_path)

        entries: dict[str, bytes] = {}
        slices: dict[str, dict[Extents, bytes]] = {}
        for key, value in table[1:]:
            if key[:1] == b"\x00":
                try:
                    name, extents = decode_slice_key(key)
                except ValueError as exc:
                    raise InputError(f"corrupt slice key {key!r}: {exc}", index_path) from None
                slices.setdefault(name, {})[extents] = value
            else:
                entries[key.decode("utf-8", "surrogateescape")] = value
        bundle = cls(prefix_path, index_path, header, entries, slices, verify_checksums)
        for shard in range(header.num_shards):
            path = bundle.shard_path(shard)
            if not path.is_file():
                raise InputError(f"missing checkpoint data shard {path.name} "
                                 f"(the index {index_path.name} lists {header.num_shards})", path)
        return bundle

    def shard_path(self, shard: int) -> Path:
        return Path(f"{self.prefix}.data-{shard:05d}-of-{self.header.num_shards:05d}")

    def close(self) -> None:
        """Closes the shard files; tensors read later (lazily) open them again."""
        shards, self._shards = self._shards, {}
        for handle, _ in shards.values():
            handle.close()  # mappings made from it stay valid until their arrays are gone

    def __enter__(self) -> TensorBundle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- listing --------------------------------------------------------------------------------
    def keys(self) -> list[str]:
        """Tensor names in the checkpoint, sorted (slice entries and the header excluded)."""
        return sorted(self._raw)

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def __len__(self) -> int:
        return len(self._raw)

    def proto(self, key: str) -> BundleEntryProto:
        """The raw ``BundleEntryProto`` of a tensor."""
        cached = self._parsed.get(key)
        if cached is not None:
            return cached
        raw = self._raw.get(key)
        if raw is None:
            raise InputError(f"checkpoint has no tensor named {key!r}", self.index_path)
        entry = BundleEntryProto()
        try:
            entry.ParseFromString(raw)
        except DecodeError:
            raise InputError(f"corrupt checkpoint entry for tensor {key!r}", self.index_path) from None
        self._parsed[key] = entry
        return entry

    def entry(self, key: str) -> tuple[DType, Shape]:
        entry = self.proto(key)
        return self._dtype(key, entry.dtype), _shape_of(entry)

    def is_partitioned(self, key: str) -> bool:
        return len(self.proto(key).slices) > 0

    def _dtype(self, key: str, value: int) -> DType:
        try:
            return DType.from_tf(value)
        except ValueError:
            raise UnsupportedError(f"tensor {key!r} has DataType {value}, which tfjsconv cannot read",
                                   self.index_path) from None

    # ----- reading --------------------------------------------------------------------------------
    def tensor(self, key: str) -> LazyArray:
        """The tensor, read (and checksum-verified) on first ``materialize()``."""
        dtype, shape = self.entry(key)
        np_dtype = self._result_dtype(key, dtype)
        check_tensor(shape, 8 if np_dtype.kind == "O" else np_dtype.itemsize, f"tensor {key!r}",
                     self.index_path)
        self._handed_out[key] = None
        return LazyArray(np_dtype, shape, lambda: self._load(key))

    def verify_ahead(self) -> None:
        """Starts checking the checksums of the tensors ``tensor()`` has handed out so far, in that order,
        on a second thread (``verify_ahead.py``); each is still checked before its first use."""
        if not self.verify_checksums or self._verifier is not None:
            return
        jobs = []
        for key in self._handed_out:
            entry = self.proto(key)
            if entry.slices or entry.dtype == DType.STRING.value or entry.size <= 0 \
                    or not 0 <= entry.shard_id < self.header.num_shards:
                continue  # strings and slices are checked their own way; bad entries by the caller
            path = str(self.shard_path(entry.shard_id))
            jobs.append(ahead.Job(key, path, int(entry.offset), int(entry.size), int(entry.crc32c)))
        if sum(job.size for job in jobs) < ahead.MIN_BYTES:
            return
        self._verifier = ahead.Verifier(jobs)
        weakref.finalize(self, self._verifier.stop)  # a dropped bundle's tensors are never read

    def read(self, key: str) -> np.ndarray:
        return self.tensor(key).materialize()

    def object_graph(self) -> Optional[TrackableObjectGraph]:
        """The TF2 object graph stored under ``_CHECKPOINTABLE_OBJECT_GRAPH`` (None for TF1 checkpoints)."""
        if OBJECT_GRAPH_KEY not in self._raw:
            return None
        value = self.read(OBJECT_GRAPH_KEY)
        if value.dtype != object or value.size != 1:
            raise InputError(f"{OBJECT_GRAPH_KEY} is not a scalar string tensor", self.index_path)
        graph = TrackableObjectGraph()
        try:
            graph.ParseFromString(value.reshape(()).item())
        except DecodeError:
            raise InputError(f"corrupt {OBJECT_GRAPH_KEY} in checkpoint", self.index_path) from None
        return graph

    def verify(self) -> int:
        """Verifies the checksum of every tensor and slice; returns the number of data bytes checked."""
        total = 0
        for key in self.keys():
            entry = self.proto(key)
            if entry.slices:
                for extents, raw in self._slices.get(key, {}).items():
                    total += self._verify_entry(f"{key} slice {extents}", self._parse_slice(key, raw))
            else:
                total += self._verify_entry(key, entry)
        return total

    def _verify_entry(self, label: str, entry: BundleEntryProto) -> int:
        dtype = self._dtype(label, entry.dtype)
        buf = self._bytes(label, entry)
        if dtype == DType.STRING:
            count = check_tensor(_shape_of(entry), 8, f"tensor {label!r}", self.index_path)
            if count > len(buf):
                raise InputError(f"string tensor {label!r} declares {count} elements but stores {len(buf)} "
                                 "bytes", self.shard_path(entry.shard_id))
            self._decode_strings(label, entry, buf, count, True)
        else:
            self._check_crc(label, entry, buf)
        return int(entry.size)

    def _result_dtype(self, key: str, dtype: DType) -> np.dtype:
        if dtype == DType.STRING:
            return np.dtype(object)
        if dtype == DType.BFLOAT16:
            return np.dtype(np.float32)
        storage = _STORAGE.get(dtype)
        if storage is None:
            raise UnsupportedError(f"tensor {key!r} has dtype {dtype.tf_name}, which tfjsconv cannot read "
                                   "from a checkpoint", self.index_path)
        return np.dtype(storage).newbyteorder("=")

    def _load(self, key: str) -> np.ndarray:
        entry = self.proto(key)
        dtype = self._dtype(key, entry.dtype)
        if entry.slices:
            return self._assemble(key, entry, dtype)
        return self._decode(key, entry, dtype, _shape_of(entry))

    def _decode(self, label: str, entry: BundleEntryProto, dtype: DType, shape: Shape) -> np.ndarray:
        result = self._result_dtype(label, dtype)
        count = check_tensor(shape, 8 if dtype == DType.STRING else result.itemsize, f"tensor {label!r}",
                             self.index_path)
        buf = self._bytes(label, entry)
        if dtype == DType.STRING:
            if count > len(buf):  # every string has at least its one-byte length prefix
                raise InputError(f"string tensor {label!r} declares {count} elements but stores "
                                 f"{len(buf)} bytes", self.shard_path(entry.shard_id))
            return self._decode_strings(label, entry, buf, count, self.verify_checksums).reshape(shape)
        storage = np.dtype(_STORAGE[dtype])
        if entry.size != count * storage.itemsize:
            raise InputError(f"tensor {label!r} has {entry.size} bytes, expected {count * storage.itemsize} "
                             f"for {count} {dtype.tf_name} elements", self.shard_path(entry.shard_id))
        if self.verify_checksums:
            self._check_crc(label, entry, buf)
        if count == 0:
            array = np.zeros(shape, dtype=self._result_dtype(label, dtype))
        elif self.header.endianness == BundleHeaderProto.BIG:
            array = buf.view(storage.newbyteorder(">")).astype(storage.newbyteorder("="))
        else:
            array = buf.view(np.ndarray).view(storage)
        if dtype == DType.BFLOAT16:  # the top half of a float32
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array.reshape(shape)

    def _assemble(self, key: str, entry: BundleEntryProto, dtype: DType) -> np.ndarray:
        """Puts a partitioned variable back together from its slice entries."""
        shape = _shape_of(entry)
        result_dtype = self._result_dtype(key, dtype)
        check_tensor(shape, 8 if dtype == DType.STRING else result_dtype.itemsize, f"tensor {key!r}",
                     self.index_path)
        full = np.empty(shape, dtype=result_dtype)
        covered = np.zeros(shape, dtype=bool)
        stored = self._slices.get(key, {})
        for slice_proto in entry.slices:
            extents = _extents_of(slice_proto)
            raw = stored.get(extents)
            if raw is None or len(extents) != len(shape):
                raise InputError(f"checkpoint lacks slice {_format_extents(extents)} of partitioned tensor "
                                 f"{key!r}", self.index_path)
            region = tuple(slice(None) if length < 0 else slice(start, start + length)
                           for start, length in extents)
            slice_shape = tuple(full[region].shape)
            part_entry = self._parse_slice(key, raw)
            label = f"{key} slice {_format_extents(extents)}"
            full[region] = self._decode(label, part_entry, dtype, slice_shape)
            covered[region] = True
        if not covered.all():
            raise InputError(f"the slices of partitioned tensor {key!r} do not cover its shape {list(shape)}",
                             self.index_path)
        return full

    def _parse_slice(self, key: str, raw: bytes) -> BundleEntryProto:
        part = BundleEntryProto()
        try:
            part.ParseFromString(raw)
        except DecodeError:
            raise InputError(f"corrupt slice entry of tensor {key!r}", self.index_path) from None
        return part

    # ----- bytes and checksums --------------------------------------------------------------------
    def _shard(self, shard: int) -> tuple[BinaryIO, int]:
        """The open data shard and its size (reopened on demand after ``close()``)."""
        found = self._shards.get(shard)
        if found is None:
            path = self.shard_path(shard)
            try:
                handle = path.open("rb")
                found = (handle, os.fstat(handle.fileno()).st_size)
            except OSError as exc:
                raise InputError(f"cannot read checkpoint data shard: {exc.strerror}", path) from None
            self._shards[shard] = found
        return found

    def _bytes(self, label: str, entry: BundleEntryProto) -> np.ndarray:
        """The tensor's stored bytes: a view of a mapping of just its pages (released with the view)."""
        if not 0 <= entry.shard_id < self.header.num_shards:
            raise InputError(f"tensor {label!r} refers to data shard {entry.shard_id}, but the checkpoint "
                             f"has {self.header.num_shards}", self.index_path)
        handle, size = self._shard(entry.shard_id)
        start, end = int(entry.offset), int(entry.offset) + int(entry.size)
        if start < 0 or end < start or end > size:  # a negative size field is corrupt, not empty
            raise InputError(f"truncated checkpoint data: tensor {label!r} needs bytes {start}..{end} but "
                             f"the file has {size}", self.shard_path(entry.shard_id))
        if end == start:
            return np.zeros(0, dtype=np.uint8)
        try:
            return map_array(handle.fileno(), start, np.dtype(np.uint8), (end - start,))
        except (OSError, EOFError) as exc:
            path = self.shard_path(entry.shard_id)
            raise InputError(f"cannot read tensor {label!r}: {exc}", path) from None

    def _check_crc(self, label: str, entry: BundleEntryProto, buf: np.ndarray) -> None:
        # Once per tensor: a large LazyArray is read again by each pass that looks at it.
        if label in self._verified:
            return
        verdict = self._verifier.claim(label) if self._verifier is not None else None
        if verdict is None:
            verdict = mask(crc32c(buf)) == entry.crc32c
        if not verdict:
            raise InputError(f"checksum mismatch in tensor {label!r}", self.shard_path(entry.shard_id))
        self._verified.add(label)

    def _decode_strings(self, label: str, entry: BundleEntryProto, buf: np.ndarray, count: int,
                        verify: bool) -> np.ndarray:
        """``varint len * n | fixed32 masked crc of the lengths | bytes``, FORMATS.md §2.4."""
        path = self.shard_path(entry.shard_id)
        raw = buf.tobytes()
        lengths = []
        pos = 0
        try:
            for _ in range(count):
                length, pos = read_varint(raw, pos, len(raw))
                lengths.append(length)
        except ValueError:
            raise InputError(f"corrupt string tensor {label!r}: bad length prefix", path) from None
        if pos + 4 > len(raw):
            raise InputError(f"corrupt string tensor {label!r}: truncated", path)
        # TensorFlow checksums each length as a native uint32 (uint64 if it does not fit).
        order = ">" if self.header.endianness == BundleHeaderProto.BIG else "<"
        length_bytes = b"".join(struct.pack(order + ("I" if n <= 0xFFFFFFFF else "Q"), n) for n in lengths)
        stored_length_crc = raw[pos:pos + 4]
        pos += 4
        if pos + sum(lengths) != len(raw):
            raise InputError(f"corrupt string tensor {label!r}: lengths add up to {sum(lengths)} bytes, "
                             f"{len(raw) - pos} stored", path)
        if verify:
            length_crc = crc32c(length_bytes)
            if struct.unpack("<I", stored_length_crc)[0] != mask(length_crc):
                raise InputError(f"checksum mismatch in tensor {label!r} (string lengths)", path)
            total = crc32c(raw[pos:], crc32c(stored_length_crc, length_crc))
            if mask(total) != entry.crc32c:
                raise InputError(f"checksum mismatch in tensor {label!r}", path)
        out = np.empty(count, dtype=object)
        for i, length in enumerate(lengths):
            out[i] = raw[pos:pos + length]
            pos += length
        return out


def _format_extents(extents: Extents) -> str:
    return ":".join("-" if length < 0 else f"{start},{length}" for start, length in extents)
