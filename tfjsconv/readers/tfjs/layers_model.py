"""Reads a TF.js layers model: ``model.json`` plus the weight shards its ``weightsManifest`` lists.

Weights are decoded exactly as tfjs-core's ``io_utils.decodeWeight`` does, so what a route re-writes
is what TF.js would have computed with:

* affine ``uint8``/``uint16``: ``v * scale + min`` in float64 (JS numbers), stored as float32, or
  ``Math.round`` of it for an int32 weight;
* ``float16``: IEEE half -> float32 (exact, as the JS lookup-table decoder);
* plain float32/int32/bool/complex64 little-endian, strings as uint32 LE length + utf-8 bytes.

Each group's shards form one byte stream (a weight can span files).  Offsets are computed when the
model is opened - which is also when missing or short shards are reported - and each weight is read
on demand (``Weight.data`` is a ``LazyArray``), so re-writing a model holds one weight at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ...errors import InputError
from ...ir.graph import LazyArray
from ...ir.weight import Weight
from ...limits import check_tensor, element_count, load_json

MODEL_JSON = "model.json"

# Element size in the shard of every dtype decodeWeight accepts (strings are variable-length).
_PLAIN_DTYPES: dict[str, tuple[str, int]] = {
    "float32": ("<f4", 4), "int32": ("<i4", 4), "bool": ("u1", 1), "complex64": ("<c8", 8),
}
_QUANTIZED_DTYPES: dict[str, tuple[str, int]] = {
    "uint8": ("u1", 1), "uint16": ("<u2", 2), "float16": ("<f2", 2),
}


@dataclass(frozen=True)
class WeightSpec:
    """One manifest entry and where its bytes are in its group's stream."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # the dtype TF.js gives the tensor
    quantization: Optional[dict[str, Any]]
    group: int  # index into TfjsLayersModel.groups
    offset: int
    nbytes: int


@dataclass(frozen=True)
class ShardGroup:
    paths: tuple[Path, ...]
    sizes: tuple[int, ...]


@dataclass(frozen=True)
class TfjsLayersModel:
    model_json: Path
    document: dict[str, Any]  # the parsed model.json, key order as in the file
    groups: tuple[ShardGroup, ...]
    specs: tuple[WeightSpec, ...]

    @property
    def topology(self) -> Optional[dict[str, Any]]:
        return self.document.get("modelTopology")

    @property
    def metadata(self) -> Optional[dict[str, Any]]:
        return self.document.get("userDefinedMetadata")

    def weights(self) -> list[Weight]:
        """Every weight in manifest order, decoded on demand (one at a time when streamed)."""
        return [Weight(spec.name, LazyArray(_numpy_dtype(spec), spec.shape, _loader(self, spec)))
                for spec in self.specs]

    def read(self, spec: WeightSpec) -> np.ndarray:
        return decode_weight(spec, read_span(self.groups[spec.group], spec.offset, spec.nbytes))


# ----- decodeWeight -------------------------------------------------------------------------------------

# The numpy dtype of each decoded tensor (what ``decode_weight`` returns).
_DECODED_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "complex64": np.complex64,
                   "string": object}


def _numpy_dtype(spec: WeightSpec) -> np.dtype:
    return np.dtype(_DECODED_DTYPES[spec.dtype])


def _js_round(values: np.ndarray) -> np.ndarray:
    """JavaScript ``Math.round``: nearest integer, ties towards +infinity (``Math.round(-2.5) == -2``)."""
    floor = np.floor(values)
    return floor + (values - floor >= 0.5)  # exact: x - floor(x) has no rounding error in float64


