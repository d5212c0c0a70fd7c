"""Fuzz cases: a model as a set of files (relative path -> bytes) plus the path the converter is given.

A case is what one reader consumes - an .h5 file with the files its links could reach, a SavedModel
directory, a checkpoint prefix, an .onnx file with its external data, a layers model.json with its
shards - so one mutation may touch any of them.  ``encode``/``decode`` turn a case into one byte string
(atheris feeds bytes), and ``seeds(reader)`` gives the starting corpus built from fixtures/models.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "fixtures" / "models"

READERS = ("h5", "zip", "saved_model", "checkpoint", "onnx", "layers", "graph_model")


@dataclass
class Case:
    files: dict[str, bytes]
    entry: str  # the path (relative) the reader is given
    label: str = ""  # where the seed came from
    extras: dict[str, str] = field(default_factory=dict)  # per-case options (output_node_names...)

    def copy(self) -> Case:
        return Case(dict(self.files), self.entry, self.label, dict(self.extras))

    def write(self, directory: Path) -> Path:
        for name, data in self.files.items():
            target = directory / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return directory / self.entry


_MAGIC = b"TFJSFUZZ1"


def encode(case: Case) -> bytes:
    parts = [_MAGIC]
    items = [("\0entry", case.entry.encode()), ("\0label", case.label.encode())]
    items += [(f"\0x:{k}", v.encode()) for k, v in sorted(case.extras.items())]
    items += [(name, data) for name, data in sorted(case.files.items())]
    parts.append(struct.pack("<I", len(items)))
    for name, data in items:
        raw = name.encode("utf-8", "surrogateescape")
        parts.append(struct.pack("<II", len(raw), len(data)))
        parts.append(raw)
        parts.append(data)
    return b"".join(parts)


def decode(blob: bytes) -> Optional[Case]:
    """The case encoded in ``blob``; None for bytes that are not one (atheris' first inputs)."""
    if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + 4:
        return None
    pos = len(_MAGIC)
    (count,) = struct.unpack_from("<I", blob, pos)
    pos += 4
    entry, label = "", ""
    extras: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for _ in range(min(count, 10000)):
        if pos + 8 > len(blob):
            return None
        name_len, data_len = struct.unpack_from("<II", blob, pos)
        pos += 8
        if pos + name_len + data_len > len(blob):
            return None
        name = blob[pos:pos + name_len].decode("utf-8", "surrogateescape")
        data = blob[pos + name_len:pos + name_len + data_len]
        pos += name_len + data_len
        if name == "\0entry":
            entry = data.decode("utf-8", "replace")
        elif name == "\0label":
            label = data.decode("utf-8", "replace")
        elif name.startswith("\0x:"):
            extras[name[3:]] = data.decode("utf-8", "replace")
        elif _safe_name(name):
            files[name] = data
    if not entry or not _safe_name(entry):
        return None
    return Case(files, entry, label, extras)


def _safe_name(name: str) -> bool:
    """Relative, inside the case directory: a decoded case never writes anywhere else."""
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and ".." not in parts and "" not in parts \
        and "\0" not in name


def _read_tree(directory: Path, prefix: str) -> dict[str, bytes]:
    return {f"{prefix}/{p.relative_to(directory).as_posix()}": p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def _h5_seeds() -> list[Case]:
    names = ["keras2_dense_dropout_bn", "keras3_conv_pool", "keras2_weights_only", "keras3_weights_only",
             "keras2_embedding_lstm", "keras3_nested_sequential", "keras2_multi_io", "keras3_gru"]
    cases = []
    for name in names:
        directory = MODELS / name
        for path in sorted(p for p in directory.iterdir() if p.suffix == ".h5"):
            # A second HDF5 file beside it: what an injected external link may point at.
            cases.append(Case({path.name: path.read_bytes(), "other.h5": _tiny_h5()}, path.name, name))
    return cases


def _tiny_h5() -> bytes:
    import io

    import h5py
    import numpy as np

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_dataset("kernel", data=np.full((3, 2), 42.0, np.float32))
    return buffer.getvalue()


def _zip_seeds() -> list[Case]:
    names = ["keras3zip_conv_pool", "keras3zip_dense_dropout_bn", "keras3zip_tfkeras_multi_io",
             "keras3zip_weightsonly_nested_sequential", "keras3zip_gru", "keras3zip_time_distributed"]
    return [Case({"model.keras": (MODELS / n / "model.keras").read_bytes()}, "model.keras", n) for n in names
            if (MODELS / n / "model.keras").is_file()]


def _saved_model_seeds() -> list[Case]:
    names = ["tf_module_dense", "tf_while_cond", "tf_tf1_savedmodel", "tf_hash_table", "tf_two_signatures",
             "tf_tf1_control_flow", "tf_hub_module"]
    names += ["tf_tfkeras_savedmodel"]  # keras_metadata.pb: the keras_saved_model route as well
    cases = [Case(_read_tree(MODELS / n / "saved_model", "saved_model"), "saved_model", n) for n in names]
    # A TF1 Hub module directory (tfhub_module.pb, MetaGraphs per tag set): the tf_hub route.
    cases.append(Case(_read_tree(MODELS / "tf_tf1_hub_module" / "module", "module"), "module",
                      "tf_tf1_hub_module"))
    frozen = MODELS / "tf_frozen"
    import json

    outputs = json.loads((frozen / "fixture.json").read_text())["options"]["output_node_names"]
    cases.append(Case({"model.pb": (frozen / "model.pb").read_bytes()}, "model.pb", "tf_frozen",
                      {"output_node_names": outputs} if outputs else {}))
    return cases


def _checkpoint_seeds() -> list[Case]:
    names = ["tf_module_dense", "tf_while_cond", "tf_tf1_savedmodel", "tf_hash_table", "tf_op_zoo",
             "tf_tfkeras_savedmodel"]
    cases = []
    for name in names:
        variables = MODELS / name / "saved_model" / "variables"
        if (variables / "variables.index").is_file():
            cases.append(Case(_read_tree(variables, "variables"), "variables/variables", name))
    return cases


def _onnx_seeds() -> list[Case]:
    names = ["onnx_mlp_layernorm", "onnx_cnn", "onnx_shape_ops", "onnx_misc_ops", "onnx_gelu20",
             "onnx_opset18_external_data", "onnx_legacy_opset11"]
    cases = []
    for name in names:
        directory = MODELS / name
        files = {p.name: p.read_bytes() for p in directory.iterdir()
                 if p.suffix in (".onnx", ".bin", ".data")}
        cases.append(Case(files, "model.onnx", name))
    return cases


_LAYERS_CACHE: list[Case] = []


def _layers_seeds() -> list[Case]:
    """TF.js layers models converted (once per process) from Keras fixtures by tfjsconv itself."""
    if _LAYERS_CACHE:
        return [c.copy() for c in _LAYERS_CACHE]
    import shutil
    import tempfile

    import tfjsconv

    sources = [("keras2_dense_dropout_bn", {}), ("keras3_conv_pool", {"quantize_uint8": True}),
               ("keras2_embedding_lstm", {"quantize_float16": True}), ("keras3_multi_io", {}),
               ("keras2_weights_only", {"split_weights_by_layer": True})]
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-fuzz-seed-"))
    try:
        for name, options in sources:
            source = next((MODELS / name).glob("*.h5"))
            out = work / name
            tfjsconv.convert(str(source), str(out), weight_shard_size_bytes=4096, **options)
            _LAYERS_CACHE.append(Case(_read_tree(out, "web"), "web/model.json", name))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [c.copy() for c in _LAYERS_CACHE]


_GRAPH_CACHE: list[Case] = []


def _graph_model_seeds() -> list[Case]:
    """TF.js graph models converted (once per process) from TF fixtures by tfjsconv itself."""
    if _GRAPH_CACHE:
        return [c.copy() for c in _GRAPH_CACHE]
    import shutil
    import tempfile

    import tfjsconv

    sources = [("tf_module_dense", {}), ("tf_while_cond", {}), ("tf_hash_table", {}),
               ("tf_tf1_savedmodel", {"quantize_uint8": True}), ("tf_op_zoo", {"quantize_float16": True})]
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-fuzz-seed-"))
    try:
        for name, options in sources:
            out = work / name
            tfjsconv.convert(str(MODELS / name / "saved_model"), str(out), weight_shard_size_bytes=4096,
                             **options)
            _GRAPH_CACHE.append(Case(_read_tree(out, "web"), "web/model.json", name))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [c.copy() for c in _GRAPH_CACHE]


def seeds(reader: str) -> list[Case]:
    return {"h5": _h5_seeds, "zip": _zip_seeds, "saved_model": _saved_model_seeds,
            "checkpoint": _checkpoint_seeds, "onnx": _onnx_seeds, "layers": _layers_seeds,
            "graph_model": _graph_model_seeds}[reader]()
