"""Weight shards (``group{g}-shard{i}of{n}.bin``) and the ``weightsManifest`` that describes them.

Each group's weights are one byte stream cut at exact ``shard_size_bytes`` boundaries, so a weight may
span files.  The stream is written through: one weight is materialized, converted to a dtype TF.js
loads, optionally quantized, written and dropped before the next one is read.  The shard count is
only known at the end, so shards are written under temporary names and renamed when the group is done.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Optional, Union

import numpy as np

from .. import limits, progress
from ..errors import InputError, OptionsError, OutputError
from ..ir.weight import Weight
from ..registry import Registry
from .quantize import (
    QuantizationMap,
    pieces,
    plan_quantization,
    resolve_quantization,
    unmatched_patterns,
    validate_quantization_map,
)

DEFAULT_SHARD_SIZE_BYTES = 4 * 1024 * 1024  # the largest file every major browser caches
_INT32 = np.iinfo(np.int32)


# ----- dtype policy: what each numpy dtype becomes in the shards ---------------------------------------

Convert = Callable[[str, np.ndarray, Optional[list]], np.ndarray]


@dataclass(frozen=True)
class _Policy:
    manifest: str  # dtype name in the manifest (tfjs-core decodeWeight accepts only these)
    convert: Convert  # -> little-endian array to write raw, or an object array of utf-8 bytes


def _to_float32(name: str, data: np.ndarray, warnings: Optional[list]) -> np.ndarray:
    with np.errstate(over="ignore"):  # reported through the warnings list instead
        out = data.astype("<f4", copy=False)
    if data.dtype.itemsize > 4 and warnings is not None:
        overflow = int(np.count_nonzero(np.isinf(out) & np.isfinite(data)))
        if overflow:
            warnings.append(f"weight {name}: {overflow} float64 value(s) exceed the float32 range "
                            "and became +-inf")
    return out


def _to_int32(name: str, data: np.ndarray, warnings: Optional[list]) -> np.ndarray:
    return data.astype("<i4", copy=False)


def _to_checked_int32(name: str, data: np.ndarray, warnings: Optional[list]) -> np.ndarray:
    # TF.js has no 64-bit (or unsigned 32-bit) integers; the official converter truncates silently.
    if data.size:
        low, high = data.min(), data.max()
        bad = low if low < _INT32.min else high if high > _INT32.max else None
        if bad is not None:
            raise InputError(f"weight {name}: {data.dtype.name} value {int(bad)} does not fit in int32, "
                             "the only integer type TF.js loads")
    return data.astype("<i4", copy=False)


def _to_bool(name: str, data: np.ndarray, warnings: Optional[list]) -> np.ndarray:
    return data.astype(np.uint8)  # one byte per element, 0 or 1


def _to_complex64(name: str, data: np.ndarray, warnings: Optional[list]) -> np.ndarray:
    return data.astype("<c8", copy=False)  # interleaved real/imaginary float32


def _to_utf8(name: str, data: np.ndarray, warnings: Optional[list]) -> np.ndarray:
    flat = data.reshape(-1)
    out = np.empty(flat.shape, dtype=object)
    for i, element in enumerate(flat.tolist()):
        if isinstance(element, bytes):
            out[i] = element
        elif isinstance(element, str):
            try:
                out[i] = element.encode("utf-8")
            except UnicodeEncodeError as e:
                raise InputError(f"weight {name}: string element {i} is not valid unicode ({e.reason})"
                                 ) from None
        else:
            raise InputError(f"weight {name}: object array element {i} is a {type(element).__name__}, "
                             "only str or bytes can be written as a string weight")
    return out


# Keyed by numpy kind + itemsize ("f8"), or by kind alone for strings.
POLICIES: Registry[str, _Policy] = Registry("weight dtype policy")


def _register(keys: Sequence[str], manifest: str, convert: Convert) -> None:
    for key in keys:
        POLICIES.add(key, _Policy(manifest, convert))


_register(("f2", "f4", "f8"), "float32", _to_float32)
_register(("i1", "i2", "i4", "u1", "u2"), "int32", _to_int32)  # tfjs-core rejects a "uint8" weight
_register(("i8", "u4", "u8"), "int32", _to_checked_int32)
_register(("b1",), "bool", _to_bool)
_register(("c8", "c16"), "complex64", _to_complex64)
_register(("O", "S", "U", "T"), "string", _to_utf8)  # T: numpy 2 StringDType


def _policy(name: str, dtype: np.dtype) -> _Policy:
    found = POLICIES.get(f"{dtype.kind}{dtype.itemsize}") or POLICIES.get(dtype.kind)
    if found is None:
        raise InputError(f"weight {name} has dtype {dtype}, which TF.js weights cannot hold "
                         "(float32, int32, bool, string and complex64 are supported)")
    return found


# ----- shard files --------------------------------------------------------------------------------------

class _ShardWriter:
    """Cuts one group's byte stream into shards of exactly ``shard_size`` bytes (the last is shorter)."""

    def __init__(self, out_dir: Path, group: int, shard_size: int) -> None:
        self._out_dir = out_dir
        self._group = group
        self._shard_size = shard_size
        self._parts: list[Path] = []
        self._file: Optional[BinaryIO] = None
        self._room = 0

    def write(self, chunk: Union[bytes, memoryview]) -> None:
        view = memoryview(chunk)
        while view.nbytes:
            if self._room == 0:
                self._next_shard()
            assert self._file is not None
            taken = min(self._room, view.nbytes)
            with _writing(self._parts[-1]):
                self._file.write(view[:taken])
            view = view[taken:]
            self._room -= taken

    def _next_shard(self) -> None:
        self._close()
        part = self._out_dir / f".group{self._group}-shard{len(self._parts) + 1}.partial"
        self._parts.append(part)
        with _writing(part):
            self._file = open(part, "wb")  # closed by _close(), also on errors via abort()
        self._room = self._shard_size

    def _close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            with _writing(self._parts[-1]):
                file.close()

    def finish(self) -> list[str]:
        """Renames the shards to their final names (``n`` is known now) and returns them."""
        self._close()
        count = len(self._parts)
        names = [f"group{self._group}-shard{i}of{count}.bin" for i in range(1, count + 1)]
        for part, name in zip(self._parts, names):
            target = self._out_dir / name
            with _writing(target):
                os.replace(part, target)
        return names

    def abort(self) -> None:
        self._close()
        for part in self._parts:
            part.unlink(missing_ok=True)


