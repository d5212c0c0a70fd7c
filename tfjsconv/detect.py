"""Tells the input format of a path from its content, so ``--input_format`` may be omitted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from .errors import InputError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _has_hdf5_signature(path: Path) -> bool:
    # The superblock may follow a user block of 512, 1024, 2048, ... bytes.
    with open(path, "rb") as handle:
        offset = 0
        while True:
            handle.seek(offset)
            head = handle.read(8)
            if len(head) < 8:
                return False
            if head == HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else offset * 2
            if offset > (1 << 20):
                return False


def _model_json_format(path: Path) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            kind = json.load(handle).get("format")
    except (OSError, ValueError, AttributeError):
        return None
    return {"layers-model": "tfjs_layers_model", "graph-model": "tfjs_graph_model"}.get(kind)


def _looks_like_onnx(path: Path) -> bool:
    # ModelProto starts with ir_version (field 1, varint): tag byte 0x08.
    with open(path, "rb") as handle:
        return handle.read(1) == b"\x08" and path.suffix.lower() == ".onnx"


def detect_format(input_path: str) -> str:
    """Returns an input format name (routes.input_formats())."""
    if is_url(input_path):
        return "tf_hub"
    path = Path(input_path)
    if not path.exists():
        raise InputError("no such file or directory", input_path)
    if path.is_dir():
        if (path / "tfhub_module.pb").is_file():
            return "tf_hub"
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return "tf_saved_model"
        if (path / "model.json").is_file():
            found = _model_json_format(path / "model.json")
            if found:
                return found
        if (path / "config.json").is_file() and (path / "model.weights.h5").is_file():
            return "keras_keras"
        raise InputError("cannot tell the model format of this directory (no saved_model.pb, "
                         "tfhub_module.pb or model.json); pass --input_format", input_path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
        if head.startswith(ZIP_SIGNATURE):
            return "keras_keras"
        if _has_hdf5_signature(path):
            return "keras"
    except OSError as exc:
        raise InputError(f"cannot read the input: {exc.strerror or exc}", input_path) from None
    suffix = path.suffix.lower()
    if path.name in ("saved_model.pb", "saved_model.pbtxt"):
        return "tf_saved_model"
    if suffix == ".json":
        found = _model_json_format(path)
        if found:
            return found
    if suffix == ".onnx" and _looks_like_onnx(path):
        return "onnx"
    if suffix in (".pb", ".pbtxt"):
        return "tf_frozen_model"
    if suffix in (".h5", ".hdf5", ".keras"):
        raise InputError(f"the file has a {suffix} name but is not an HDF5 file or a zip archive "
                         "(truncated or not a Keras model)", input_path)
    raise InputError("cannot tell the model format of this file (not HDF5, zip, GraphDef or ONNX); "
                     "pass --input_format", input_path)


def format_hint(input_path: str, detected: str) -> str:
    """A note on what else the detected input can become ("" when there is nothing to say)."""
    if detected == "tf_saved_model" and not is_url(input_path):
        path = Path(input_path)
        directory = path if path.is_dir() else path.parent
        if (directory / "keras_metadata.pb").is_file():
            return ("this SavedModel was written by tf-keras (it has keras_metadata.pb): converted as a "
                    "graph model; --input_format=keras_saved_model gives a layers model instead")
    return ""


DEFAULT_OUTPUT = {
    "keras": "tfjs_layers_model",
    "keras_keras": "tfjs_layers_model",
    "keras_saved_model": "tfjs_layers_model",
    "tf_saved_model": "tfjs_graph_model",
    "tf_frozen_model": "tfjs_graph_model",
    "tf_hub": "tfjs_graph_model",
    "onnx": "tfjs_graph_model",
    "tfjs_layers_model": "keras",
    "tfjs_graph_model": "tf_saved_model",
}
