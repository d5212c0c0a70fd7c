"""Reads a Keras 3 ``.keras`` archive (FORMATS.md §5): ``config.json`` + ``metadata.json`` +
``model.weights.h5`` in a zip.  The archive is only read.  Keras stores the weights member
uncompressed, and then h5py reads it in place through a file object that sees only the member's
bytes (no copy, no temporary file); a compressed member is first streamed into a private temporary
file (h5py needs random access) that disappears when the ``with`` block ends.
"""

from __future__ import annotations

import io
import mmap
import os
import shutil
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Optional, Union

import h5py

from ...errors import InputError
from ...limits import load_json
from ..mapped import scan_windows
from .h5_guard import check_global_heaps, dataset_extents
from .h5_safety import check_h5_objects
from .h5_types import H5_ERRORS, H5Layer
from .v3_weights import read_v3_weights

_MAX_JSON_BYTES = 256 * 1024 * 1024
# Weights compress poorly; a member claiming to expand far beyond this is a zip bomb, not a model.
_MAX_RATIO = 200


@dataclass(frozen=True)
class KerasArchive:
    path: Path
    keras_version: Optional[str]
    model_config: dict[str, Any]
    weights_file: h5py.File  # open while the archive is

    def layers(self) -> tuple[H5Layer, ...]:
        """Every layer's weights, already named as tfjs-layers names them."""
        try:
            return read_v3_weights(self.weights_file, self.path, self.model_config)
        except H5_ERRORS as exc:  # damaged HDF5 structures surface while walking the groups
            reason = " ".join(str(exc).split())
            raise InputError(f"corrupt model.weights.h5 in the archive ({reason})", self.path) from exc


def _member(archive: zipfile.ZipFile, name: str, path: Path) -> Optional[zipfile.ZipInfo]:
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.flag_bits & 0x1:  # zipfile would raise RuntimeError("password required") on reading it
        raise InputError(f"archive member {name} is encrypted; Keras never writes encrypted archives", path)
    if info.compress_size and info.file_size > _MAX_RATIO * info.compress_size + (1 << 20):
        raise InputError(f"archive member {name} claims to expand {info.file_size} bytes from "
                         f"{info.compress_size}; refusing it as a likely zip bomb", path)
    return info


def _json_member(archive: zipfile.ZipFile, name: str, path: Path) -> Optional[Any]:
    info = _member(archive, name, path)
    if info is None:
        return None
    if info.file_size > _MAX_JSON_BYTES:
        raise InputError(f"{name} in the archive is {info.file_size} bytes, too large for a config", path)
    return load_json(archive.read(info), f"{name} in the archive", path)


def _check_members(config: Any, has_weights: bool, has_npz: bool, path: Path) -> None:
    if not isinstance(config, dict) or "class_name" not in config:
        raise InputError("the archive has no config.json with a Keras model config", path)
    if not has_weights:
        if has_npz:
            raise InputError("the archive stores its weights as model.weights.npz (pickled dicts), "
                             "which tfjsconv does not unpickle; re-save with the default weights format "
                             "(.h5)", path)
        raise InputError("the archive has no model.weights.h5", path)


def _check_names(archive: zipfile.ZipFile, path: Path) -> None:
    """Refuses members whose names would land outside a directory the archive is extracted into.

    Nothing is extracted by name here, but Keras itself extracts archives, and an archive built to
    escape is hostile: it is refused as the TF Hub tar reader refuses one.
    """
    for info in archive.infolist():
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        drive = len(name) > 1 and name[1] == ":"  # C:/... on Windows
        if name.startswith(("/", "\\")) or ".." in parts or "\0" in name or drive:
            raise InputError(f"archive member {name!r} would be extracted outside the archive's directory; "
                             "refusing a hostile archive", path)


class _Member(io.RawIOBase):
    """A read-only, seekable view of ``length`` bytes at ``offset`` of an open file."""

    def __init__(self, handle: BinaryIO, offset: int, length: int) -> None:
        self._fd = handle.fileno()
        self.offset = offset
        self.length = length
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        base = (0, self._pos, self.length)[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = max(0, min(view.nbytes, self.length - self._pos))
        done = 0
        while done < want:  # pread may return less than asked for (large reads, signals)
            chunk = os.preadv(self._fd, [view[done:want]], self.offset + self._pos + done)
            if chunk <= 0:
                break
            done += chunk
        self._pos += done
        return done


def _stored_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, handle: BinaryIO) -> Optional[_Member]:
    """The member's bytes in place when it is stored uncompressed (and unencrypted), else None."""
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1 or not hasattr(os, "preadv"):
        return None
    handle.seek(info.header_offset)
    local = handle.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile("bad local file header for model.weights.h5")
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    offset = info.header_offset + 30 + name_length + extra_length
    if offset + info.file_size > os.fstat(handle.fileno()).st_size:
        raise zipfile.BadZipFile("model.weights.h5 extends beyond the end of the archive")
    if info.file_size and _crc32(handle, offset, info.file_size) != info.CRC:
        raise zipfile.BadZipFile("bad CRC-32 for file 'model.weights.h5'")
    return _Member(handle, offset, info.file_size)