def decode_weight(spec: WeightSpec, raw: bytes) -> np.ndarray:
    """The tensor TF.js builds from ``raw`` (the entry's bytes) - see the module docstring."""
    count = int(np.prod(spec.shape, dtype=np.int64))
    q = spec.quantization
    if q is not None:
        stored = np.frombuffer(raw, dtype=_QUANTIZED_DTYPES[q["dtype"]][0], count=count)
        if q["dtype"] == "float16":
            values = stored.astype(np.float32)
        else:
            real = stored.astype(np.float64) * float(q["scale"]) + float(q["min"])
            values = _js_round(real).astype(np.int32) if spec.dtype == "int32" else real.astype(np.float32)
        return values.reshape(spec.shape)
    if spec.dtype == "string":
        return _decode_strings(raw, count).reshape(spec.shape)
    stored = np.frombuffer(raw, dtype=_PLAIN_DTYPES[spec.dtype][0], count=count)
    if spec.dtype == "bool":
        return (stored != 0).reshape(spec.shape)
    return stored.astype(stored.dtype.newbyteorder("="), copy=True).reshape(spec.shape)


def _decode_strings(raw: bytes, count: int) -> np.ndarray:
    out = np.empty(count, dtype=object)
    at = 0
    for i in range(count):
        length = int.from_bytes(raw[at:at + 4], "little")
        out[i] = bytes(raw[at + 4:at + 4 + length])
        at += 4 + length
    return out


# ----- reading the shards -------------------------------------------------------------------------------

def read_span(group: ShardGroup, offset: int, nbytes: int) -> bytes:
    """``nbytes`` of the group's concatenated stream starting at ``offset``."""
    parts: list[bytes] = []
    start = 0
    for path, size in zip(group.paths, group.sizes):
        end = start + size
        if nbytes and offset < end and offset + nbytes > start:
            local = max(offset - start, 0)
            take = min(end, offset + nbytes) - (start + local)
            try:
                with open(path, "rb") as handle:
                    handle.seek(local)
                    chunk = handle.read(take)
            except OSError as exc:
                raise InputError(f"cannot read weight shard: {exc.strerror or exc}", path) from None
            if len(chunk) != take:
                raise InputError(f"weight shard changed while reading: {take} bytes expected at {local}",
                                 path)
            parts.append(chunk)
        start = end
    return b"".join(parts)


def _loader(model: TfjsLayersModel, spec: WeightSpec) -> Callable[[], np.ndarray]:
    return lambda: model.read(spec)


def _string_span(group: ShardGroup, offset: int, count: int, name: str) -> int:
    """Byte length of ``count`` length-prefixed strings at ``offset`` (read from the shards)."""
    total = sum(group.sizes)
    at = offset
    for _ in range(count):
        if at + 4 > total:
            raise InputError(f"weight shards end inside string weight {name!r}", group.paths[-1])
        at += 4 + int.from_bytes(read_span(group, at, 4), "little")
    return at - offset


# ----- parsing model.json -------------------------------------------------------------------------------

def _entry_size(entry: dict[str, Any], count: int, where: Path) -> int:
    name = entry.get("name")
    dtype = entry.get("dtype")
    q = entry.get("quantization")
    if q is not None:
        qdtype = q.get("dtype") if isinstance(q, dict) else None
        if not isinstance(qdtype, str) or qdtype not in _QUANTIZED_DTYPES:
            raise InputError(f"weight {name!r}: unknown quantization dtype {qdtype!r} "
                             "(TF.js decodes uint8, uint16 and float16)", where)
        if qdtype == "float16" and dtype != "float32":
            raise InputError(f"weight {name!r}: float16 quantization is only valid for float32 weights",
                             where)
        if qdtype != "float16":
            if dtype not in ("float32", "int32"):
                raise InputError(f"weight {name!r}: {qdtype} quantization of a {dtype} weight is not "
                                 "supported", where)
            for key in ("min", "scale"):
                if isinstance(q.get(key), bool) or not isinstance(q.get(key), (int, float)):
                    raise InputError(f"weight {name!r}: quantization needs a numeric {key!r}", where)
        return count * _QUANTIZED_DTYPES[qdtype][1]
    if not isinstance(dtype, str) or dtype not in _PLAIN_DTYPES:
        raise InputError(f"weight {name!r} has dtype {dtype!r}; TF.js weights are float32, int32, bool, "
                         "string or complex64", where)
    return count * _PLAIN_DTYPES[dtype][1]


def _shape(entry: dict[str, Any], where: Path) -> tuple[int, ...]:
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                              for d in shape):
        raise InputError(f"weight {entry.get('name')!r} has an invalid shape {shape!r}", where)
    return tuple(shape)


