"""Hand-written Keras model configs for lowering tests: tf-keras 2 style (``[[layer, 0, 0, kwargs]]``
inbound nodes) and Keras 3 style (``{"args": [...], "kwargs": {...}}``), lowered and run with the
numpy interpreter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np

from tfjsconv.ir.graph import Graph
from tfjsconv.ir.interpret import interpret
from tfjsconv.ir.weight import Weight
from tfjsconv.lowering.keras.model import KerasModelSource, lower_keras_model

JsonDict = dict[str, Any]


def input_layer(name: str, shape: Sequence[Optional[int]], dtype: str = "float32") -> JsonDict:
    return {"class_name": "InputLayer", "name": name, "inbound_nodes": [],
            "config": {"batch_input_shape": [None, *shape], "dtype": dtype, "name": name}}


def layer(cls: str, name: str, node: Any, **config: Any) -> JsonDict:
    """A layer called once; ``node`` is the inbound node as saved (a str means ``[[src, 0, 0, {}]]``)."""
    if isinstance(node, str):
        node = [[node, 0, 0, {}]]
    return {"class_name": cls, "name": name, "inbound_nodes": [node],
            "config": {"name": name, "trainable": True, "dtype": "float32", **config}}


def k3_tensor(source: str, index: int = 0) -> JsonDict:
    return {"class_name": "__keras_tensor__", "config": {"shape": None, "dtype": "float32",
                                                         "keras_history": [source, 0, index]}}


def k3_op(cls: str, name: str, args: list[Any], kwargs: Optional[JsonDict] = None,
          module: str = "keras.src.ops.numpy", **config: Any) -> JsonDict:
    """A Keras 3 functional op node (``module`` keras.src.ops.*)."""
    return {"module": module, "class_name": cls, "name": name, "config": {"name": name, **config},
            "inbound_nodes": [{"args": args, "kwargs": kwargs or {}}]}


def functional(layers: Sequence[JsonDict], inputs: Sequence[str], outputs: Sequence[Any]) -> JsonDict:
    outs = [[o, 0, 0] if isinstance(o, str) else list(o) for o in outputs]
    return {"class_name": "Functional",
            "config": {"name": "model", "layers": list(layers), "input_layers": [[i, 0, 0] for i in inputs],
                       "output_layers": outs}}


def source(config: JsonDict, weights: Mapping[str, Mapping[str, np.ndarray]],
           keras3: bool = False) -> KerasModelSource:
    """``weights``: layer -> {variable path below the layer: array}."""
    named = [(name, [Weight(f"{name}/{var}", np.asarray(array, np.float32)) for var, array in items.items()])
             for name, items in weights.items()]
    return KerasModelSource(config, named, keras3)


def lower(config: JsonDict, weights: Mapping[str, Mapping[str, np.ndarray]] = {},  # noqa: B006
          keras3: bool = False) -> Graph:
    return lower_keras_model(source(config, weights, keras3))


def run(graph: Graph, **feeds: np.ndarray) -> list[np.ndarray]:
    out = interpret(graph, feeds)
    return [np.asarray(out[key]) for key, _ in graph.outputs]


def rng_array(rng: np.random.Generator, *shape: int, scale: float = 0.5) -> np.ndarray:
    return rng.normal(0.0, scale, shape).astype(np.float32)
