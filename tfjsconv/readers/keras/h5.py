"""Reads Keras HDF5 files: full models (``model.save("m.h5")``) and weights-only files.

Both tf-keras 2.x and Keras 3 write the legacy layout (FORMATS.md §4); a Keras 3 ``*.weights.h5``
(positional variables, §5.2) is handed to ``keras_v3_weights``.  Nothing here interprets the model
config beyond parsing its JSON; weights are returned as lazy arrays in ``layer_names`` order and read
from the (read-only) file only when the weights writer asks for them, so the file must stay open
while the weights are written: use ``open_keras_h5`` as a context manager.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import h5py
import numpy as np

from ...errors import InputError
from ...limits import load_json
from .h5_guard import check_global_heaps, dataset_extents
from .h5_safety import attr_value, check_h5_objects, dataset_array
from .h5_types import H5_ERRORS, H5Layer, H5Weight, h5_text
from .v3_weights import read_v3_weights


@dataclass(frozen=True)
class KerasH5:
    """What a Keras HDF5 file holds.  ``model_config`` is None for a weights-only file."""

    path: Path
    keras_version: Optional[str]
    backend: Optional[str]
    model_config: Optional[dict[str, Any]]
    training_config: Optional[dict[str, Any]]
    layers: tuple[H5Layer, ...]
    # True for the Keras 3 weights layout, whose weights this reader already names as tfjs-layers
    # does; False when names are the file's own ``weight_names`` entries.
    tfjs_names: bool = False

    @property
    def weights_only(self) -> bool:
        return self.model_config is None

    @property
    def keras_major(self) -> Optional[int]:
        head = (self.keras_version or "").split(".", 1)[0]
        return int(head) if head.isdigit() else None


def read_name_list(attrs: h5py.AttributeManager, name: str) -> Optional[list[str]]:
    """A string-list attribute, or None when absent.

    Keras splits attributes above HDF5's 64 KiB header limit into ``name0``, ``name1``, ... (read in
    order until a number is missing), and stores an empty list as a zero-length float64 array.
    """
    if name in attrs:
        chunks = [attr_value(attrs, name, None)]
    else:
        chunks = []
        while f"{name}{len(chunks)}" in attrs:
            chunks.append(attr_value(attrs, f"{name}{len(chunks)}", None))
        if not chunks:
            return None
    names: list[str] = []
    for chunk in chunks:
        array = np.asarray(chunk)
        if array.size == 0:
            continue
        if array.dtype.kind not in ("S", "U", "O"):
            raise TypeError(f"attribute {name!r} holds {array.dtype} values, not names")
        names.extend(h5_text(item) for item in array.reshape(-1))
    return names


def _json_attr(attrs: h5py.AttributeManager, name: str, path: Path) -> Optional[dict[str, Any]]:
    if name not in attrs:
        return None
    try:
        text = h5_text(attr_value(attrs, name, path))
    except UnicodeDecodeError as exc:
        raise InputError(f"the {name} attribute is not valid UTF-8 text ({exc})", path) from None
    value = load_json(text, f"the {name} attribute", path)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InputError(f"the {name} attribute is not a JSON object", path)
    return value


def _layer_weights(group: h5py.Group, layer: str, path: Path) -> H5Layer:
    if layer not in group or not isinstance(group[layer], h5py.Group):
        raise InputError(f"layer_names lists {layer!r} but the file has no group for it", path)
    layer_group = group[layer]
    try:
        names = read_name_list(layer_group.attrs, "weight_names")
    except TypeError as exc:
        raise InputError(f"layer {layer!r}: {exc}", path) from exc
    weights = []
    for name in names or ():
        # The dataset sits at the weight name relative to the layer group (`c1/c1/kernel:0`).
        dataset = layer_group.get(name)
        if not isinstance(dataset, h5py.Dataset):
            raise InputError(f"layer {layer!r} lists weight {name!r} but the file has no such dataset", path)
        weights.append(H5Weight(name, dataset_array(dataset, name, path)))
    return H5Layer(layer, tuple(weights))


def _read(handle: h5py.File, path: Path) -> KerasH5:
    attrs = handle.attrs
    model_config = _json_attr(attrs, "model_config", path)
    if model_config is not None:
        weights_root = handle.get("model_weights")
        if not isinstance(weights_root, h5py.Group):
            raise InputError("the file has a model_config but no model_weights group", path)
    elif "layer_names" in attrs or "layer_names0" in attrs:
        weights_root = handle  # weights-only file: layer groups at the root
    elif isinstance(handle.get("layers"), h5py.Group) and "vars" in handle:
        # save_weights("x.weights.h5") in Keras 3 and recent tf-keras: variables stored by position.
        return KerasH5(path=path, keras_version=None, backend=None, model_config=None, training_config=None,
                       layers=read_v3_weights(handle, path), tfjs_names=True)
    else:
        raise InputError("not a Keras HDF5 model: it has neither a model_config attribute nor "
                         "layer_names (a weights-only file)", path)
    try:
        layer_names = read_name_list(weights_root.attrs, "layer_names")
    except TypeError as exc:
        raise InputError(str(exc), path) from exc
    layers = tuple(_layer_weights(weights_root, name, path) for name in layer_names or ())
    version = attrs.get("keras_version", weights_root.attrs.get("keras_version"))
    backend = attrs.get("backend", weights_root.attrs.get("backend"))
    return KerasH5(
        path=path,
        keras_version=None if version is None else h5_text(version),
        backend=None if backend is None else h5_text(backend),
        model_config=model_config,
        training_config=_json_attr(attrs, "training_config", path),
        layers=layers,
    )


@contextmanager
def open_keras_h5(path: Path) -> Iterator[KerasH5]:
    """Opens ``path`` read-only; weights stay readable until the ``with`` block ends."""
    path = Path(path)
    if path.is_dir():
        raise InputError("expected a Keras .h5 file, got a directory", path)
    try:
        handle = h5py.File(path, "r")
    except H5_ERRORS as exc:  # h5py raises OSError for non-HDF5, truncated and unreadable files
        reason = " ".join(str(exc).split())
        raise InputError(f"not a readable HDF5 file ({reason})", path) from exc
    try:
        try:
            check_h5_objects(handle, path)
            # Nothing so far read a string attribute, so the heap check can skip the weights' bytes.
            check_global_heaps(path, skip=dataset_extents(handle))
            model = _read(handle, path)
        except H5_ERRORS as exc:  # damaged metadata deeper in the file
            raise InputError(f"corrupt HDF5 file ({' '.join(str(exc).split())})", path) from exc
        yield model
    finally:
        handle.close()
