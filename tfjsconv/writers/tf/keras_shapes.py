"""Static output shapes of every call in a Keras 2 (TF.js) functional model, nested models included:
the shapes Keras 3 records in each call's keras tensors.

Single-output layer classes use the rules of ``readers/keras/shapes``; this adds the layers that wrap
or contain others (RNNs, Bidirectional, TimeDistributed, nested Sequential and functional models),
whose results the reader never needed.  Calls are resolved until nothing changes, so shared layers
called after later layers work too.  A call whose shape cannot be derived gets none.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ...readers.keras.shapes import RULES as SINGLE_OUTPUT_RULES
from ...readers.keras.shapes import Shape
from ...registry import Registry

JsonDict = dict[str, Any]
Outputs = Optional[list[Shape]]
Rule = Callable[[JsonDict, list[Shape]], Outputs]
RULES: Registry[str, Rule] = Registry("Keras output-shape rule")
MODEL_CLASSES = frozenset({"Sequential", "Functional", "Model"})


def _name(entry: JsonDict) -> str:
    return str(entry.get("name") or (entry.get("config") or {}).get("name"))


def outputs_of(entry: JsonDict, inputs: list[Shape]) -> Outputs:
    """Output shapes of calling the layer (or model) ``entry`` on inputs of these shapes."""
    class_name = str(entry.get("class_name"))
    config = entry.get("config") or {}
    if class_name in MODEL_CLASSES:
        return model_outputs(entry, inputs)
    rule = RULES.get(class_name)
    if rule is not None:
        return rule(config, inputs)
    single_rule = SINGLE_OUTPUT_RULES.get(class_name)
    try:
        single = single_rule(config, inputs) if single_rule is not None else None
    except (KeyError, TypeError, ValueError, IndexError):  # a config the rule does not understand
        single = None
    return [single] if single is not None else None


def _rnn_rule(states: int) -> Rule:
    def rule(config: JsonDict, inputs: list[Shape]) -> Outputs:
        units = int(config["units"])
        batch, steps = inputs[0][0], inputs[0][1]
        out = (batch, steps, units) if config.get("return_sequences") else (batch, units)
        return [out] + ([(batch, units)] * states if config.get("return_state") else [])
    return rule


for _class, _states in (("LSTM", 2), ("GRU", 1), ("SimpleRNN", 1)):
    RULES.add(_class, _rnn_rule(_states))


@RULES.register("Bidirectional")
def _bidirectional(config: JsonDict, inputs: list[Shape]) -> Outputs:
    inner = config.get("layer") or {}
    found = outputs_of(dict(inner, config=dict(inner.get("config") or {}, return_state=False)), inputs)
    if not found:
        return None
    out = found[0]
    mode = config.get("merge_mode", "concat")
    if mode is None:
        return [out, out]
    if mode == "concat":
        out = (*out[:-1], None if out[-1] is None else 2 * out[-1])
    return [out]


@RULES.register("TimeDistributed")
def _time_distributed(config: JsonDict, inputs: list[Shape]) -> Outputs:
    shape = inputs[0]
    inner = outputs_of(config.get("layer") or {}, [(shape[0], *shape[2:])])
    if not inner:
        return None
    return [(inner[0][0], shape[1], *inner[0][1:])]


def _sources(node: Any) -> Optional[list[tuple[str, int, int]]]:
    if not isinstance(node, list):
        return None
    out = []
    for item in node:
        if not (isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str)):
            return None
        out.append((item[0], int(item[1]), int(item[2])))
    return out


def call_shapes(entry: JsonDict, inputs: Optional[list[Shape]] = None) -> dict[tuple[str, int], list[Shape]]:
    """Output shapes of every call of every layer of a functional model, keyed by (layer, node index
    in Keras 2 numbering); ``inputs`` replaces the model's own input shapes (a nested call)."""
    config = entry.get("config") or {}
    layers = [layer for layer in config.get("layers") or [] if isinstance(layer, dict)]
    found: dict[tuple[str, int], list[Shape]] = {}
    input_names = [ref[0] for ref in _refs(config.get("input_layers"))]
    for layer in layers:
        if layer.get("class_name") == "InputLayer":
            name = _name(layer)
            shape = (layer.get("config") or {}).get("batch_input_shape")
            if inputs is not None and name in input_names:
                shape = inputs[input_names.index(name)]
            if isinstance(shape, (list, tuple)):
                found[(name, 0)] = [tuple(shape)]
    pending = [(layer, k) for layer in layers for k in range(len(layer.get("inbound_nodes") or []))]
    progress = True
    while pending and progress:
        progress = False
        for layer, k in list(pending):
            sources = _sources((layer.get("inbound_nodes") or [])[k])
            shapes = [found.get((s, n), [None] * (t + 1))[t] for s, n, t in sources or []]
            if sources is None or any(s is None for s in shapes):
                continue
            pending.remove((layer, k))
            progress = True
            offset = 1 if layer.get("class_name") in MODEL_CLASSES else 0  # a model's own node is 0
            result = outputs_of(layer, [s for s in shapes if s is not None])
            if result:
                found[(_name(layer), k + offset)] = result
    return found


def _refs(value: Any) -> list[tuple[str, int, int]]:
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        value = [value]
    return [(v[0], int(v[1]), int(v[2])) for v in value or [] if isinstance(v, list) and len(v) >= 3]


def model_outputs(entry: JsonDict, inputs: list[Shape]) -> Outputs:
    config = entry.get("config") or {}
    if entry.get("class_name") == "Sequential":
        current: Optional[list[Shape]] = list(inputs)
        for layer in config.get("layers") or []:
            if not isinstance(layer, dict) or layer.get("class_name") == "InputLayer" or not current:
                continue
            current = outputs_of(layer, current[:1])
        return current
    found = call_shapes(entry, inputs)
    out = []
    for name, node, tensor in _refs(config.get("output_layers")):
        shapes = found.get((name, node))
        if not shapes or tensor >= len(shapes):
            return None
        out.append(shapes[tensor])
    return out


def first_call_inputs(entry: JsonDict, inputs: Optional[list[Shape]] = None) -> dict[str, list[Shape]]:
    """Input shapes of the first call of every layer, nested models' layers included (by name):
    what tf-keras builds a revived layer with."""
    config = entry.get("config") or {}
    layers = [layer for layer in config.get("layers") or [] if isinstance(layer, dict)]
    found: dict[str, list[Shape]] = {}
    if entry.get("class_name") == "Sequential":
        first = (layers[0].get("config") or {}) if layers else {}
        shape = first.get("batch_input_shape")
        current: Optional[list[Shape]] = inputs or ([tuple(shape)] if isinstance(shape, list) else None)
        for layer in layers:
            if layer.get("class_name") == "InputLayer" or not current:
                continue
            found[_name(layer)] = current[:1]
            _nested(layer, current[:1], found)
            current = outputs_of(layer, current[:1])
        return found
    shapes = call_shapes(entry, inputs)
    for layer in layers:
        nodes = layer.get("inbound_nodes") or []
        sources = _sources(nodes[0]) if nodes else None
        if not sources:
            continue
        known = [shapes.get((s, n), [None] * (t + 1))[t] for s, n, t in sources]
        if all(shape is not None for shape in known):
            found[_name(layer)] = [shape for shape in known if shape is not None]
            _nested(layer, found[_name(layer)], found)
    return found


def _nested(layer: JsonDict, inputs: list[Shape], found: dict[str, list[Shape]]) -> None:
    if layer.get("class_name") in MODEL_CLASSES:
        for name, shapes in first_call_inputs(layer, inputs).items():
            found.setdefault(name, shapes)
