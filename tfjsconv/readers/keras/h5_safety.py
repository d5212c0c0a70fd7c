"""What an HDF5 input may point at, and how much a dataset may cost, checked before anything is read.

HDF5 can make a file read other files: external links (``h5py.ExternalLink``), datasets whose raw
data lives in external files (``external=`` storage), virtual datasets mapping other files' data, and
soft links whose path runs through one of those.  A Keras file never needs any of them, and in a
conversion service following them would copy whatever HDF5 file the process can read into the
output, so ``check_h5_objects`` refuses them all by walking every link of the file once, without
following any.

``dataset_array`` turns a dataset into a lazily read array after checking its declared size against
the bytes the file stores for it and against ``--max_tensor_bytes`` (limits.py).
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any, Optional

import h5py
import numpy as np

from ...errors import InputError
from ...ir.graph import LazyArray
from ...limits import check_tensor
from .h5_types import H5_ERRORS

_LEAVES = "reads data from another file, which tfjsconv never follows"


def _soft_target_problem(handle: h5py.File, base: h5py.Group, target: str) -> Optional[str]:
    """Why a soft link's target path leaves the file (through an external link), or None."""
    parts = [p for p in target.split("/") if p and p != "."]
    group: h5py.Group = handle if target.startswith("/") else base
    for i, part in enumerate(parts):
        try:
            link = group.get(part, getlink=True)
        except H5_ERRORS:
            return None  # dangling: reading it fails on its own, inside the file
        if isinstance(link, h5py.ExternalLink):
            return f"runs through the external link {'/'.join(parts[:i + 1])!r}"
        if isinstance(link, h5py.SoftLink) or link is None:
            return None  # chains of soft links are resolved (and bounded) by HDF5 inside the file
        try:
            nxt = group.get(part)
        except H5_ERRORS:
            return None
        if not isinstance(nxt, h5py.Group):
            return None
        group = nxt
    return None


def _dataset_problem(dataset: h5py.Dataset) -> Optional[str]:
    if dataset.is_virtual:
        return f"is a virtual dataset, which {_LEAVES}"
    if dataset.external:
        files = ", ".join(repr(entry[0]) for entry in dataset.external)
        return f"stores its data in external file(s) {files}, which tfjsconv never reads"
    return None


def _check_types(obj: Any, where: str, path: Path) -> None:
    """h5py raises TypeError (not one of H5_ERRORS) for a type it cannot map to numpy, such as a
    string with an unknown character-set code: found by fuzzing in a Keras ``backend`` attribute.
    Every attribute's and the dataset's type is read once here, so no read later meets one."""
    try:
        if isinstance(obj, h5py.Dataset):
            obj.dtype  # noqa: B018  (reading the type is the check)
        if isinstance(obj, h5py.Dataset) and obj.id.get_type().get_class() == h5py.h5t.VLEN:
            raise InputError(f"HDF5 dataset {where!r} holds variable-length sequences, which Keras never "
                             "writes", path)
        for name in obj.attrs:
            try:
                attr = obj.attrs.get_id(name)
                attr.dtype  # noqa: B018
            except TypeError as exc:
                raise InputError(f"HDF5 attribute {name!r} of {where!r} has a type that cannot be read "
                                 f"({' '.join(str(exc).split())})", path) from None
            # Reading a damaged variable-length sequence crashes HDF5 itself (a segfault, found by
            # fuzzing); Keras stores names as strings, never as sequences.
            if attr.get_type().get_class() == h5py.h5t.VLEN:
                raise InputError(f"HDF5 attribute {name!r} of {where!r} holds variable-length sequences, "
                                 "which Keras never writes", path)
    except TypeError as exc:
        raise InputError(f"HDF5 dataset {where!r} has a type that cannot be read "
                         f"({' '.join(str(exc).split())})", path) from None