@contextmanager
def _writing(path: Path) -> Iterator[None]:
    """OS errors while writing become a one-line OutputError naming the file."""
    try:
        yield
    except OSError as e:
        raise OutputError(f"cannot write weight shard: {e.strerror or e}", path) from None


def _string_chunks(encoded: np.ndarray) -> Iterator[bytes]:
    """Per element: a uint32 little-endian byte length, then the utf-8 bytes (row-major order)."""
    for element in encoded:
        yield len(element).to_bytes(4, "little") + element


# ----- the writer ---------------------------------------------------------------------------------------

def write_weights(groups: Sequence[Sequence[Weight]], out_dir: Path,
                  shard_size_bytes: int = DEFAULT_SHARD_SIZE_BYTES,
                  quantization: Optional[QuantizationMap] = None,
                  warnings: Optional[list[str]] = None) -> list[dict]:
    """Writes every group's shards into ``out_dir`` and returns the ``weightsManifest`` list.

    Messages about lossy conversions (float16 overflow, non-finite weights left unquantized, float64
    values beyond float32) are appended to ``warnings`` when it is given.
    """
    if isinstance(shard_size_bytes, bool) or not isinstance(shard_size_bytes, int) or shard_size_bytes <= 0:
        raise OptionsError(f"weight shard size must be a positive number of bytes, not {shard_size_bytes!r}")
    validate_quantization_map(quantization)
    _check_names_and_dtypes(groups)
    _report_unmatched([w.name for group in groups for w in group], quantization, warnings)
    out_dir = Path(out_dir)
    with _writing(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
    progress.stage("writing", sum(_nbytes(w) for group in groups for w in group))
    manifest: list[dict] = []
    for index, group in enumerate(groups, start=1):
        chosen = resolve_quantization([w.name for w in group], quantization)
        writer = _ShardWriter(out_dir, index, shard_size_bytes)
        try:
            entries = []
            for weight in group:
                entries.append(_write_one(weight, chosen.get(weight.name), writer, warnings))
                progress.advance(_nbytes(weight))
            paths = writer.finish()
        except BaseException:
            writer.abort()
            raise
        manifest.append({"paths": paths, "weights": entries})
    return manifest


def _nbytes(weight: Weight) -> int:
    """The weight's size as read (what the progress bar counts), from its shape: nothing is read."""
    count = 1
    for dim in weight.data.shape:
        count *= int(dim)
    return count * weight.dtype.itemsize


def _report_unmatched(names: Sequence[str], quantization: Optional[QuantizationMap],
                      warnings: Optional[list[str]]) -> None:
    """A pattern that selects nothing is almost always a typo: say so (an error under --strict)."""
    missed = unmatched_patterns(names, quantization)
    if not missed:
        return
    listing = ", ".join(f"--quantize_{qdtype}={pattern!r}" for qdtype, pattern in missed)
    message = (f"quantization pattern(s) matched no weight: {listing}; weight names look like "
               f"{', '.join(repr(n) for n in list(names)[:3])}")
    if limits.current().strict:
        raise OptionsError(message + " (--strict)")
    if warnings is not None:
        warnings.append(message)


def _check_names_and_dtypes(groups: Sequence[Sequence[Weight]]) -> None:
    """Fails before any file is written on duplicate names or dtypes TF.js cannot hold."""
    seen: set[str] = set()
    for group in groups:
        for weight in group:
            if weight.name in seen:
                raise InputError(f"two weights are named {weight.name}; weight names must be unique")
            seen.add(weight.name)
            _policy(weight.name, weight.dtype)


def _write_one(weight: Weight, qdtype: Optional[str], writer: _ShardWriter,
               warnings: Optional[list[str]]) -> dict:
    data = weight.array()
    policy = _policy(weight.name, data.dtype)
    out = policy.convert(weight.name, data, warnings)  # float32 (the usual case) is not copied
    entry: dict = {"name": weight.name, "shape": [int(d) for d in data.shape], "dtype": policy.manifest}
    del data  # the converted copy is all that is needed from here on
    if policy.manifest == "string":
        for chunk in _string_chunks(out):
            writer.write(chunk)
        return entry
    flat = np.ascontiguousarray(out).reshape(-1)
    plan = None
    if qdtype is not None and policy.manifest == "float32":  # only float32 data is ever quantized
        plan = plan_quantization(weight.name, flat, qdtype, warnings)
    if plan is None:
        writer.write(memoryview(flat.view(np.uint8)))
    else:
        entry["quantization"] = plan.metadata
        for piece in pieces(flat):  # a large weight is quantized a piece at a time
            writer.write(memoryview(plan.encode(piece).view(np.uint8)))
    return entry