def _shard_group(paths: Any, base: Path, where: Path, index: int) -> ShardGroup:
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise InputError(f"weightsManifest group {index} has no list of shard paths", where)
    files = tuple(base / p for p in paths)
    sizes = []
    root = base.resolve()
    for text, file in zip(paths, files):
        # Shard paths are relative URLs next to model.json; one that leaves the model's directory
        # would copy an arbitrary local file into the output.
        parts = text.replace("\\", "/").split("/")
        if text.startswith(("/", "\\")) or ".." in parts or (len(text) > 1 and text[1] == ":") or \
                "\0" in text:
            raise InputError(f"weight shard path {text!r} points outside the model's directory", where)
        try:
            if not file.is_file() or root not in file.resolve().parents:
                raise InputError("weight shard listed in model.json is missing", file)
            sizes.append(file.stat().st_size)
        except OSError as exc:  # a name too long for the file system, a loop of links...
            raise InputError(f"weight shard listed in model.json cannot be read ({exc.strerror or exc})",
                             where) from None
    return ShardGroup(files, tuple(sizes))


def parse_manifest(manifest: Any, base: Path, where: Path) -> tuple[tuple[ShardGroup, ...],
                                                                         tuple[WeightSpec, ...]]:
    if not isinstance(manifest, list):
        raise InputError("model.json has no weightsManifest list", where)
    groups: list[ShardGroup] = []
    specs: list[WeightSpec] = []
    seen: set[str] = set()
    for index, raw_group in enumerate(manifest):
        if not isinstance(raw_group, dict) or not isinstance(raw_group.get("weights"), list):
            raise InputError(f"weightsManifest group {index} is not an object with a weights list", where)
        group = _shard_group(raw_group.get("paths"), base, where, index)
        groups.append(group)
        offset = 0
        for entry in raw_group["weights"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise InputError(f"weightsManifest group {index} has an entry without a name", where)
            name = entry["name"]
            if name in seen:
                raise InputError(f"two weights are named {name!r}", where)
            seen.add(name)
            shape = _shape(entry, where)
            count = element_count(shape, f"weight {name!r}", where)
            if entry.get("dtype") == "string" and entry.get("quantization") is None:
                nbytes = _string_span(group, offset, count, name) if group.paths else 4 * count
            else:
                nbytes = _entry_size(entry, count, where)
            decoded = 8 if entry.get("dtype") in ("string", "complex64") else 4  # decoded bytes per value
            check_tensor(shape, decoded, f"weight {name!r}", where)
            if offset + nbytes > sum(group.sizes):
                short = group.paths[-1] if group.paths else where
                raise InputError(f"weight shards are too short: weight {name!r} needs bytes up to "
                                 f"{offset + nbytes} but group {index} holds {sum(group.sizes)}", short)
            specs.append(WeightSpec(name, shape, entry["dtype"], entry.get("quantization"), index,
                                    offset, nbytes))
            offset += nbytes
    return tuple(groups), tuple(specs)


def model_json_path(path: Path) -> Path:
    """``path`` itself, or the model.json inside a directory."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_JSON
        if not path.is_file():
            raise InputError("the directory has no model.json", path.parent)
    return path


def read_tfjs_layers_model(path: Path) -> TfjsLayersModel:
    """Parses model.json (a file or a directory holding one) and checks that every shard is there."""
    where = model_json_path(path)
    try:
        raw = where.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read model.json: {exc.strerror or exc}", where) from None
    document = load_json(raw, "model.json", where)
    if not isinstance(document, dict):
        raise InputError("model.json is not a JSON object", where)
    if document.get("format", "layers-model") != "layers-model":
        raise InputError(f"model.json has format {document.get('format')!r}, not 'layers-model'", where)
    topology = document.get("modelTopology")
    if topology is not None and not isinstance(topology, dict):
        raise InputError("modelTopology is not a JSON object", where)
    groups, specs = parse_manifest(document.get("weightsManifest"), where.parent, where)
    return TfjsLayersModel(where, document, groups, specs)
