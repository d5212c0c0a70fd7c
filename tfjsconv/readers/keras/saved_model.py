"""tf-keras 2 SavedModel directories (``model.save(dir, save_format="tf")``) read as Keras models.

The architecture comes from ``keras_metadata.pb`` (a ``SavedMetadata`` proto that is not among our
generated protos, so it is decoded here with a minimal wire-format reader); the weights come from the
SavedModel object graph, bound to checkpoint keys through the checkpoint's TrackableObjectGraph
(both graphs share node ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ...errors import InputError
from ...ir.graph import LazyArray
from ...limits import load_json
from ..tf.bundle import TensorBundle
from ..tf.saved_model import read_saved_model

METADATA_FILE = "keras_metadata.pb"

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


@dataclass(frozen=True)
class MetadataNode:
    node_id: int
    node_path: str
    identifier: str
    metadata: str


@dataclass(frozen=True)
class SavedWeight:
    name: str  # the variable's Keras name, e.g. ``dense/kernel`` (no ``:0`` suffix)
    data: LazyArray


@dataclass(frozen=True)
class SavedLayer:
    name: str
    weights: list[SavedWeight]


@dataclass(frozen=True)
class KerasSavedModel:
    keras_version: str
    model_config: dict[str, Any]
    training_config: Optional[dict[str, Any]]
    layers: list[SavedLayer]


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(data: bytes) -> list[tuple[int, object]]:
    """(field number, int or bytes) pairs of one protobuf message, in wire order."""
    out: list[tuple[int, object]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == _LENGTH:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError("truncated length-delimited field")
            out.append((number, data[pos:pos + size]))
            pos += size
        elif wire in (_FIXED64, _FIXED32):
            pos += 8 if wire == _FIXED64 else 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    if pos != len(data):
        raise ValueError("truncated message")
    return out


def parse_saved_metadata(data: bytes) -> list[MetadataNode]:
    """Decodes ``SavedMetadata {repeated SavedObject nodes = 1}`` where SavedObject has
    ``node_id = 2 (int32), node_path = 3, identifier = 4, metadata = 5 (JSON text)``."""
    nodes = []
    for number, raw in _fields(data):
        if number != 1 or not isinstance(raw, bytes):
            continue
        values: dict[int, object] = {}
        for field, value in _fields(raw):
            values[field] = value
        node_id = values.get(2, 0)
        texts = {k: values.get(k, b"") for k in (3, 4, 5)}
        if not isinstance(node_id, int) or not all(isinstance(v, bytes) for v in texts.values()):
            raise ValueError("unexpected field type in SavedObject")
        decoded = {k: v.decode("utf-8") for k, v in texts.items() if isinstance(v, bytes)}
        nodes.append(MetadataNode(node_id, decoded[3], decoded[4], decoded[5]))
    return nodes


def read_keras_metadata(path: Path) -> list[MetadataNode]:
    try:
        return parse_saved_metadata(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"corrupt keras_metadata.pb ({exc})", path) from None


def _plain_json(obj: dict[str, Any]) -> Any:
    """tf-keras's SavedModel JSON encoder wraps tuples and TensorShapes as
    ``{"class_name": "__tuple__" | "TensorShape", "items": [...]}``; HDF5 configs, which the config
    translator expects, store them as plain lists."""
    if obj.get("class_name") in ("__tuple__", "TensorShape") and set(obj) == {"class_name", "items"}:
        return obj["items"]
    return obj


def _json(node: MetadataNode, path: Path) -> dict[str, Any]:
    value = load_json(node.metadata, f"metadata of {node.node_path}", path, object_hook=_plain_json)
    if not isinstance(value, dict):
        raise InputError(f"metadata of {node.node_path} is not a JSON object", path)
    return value


def _children(obj: Any) -> dict[str, int]:
    return {child.local_name: child.node_id for child in obj.children}


def _indexed(children: dict[str, int], prefix: str) -> list[int]:
    """Node ids of children ``<prefix>0``, ``<prefix>1``, ... in index order."""
    found = {int(name[len(prefix):]): node for name, node in children.items()
             if name.startswith(prefix) and name[len(prefix):].isdigit()}
    return [found[i] for i in sorted(found)]


def _variable_name(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


def open_keras_saved_model(directory: Path) -> KerasSavedModel:
    directory = Path(directory)
    metadata_path = directory / METADATA_FILE
    if not metadata_path.is_file():
        raise InputError("not a Keras SavedModel (no keras_metadata.pb); use --input_format tf_saved_model",
                         directory)
    by_id = {node.node_id: node for node in read_keras_metadata(metadata_path)}
    root = next((n for n in by_id.values() if n.node_path == "root"), None)
    if root is None:
        raise InputError("keras_metadata.pb has no root node", metadata_path)
    root_json = _json(root, metadata_path)
    if "config" not in root_json or "class_name" not in root_json:
        raise InputError("keras_metadata.pb root is not a Keras model (no class_name/config)", metadata_path)

    model = read_saved_model(directory)
    if not model.meta_graphs:
        raise InputError("saved_model.pb has no meta graph", directory)
    meta = model.meta_graphs[0]
    version = root_json.get("keras_version")
    if not isinstance(version, str) or not version:
        # tf-keras 2 writes no keras_version here; it is versioned with TensorFlow itself.
        tf_version = meta.meta_info_def.tensorflow_version
        version = tf_version if tf_version.startswith("2.") else "2.x"
    objects = meta.object_graph_def.nodes
    bundle = TensorBundle.open(directory / "variables" / "variables")
    try:
        checkpoint = bundle.object_graph()
        if checkpoint is None:
            raise InputError("variables checkpoint has no object graph", directory / "variables")
        layers = _layers(objects, checkpoint, by_id, bundle, metadata_path)
    finally:
        bundle.close()
    training = root_json.get("training_config")
    # `model_config` is model.get_config() as HDF5 would store it; older writers only have `config`.
    config = root_json.get("model_config")
    if not isinstance(config, dict) or "config" not in config:
        config = {"class_name": root_json["class_name"], "config": root_json["config"]}
    return KerasSavedModel(keras_version=version,
                           model_config=config,
                           training_config=training if isinstance(training, dict) else None,
                           layers=layers)


def _object(objects: Any, node_id: int, path: Path, what: str) -> Any:
    """``objects[node_id]``, refusing an id outside the object graph (a negative one would index
    from the end)."""
    if not 0 <= node_id < len(objects):
        raise InputError(f"{what} refers to object {node_id}, outside the object graph of {len(objects)} "
                         "objects", path)
    return objects[node_id]


def _checkpoint_key(checkpoint: Any, node_id: int, path: Path) -> str:
    if not 0 <= node_id < len(checkpoint.nodes):
        raise InputError(f"variable node {node_id} missing from the checkpoint object graph", path)
    for attribute in checkpoint.nodes[node_id].attributes:
        if attribute.name == "VARIABLE_VALUE":
            return attribute.checkpoint_key
    raise InputError(f"checkpoint object {node_id} holds no variable value", path)


def _layers(objects: Any, checkpoint: Any, by_id: dict[int, MetadataNode], bundle: TensorBundle,
            path: Path) -> list[SavedLayer]:
    root_children = _children(_object(objects, 0, path, "the model"))
    layers = []
    # `layer-<i>` follows model.layers order, the order of the config and of the weights manifest.
    for layer_id in _indexed(root_children, "layer-"):
        node = by_id.get(layer_id)
        if node is None:
            raise InputError(f"object {layer_id} (a layer) has no Keras metadata", path)
        name = _json(node, path).get("name")
        if not isinstance(name, str):
            raise InputError(f"layer {node.node_path} has no name in its metadata", path)
        children = _children(_object(objects, layer_id, path, f"layer {name}"))
        # Keras serializes layer.variables (= layer.weights: trainable then non-trainable, in creation
        # order) as a list-like object whose children "0", "1", ... give Keras's own weight order.
        groups = ("variables",) if "variables" in children else ("trainable_variables",
                                                                 "non_trainable_variables")
        variable_ids: list[int] = []
        for group in groups:
            if group in children:
                listing = _object(objects, children[group], path, f"{group} of layer {name}")
                variable_ids.extend(_indexed(_children(listing), ""))
        if not any(group in children for group in groups):
            variable_ids = _tracked_variables(objects, layer_id)
        weights = []
        for variable_id in variable_ids:
            saved = _object(objects, variable_id, path, f"a weight of layer {name}")
            if saved.WhichOneof("kind") != "variable":
                raise InputError(f"weight {variable_id} of layer {name} is not a variable", path)
            key = _checkpoint_key(checkpoint, variable_id, path)
            weights.append(SavedWeight(_variable_name(saved.variable.name), bundle.tensor(key)))
        layers.append(SavedLayer(name, weights))
    return layers


def _tracked_variables(objects: Any, layer_id: int) -> list[int]:
    """The variables a layer tracks when its object has no variable lists (``model.save(...,
    save_traces=False)`` keeps only attribute edges: ``kernel``, ``forward_layer/cell/bias``, ...).

    Trainable ones first, as Keras orders ``layer.weights``; the weights are bound to tfjs-layers by
    name, so the order within each group (object-graph order here) does not change the model."""
    found: list[int] = []
    stack, seen = [layer_id], {layer_id}
    while stack:
        node_id = stack.pop(0)
        for child in objects[node_id].children:
            if child.node_id in seen or not 0 <= child.node_id < len(objects):
                continue
            seen.add(child.node_id)
            kind = objects[child.node_id].WhichOneof("kind")
            if kind == "variable":
                found.append(child.node_id)
            elif kind == "user_object":
                stack.append(child.node_id)
    return sorted(found, key=lambda i: (not objects[i].variable.trainable, found.index(i)))
