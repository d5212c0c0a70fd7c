"""The Keras side of a tf-keras SavedModel: the layer objects ``tf.keras.models.load_model`` revives,
their variables, ``keras_metadata.pb``, and the matching checkpoint object graph.

tf-keras rebuilds every layer from the config in its metadata (``class_name``, ``config``,
``build_input_shape``), then walks the object graph from each layer by attribute name to find the
variables it just created, and fills them from the checkpoint.  So the object graph is laid out as
tf-keras's own: the model's children ``layer-<i>`` (every layer, in ``model.layers`` order) and
``layer_with_weights-<j>`` (those with variables, listed first), a layer's variables under their
attribute names (``kernel``, ``moving_mean``...), an RNN's under its ``cell``, Bidirectional's under
``forward_layer``/``backward_layer``, TimeDistributed's under ``layer``, and nested models the same way
one level down.  Each layer also lists its variables in Keras order under ``variables``.  The
checkpoint's object graph uses the same node ids (as TensorFlow's does), so a variable's node says
where its value is stored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..._proto import saved_metadata_pb2
from ..._proto.trackable_object_graph_pb2 import TrackableObjectGraph
from ...errors import UnsupportedError
from ...ir.types import DType
from ...ir.weight import Weight
from ..keras_h5_writer import layers_with_weights, tf_keras_model_config
from .keras_shapes import first_call_inputs
from .object_graph import ObjectGraph
from .variables import VARIABLE_VALUE, Variable

KERAS_METADATA_FILE = "keras_metadata.pb"
JsonDict = dict[str, Any]
_RNN = frozenset({"LSTM", "GRU", "SimpleRNN", "RNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"})
_MODELS = frozenset({"Sequential", "Functional", "Model"})
# Variables Keras creates with trainable=False.
_NON_TRAINABLE = frozenset({"moving_mean", "moving_variance", "mean", "variance", "count"})
_DEFAULT_BUILD = frozenset({"InputLayer", "Dropout", "Activation", "Flatten", "Reshape", "Permute",
                            "RepeatVector", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise",
                            "GaussianDropout", "AlphaDropout", "ActivityRegularization", "ReLU", "ELU",
                            "LeakyReLU", "Softmax", "ThresholdedReLU"})


def _name(entry: JsonDict) -> str:
    return str(entry.get("name") or (entry.get("config") or {}).get("name") or "")


def _identifier(class_name: str) -> str:
    if class_name == "Sequential":
        return "_tf_keras_sequential"
    if class_name in _MODELS:
        return "_tf_keras_network"
    if class_name == "InputLayer":
        return "_tf_keras_input_layer"
    return "_tf_keras_rnn_layer" if class_name in _RNN else "_tf_keras_layer"


def _tensor_shape(shape: Sequence[Optional[int]]) -> JsonDict:
    return {"class_name": "TensorShape", "items": list(shape)}


@dataclass
class KerasObjects:
    graph: ObjectGraph
    metadata: Any  # SavedMetadata
    variables: list[Variable] = field(default_factory=list)
    checkpoint: Any = None  # TrackableObjectGraph, built by ``finish``

    def finish(self) -> None:
        """The checkpoint object graph: the same nodes (ids) and layer edges, values on variables."""
        graph = TrackableObjectGraph()
        for node in self.graph.proto.nodes:
            copy = graph.nodes.add()
            for child in node.children:
                if child.local_name != "variables":  # the Keras-order list is only for readers
                    copy.children.add(node_id=child.node_id, local_name=child.local_name)
        for variable in self.variables:
            assert variable.node_id is not None
            attribute = graph.nodes[variable.node_id].attributes.add()
            attribute.name = VARIABLE_VALUE
            attribute.full_name = variable.name
            attribute.checkpoint_key = variable.checkpoint_key
        self.checkpoint = graph


class _Builder:
    def __init__(self, objects: KerasObjects, shapes: dict[str, list[Any]], where: Path,
                 keras_version: str) -> None:
        self.objects = objects
        self.shapes = shapes
        self.where = where
        self.keras_version = keras_version

    # ----- metadata ------------------------------------------------------------------------------------
    def _metadata(self, node_id: int, path: str, class_name: str, entry: JsonDict, top: bool) -> None:
        serialized = {"class_name": class_name, "config": entry.get("config") or {}}
        config = tf_keras_model_config(serialized)["config"]
        name = _name(entry)
        meta: JsonDict = {"name": name, "trainable": config.get("trainable", True),
                          "dtype": config.get("dtype", "float32"),
                          "batch_input_shape": config.get("batch_input_shape"),
                          "must_restore_from_config": False, "class_name": class_name, "config": config}
        if class_name in _MODELS:
            meta.update(class_name="Sequential" if class_name == "Sequential" else "Functional",
                        is_graph_network=True, expects_training_arg=True)
            if top:
                meta.update(keras_version=self.keras_version, backend="tensorflow",
                            model_config={"class_name": meta["class_name"], "config": config})
        elif class_name == "InputLayer":
            meta.update(sparse=config.get("sparse", False), ragged=config.get("ragged", False))
        else:
            meta.update(stateful=bool(config.get("stateful", False)), autocast=True)
        shapes = self.shapes.get(name)
        if shapes:
            meta["build_input_shape"] = (_tensor_shape(shapes[0]) if len(shapes) == 1
                                         else [_tensor_shape(s) for s in shapes])
        elif class_name not in _MODELS and class_name not in _DEFAULT_BUILD:
            raise UnsupportedError(f"layer {name!r} ({class_name}): its input shape cannot be worked out "
                                   "from the model config, and tf-keras needs it to rebuild the layer",
                                   self.where)
        node = self.objects.metadata.nodes.add()
        node.node_id = node_id
        node.node_path = path
        node.identifier = _identifier(class_name)
        node.metadata = json.dumps(meta)
        node.version.producer = 2
        node.version.min_consumer = 1

    # ----- objects -------------------------------------------------------------------------------------
    def model(self, node_id: int, path: str, ckpt: tuple[str, ...], entry: JsonDict,
              weights: Sequence[Weight], top: bool) -> list[int]:
        class_name = str(entry.get("class_name"))
        self._metadata(node_id, path, class_name, entry, top)
        config = entry.get("config") or {}
        layers = [layer for layer in config.get("layers") or [] if isinstance(layer, dict)]
        if class_name == "Sequential" and layers and layers[0].get("class_name") == "InputLayer":
            layers = layers[1:]
        owned = dict(layers_with_weights({"config": {"layers": layers}}, weights, self.where)
                     ) if layers else {}
        graph = self.objects.graph
        variable_ids: list[int] = []
        weighted = 0
        for index, layer in enumerate(layers):
            mine = owned.get(_name(layer), [])
            layer_class = str(layer.get("class_name"))
            if mine:
                local = f"layer_with_weights-{weighted}"
                weighted += 1
                layer_id = graph.user_object(node_id, local, _identifier(layer_class))
                graph.reference(node_id, f"layer-{index}", layer_id)
            else:
                local = f"layer-{index}"
                layer_id = graph.user_object(node_id, local, _identifier(layer_class))
            if layer_class in _MODELS:
                ids = self.model(layer_id, f"{path}.{local}", ckpt + (local,), layer, mine, False)
            else:
                self._metadata(layer_id, f"{path}.{local}", layer_class, layer, False)
                ids = self.place(layer_id, ckpt + (local,), layer, mine)
            self._list(layer_id, ids)
            variable_ids.extend(ids)
        return variable_ids

    def _list(self, parent: int, ids: list[int]) -> None:
        holder = self.objects.graph.user_object(parent, "variables", "trackable_list_wrapper")
        for index, node_id in enumerate(ids):
            self.objects.graph.reference(holder, str(index), node_id)

    def place(self, node_id: int, ckpt: tuple[str, ...], entry: JsonDict,
              weights: Sequence[Weight]) -> list[int]:
        """The variables of one (non-model) layer object under ``node_id``; returns their node ids."""
        class_name = str(entry.get("class_name"))
        config = entry.get("config") or {}
        graph = self.objects.graph
        if class_name in _RNN:
            cell = graph.user_object(node_id, "cell", "_tf_keras_layer")
            return self._variables(cell, ckpt + ("cell",), weights, config)
        inner = config.get("layer") if isinstance(config.get("layer"), dict) else None
        if class_name == "Bidirectional" and inner is not None:
            ids = []
            for side in ("forward", "backward"):
                wanted = f"{side}_{_name(inner)}"
                part = [w for w in weights if w.name.split("/")[1:2] == [wanted]]
                sub = graph.user_object(node_id, f"{side}_layer", _identifier(str(inner.get("class_name"))))
                ids += self.place(sub, ckpt + (f"{side}_layer",), inner, part)
            return ids
        if inner is not None:  # TimeDistributed and other single-layer wrappers
            sub = graph.user_object(node_id, "layer", _identifier(str(inner.get("class_name"))))
            return self.place(sub, ckpt + ("layer",), inner, weights)
        return self._variables(node_id, ckpt, weights, config)

    def _variables(self, parent: int, ckpt: tuple[str, ...], weights: Sequence[Weight],
                   config: JsonDict) -> list[int]:
        ids = []
        for weight in weights:
            attribute = weight.name.rsplit("/", 1)[-1]
            trainable = bool(config.get("trainable", True)) and attribute not in _NON_TRAINABLE
            dtype = DType.from_numpy(weight.dtype)
            variable = Variable(ckpt + (attribute,), weight.name, weight.data, dtype, trainable)
            variable.node_id = self.objects.graph.variable(parent, attribute, variable)
            self.objects.variables.append(variable)
            ids.append(variable.node_id)
        return ids


def keras_objects(model_config: JsonDict, weights: Sequence[Weight], where: Path,
                  keras_version: str) -> KerasObjects:
    """The object graph (root = the model), metadata and variables of a TF.js topology's model."""
    class_name = str(model_config.get("class_name"))
    if class_name not in _MODELS:
        raise UnsupportedError(f"the model config is a {class_name!r}, not a Sequential or functional model",
                               where)
    objects = KerasObjects(ObjectGraph(_identifier(class_name)), saved_metadata_pb2.SavedMetadata())
    builder = _Builder(objects, first_call_inputs(model_config), where, keras_version)
    builder.model(0, "root", (), model_config, list(weights), True)
    objects.finish()
    return objects