def _crc32(handle: BinaryIO, offset: int, length: int) -> int:
    """CRC-32 of a byte range, read through a mapping whose pages are released as the scan goes (no
    copy: ~0.35 s per GiB, where extracting the member to a temporary file took ~7 s)."""
    crc = 0
    with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for start, stop in scan_windows(data, offset, offset + length):
            with memoryview(data)[start:stop] as window:
                crc = zlib.crc32(window, crc)
    return crc


@contextmanager
def _from_zip(path: Path) -> Iterator[tuple[Any, Any, Union[Path, _Member]]]:
    """(config, metadata, model.weights.h5 as a local path or an in-place member) of a zip."""
    try:
        archive = zipfile.ZipFile(path)
    except UnicodeDecodeError as exc:  # general-purpose bit 11 says UTF-8, the name's bytes are not
        raise InputError(f"not a readable .keras (zip) archive: a member name flagged as UTF-8 is not "
                         f"UTF-8 ({exc.reason} at byte {exc.start})", path) from exc
    except (zipfile.BadZipFile, OSError, NotImplementedError) as exc:
        raise InputError(f"not a readable .keras (zip) archive ({exc})", path) from exc
    with archive, tempfile.TemporaryDirectory(prefix="tfjsconv-keras-") as tmp:
        try:
            _check_names(archive, path)
            config = _json_member(archive, "config.json", path)
            metadata = _json_member(archive, "metadata.json", path)
            weights = _member(archive, "model.weights.h5", path)
            npz = _member(archive, "model.weights.npz", path)
            _check_members(config, weights is not None, npz is not None, path)
            assert weights is not None  # _check_members raised otherwise
            assert archive.fp is not None
            source: Union[Path, _Member, None] = _stored_member(archive, weights, archive.fp)
            if source is None:
                source = Path(tmp) / "model.weights.h5"
                with archive.open(weights) as src, open(source, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        # Truncated or corrupt data; NotImplementedError: an encrypted member or a compression method
        # zipfile lacks (Keras writes stored or deflated members only).
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
            raise InputError(f"corrupt .keras archive ({exc})", path) from exc
        yield config, metadata, source


def _json_file(path: Path, archive: Path) -> Optional[Any]:
    if not path.is_file():
        return None
    return load_json(path.read_bytes(), f"{path.name} in the archive", archive)


@contextmanager
def _from_directory(path: Path) -> Iterator[tuple[Any, Any, Path]]:
    """The unzipped form of an archive: the same members as files in a directory."""
    config = _json_file(path / "config.json", path)
    weights = path / "model.weights.h5"
    _check_members(config, weights.is_file(), (path / "model.weights.npz").is_file(), path)
    yield config, _json_file(path / "metadata.json", path), weights


@contextmanager
def open_keras_archive(path: Path) -> Iterator[KerasArchive]:
    """Opens a ``.keras`` zip archive (or its unzipped directory form) read-only."""
    path = Path(path)
    with (_from_directory(path) if path.is_dir() else _from_zip(path)) as (config, metadata, weights):
        try:
            handle = h5py.File(weights, "r")
        except H5_ERRORS as exc:
            raise InputError(f"model.weights.h5 in the archive is not a readable HDF5 file ({exc})",
                             path) from exc
        with handle:
            try:
                check_h5_objects(handle, path)
            except H5_ERRORS as exc:
                raise InputError(f"corrupt model.weights.h5 in the archive ({' '.join(str(exc).split())})",
                                 path) from exc
            if isinstance(weights, _Member):
                check_global_heaps(path, report_as=path, skip=dataset_extents(handle),
                                   region=(weights.offset, weights.length))
            else:
                check_global_heaps(weights, report_as=path, skip=dataset_extents(handle))
            version = metadata.get("keras_version") if isinstance(metadata, dict) else None
            yield KerasArchive(path, None if version is None else str(version), config, handle)