def check_h5_objects(handle: h5py.File, path: Path) -> None:
    """Refuses external links, soft links through them, external or virtual datasets, and
    attributes or datasets of a type h5py cannot read."""
    seen: set[int] = set()
    queue: deque[h5py.Group] = deque([handle["/"]])
    while queue:  # breadth first: of two problems, the one nearer the root is named
        group = queue.popleft()
        try:
            key = int(h5py.h5o.get_info(group.id).addr)  # the same for every hard link to the group
        except (TypeError, *H5_ERRORS):  # the object header is damaged
            raise InputError(f"corrupt HDF5 file: cannot identify the group {group.name!r}", path) from None
        if key in seen:
            continue  # a group hard-linked twice (or into itself) is walked once
        seen.add(key)
        _check_types(group, group.name, path)
        for name in group:
            where = f"{group.name.rstrip('/')}/{name}"
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise InputError(f"HDF5 object {where!r} is an external link to {link.filename!r} "
                                 f"({link.path}); tfjsconv never follows links into other files", path)
            if isinstance(link, h5py.SoftLink):
                problem = _soft_target_problem(handle, group, link.path)
                if problem:
                    raise InputError(f"HDF5 soft link {where!r} -> {link.path!r} {problem}; tfjsconv never "
                                     "follows links into other files", path)
                continue  # its target is walked where it is hard-linked
            if not isinstance(link, h5py.HardLink):
                raise InputError(f"HDF5 object {where!r} is a user-defined link, which tfjsconv does "
                                 "not follow", path)
            obj = group.get(name)
            if isinstance(obj, h5py.Group):
                queue.append(obj)
            elif isinstance(obj, h5py.Dataset):
                _check_types(obj, where, path)
                problem = _dataset_problem(obj)
                if problem:
                    raise InputError(f"HDF5 dataset {where!r} {problem}", path)


def attr_value(attrs: h5py.AttributeManager, name: str, path: Path) -> Any:
    """An attribute's value after checking its declared size against its storage and the cap (a
    damaged dataspace would otherwise make h5py allocate whatever it declares)."""
    attr = attrs.get_id(name)
    shape = tuple(int(d) for d in (attr.shape or ()))
    itemsize = 16 if attr.dtype.kind == "O" else attr.dtype.itemsize  # vlen: one descriptor each
    try:
        stored: Optional[int] = int(attr.get_storage_size())
    except H5_ERRORS:  # HDF5 reports 0 (an "error") for some variable-length attributes
        stored = None
    check_tensor(shape, itemsize, f"HDF5 attribute {name!r}", path,
                 available=None if attr.dtype.kind == "O" else stored)
    return attrs[name]


def stored_bytes(dataset: h5py.Dataset) -> Optional[int]:
    """Bytes the file holds for the dataset's values; None when a filter (compression) stores fewer."""
    plist = dataset.id.get_create_plist()
    layout = plist.get_layout()
    if layout == h5py.h5d.CHUNKED and plist.get_nfilters() > 0:
        return None
    stored = int(dataset.id.get_storage_size())
    if layout == h5py.h5d.CONTIGUOUS:
        offset = dataset.id.get_offset()  # None while no storage is allocated
        if offset is None:
            return 0
        stored = min(stored, max(int(dataset.file.id.get_filesize()) - int(offset), 0))
    return stored


def dataset_array(dataset: h5py.Dataset, name: str, path: Path) -> LazyArray:
    """The dataset as a LazyArray, after checking its declared size (see the module docstring)."""
    dtype = dataset.dtype
    shape = tuple(int(d) for d in (dataset.shape or ()))
    if dataset.shape is None:  # a null dataspace holds no value at all
        raise InputError(f"weight {name!r} has no value (an HDF5 null dataspace)", path)
    itemsize = dtype.itemsize if dtype.kind != "O" else 16  # variable-length: a (pointer, length) each
    check_tensor(shape, itemsize, f"weight {name!r}", path,
                 available=None if dtype.kind == "O" else stored_bytes(dataset))

    def load() -> np.ndarray:
        try:
            return np.asarray(dataset[()])
        except H5_ERRORS as exc:  # truncated or corrupt data blocks surface only here
            raise InputError(f"cannot read weight {name!r}: {' '.join(str(exc).split())}", path) from exc

    return LazyArray(dtype, shape, load)
