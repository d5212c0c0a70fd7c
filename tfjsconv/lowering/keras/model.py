"""Walks a Keras model config (tf-keras 2 or Keras 3; Functional, Sequential, nested in each other,
shared layers, several inputs and outputs) and lowers every layer call into one TF-op graph.

Nothing in the config is executed: layers are looked up by class in the lowering registry, and every
class that has no lowering (custom classes, ``Lambda``) is listed in one error before the graph is
built.  Signature keys are the model's input and output layer names, as in the serving signature of
the same model saved by Keras, which is what the official converter writes.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ...errors import InputError, UnsupportedError
from ...ir.graph import ArrayLike, Graph, Value
from ...ir.types import DType
from ...ir.weight import Weight
from ...readers.keras.config import _LAMBDA_REASON, MODEL_CLASSES, translate_class_names
from ...readers.keras.layer_args import check_window_args
from ..builder import Builder
from . import layers as _builtin_layers  # noqa: F401  (registers the built-in lowerings)
from .activations import check_activation
from .registry import (
    LAYERS,
    LayerCall,
    LayerWeights,
    Lowered,
    LoweringOptions,
    Refusal,
    layer_dtype,
    layer_key,
)

JsonDict = dict[str, Any]
_ACTIVATION_KEYS = ("activation", "recurrent_activation")


@dataclass(frozen=True)
class KerasModelSource:
    """What the routes hand over: the model config, the stored weights as the layers route names
    them (``(group, [Weight("<layer>/<variable>", data), ...])``) and which Keras wrote the file."""

    config: JsonDict
    weights: Sequence[tuple[str, Sequence[Weight]]]
    keras3: bool
    path: Optional[Path] = None


@dataclass(frozen=True)
class _Ref:
    """A tensor a call reads: output ``tensor`` of call ``node`` (as saved) of layer ``layer``."""

    layer: str
    node: int
    tensor: int


class _Poison:
    """Stands for the outputs of a refused layer, so the walk can go on and report every refusal."""


POISON = _Poison()


def _is_custom(entry: JsonDict) -> bool:
    cls = str(entry.get("class_name"))
    registered = entry.get("registered_name")
    module = entry.get("module")
    if ">" in cls:
        return True
    # tf-keras's own classes in a .keras archive it wrote live in ``tf_keras.src...`` (TFOpLambda,
    # SlicingOpLambda), Keras 3's in ``keras.src...`` / ``keras.layers``.
    if isinstance(module, str) and not module.startswith(("keras", "tf_keras")):
        return True
    return isinstance(registered, str) and registered not in (cls, "function") and ">" in registered


def _name(entry: JsonDict) -> str:
    config = entry.get("config")
    name = entry.get("name")
    if name is None and isinstance(config, dict):
        name = config.get("name")
    return str(name) if name is not None else f"<unnamed {entry.get('class_name')}>"


def _layers_of(entry: JsonDict) -> list[JsonDict]:
    config = entry.get("config")
    layers = config.get("layers") if isinstance(config, dict) else config
    return [layer for layer in layers if isinstance(layer, dict)] if isinstance(layers, list) else []


def _triples(value: Any) -> list[tuple[str, int, int]]:
    """``input_layers``/``output_layers``: a list of triples, or one bare triple (Keras 3)."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) \
            and all(isinstance(v, int) for v in value[1:]):
        value = [value]
    return [(str(v[0]), int(v[1]), int(v[2])) for v in value or ()]


class _Walk:
    def __init__(self, source: KerasModelSource, options: Optional[LoweringOptions] = None) -> None:
        self.source = source
        self.options = options or LoweringOptions()
        self.path = str(source.path) if source.path is not None else None
        self.keras3 = source.keras3
        self.builder = Builder(Graph(name="graph"))
        self.refusals: list[tuple[str, str, str]] = []  # (layer, class, why)
        self.entries: dict[str, list[JsonDict]] = {}  # layer name -> its config entries, any depth
        self.weights: dict[str, LayerWeights] = {}
        self.lowered: set[str] = set()

    # ----- before building --------------------------------------------------------------------------
    def index(self, entry: JsonDict) -> None:
        for layer in _layers_of(entry):
            self.entries.setdefault(_name(layer), []).append(layer)
            if layer.get("class_name") in MODEL_CLASSES:
                self.index(layer)

    def check(self, entry: JsonDict) -> None:
        """Every class without a lowering, every Lambda and every unknown activation, at any depth."""
        for layer in _layers_of(entry):
            cls, name = str(layer.get("class_name")), _name(layer)
            if cls in MODEL_CLASSES:
                self.check(layer)
                continue
            if cls == "InputLayer":
                continue
            if cls == "Lambda":
                self.refusals.append((name, "Lambda", _LAMBDA_REASON))
            elif _is_custom(layer):
                self.refusals.append((name, cls, "a custom class; its code is not in the file and tfjsconv "
                                            "never runs model code"))
            elif layer_key(layer) not in LAYERS:
                what = "Keras operation" if layer_key(layer).startswith("op:") else "layer class"
                self.refusals.append((name, cls, f"no lowering to TF ops for this {what}"))
            config = layer.get("config")
            for key in _ACTIVATION_KEYS:
                problem = check_activation(config.get(key)) if isinstance(config, dict) else None
                if problem:
                    self.refusals.append((name, cls, problem))

    def check_names(self) -> None:
        for name, entries in self.entries.items():
            if len(entries) > 1:
                raise InputError(f"the model config names {len(entries)} layers {name!r} "
                                 f"({', '.join(str(e.get('class_name')) for e in entries)}); their weights "
                                 "and connections cannot be told apart", self.path)

    def index_weights(self) -> None:
        names = {name for name, entries in self.entries.items()
                 if entries[0].get("class_name") not in MODEL_CLASSES}
        found: dict[str, dict[str, ArrayLike]] = {}
        for group, weights in self.source.weights:
            for weight in weights:
                parts = weight.name.split("/")
                owner = next(("/".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)
                              if "/".join(parts[:i]) in names), None)
                if owner is None:
                    owner, rest = group, weight.name
                    if rest.startswith(f"{group}/"):
                        rest = rest[len(group) + 1:]
                else:
                    rest = "/".join(parts[len(owner.split("/")):])
                slot = found.setdefault(owner, {})
                if rest in slot:
                    raise InputError(f"layer {owner!r} stores two weights named {rest!r}; the file holds "
                                     "conflicting weights for one layer name", self.path)
                slot[rest] = weight.data
        self.weights = {owner: LayerWeights(owner, items) for owner, items in found.items()}

    # ----- building ---------------------------------------------------------------------------------
    def input_placeholder(self, entry: JsonDict) -> Value:
        config = entry.get("config") or {}
        shape = config.get("batch_shape", config.get("batch_input_shape"))
        if not isinstance(shape, list):
            raise InputError(f"input layer {_name(entry)!r} has no batch_shape", self.path)
        dtype_name = layer_dtype(config)
        try:
            dtype = DType.from_numpy(np.dtype(dtype_name)) if dtype_name != "string" else DType.STRING
        except TypeError as exc:
            raise InputError(f"input layer {_name(entry)!r} has an unknown dtype {dtype_name!r}",
                             self.path) from exc
        if dtype in (DType.HALF, DType.DOUBLE, DType.BFLOAT16):
            dtype = DType.FLOAT  # what TF.js computes in; its graph executor has no other float type
        name = _name(entry)
        dims = tuple(None if d is None else int(d) for d in shape)
        return self.builder.placeholder(name, dtype, dims, name)

    def run_model(self, entry: JsonDict, inputs: list[Value], masks: list[Optional[Value]],
                  top: bool = False) -> tuple[list[Any], list[Optional[Value]]]:
        if entry.get("class_name") == "Sequential":
            return self.run_sequential(entry, inputs, masks)
        return self.run_functional(entry, inputs, masks)

    def run_sequential(self, entry: JsonDict, inputs: list[Value],
                       masks: list[Optional[Value]]) -> tuple[list[Any], list[Optional[Value]]]:
        values: list[Any] = list(inputs)
        current_masks = list(masks)
        for layer in _layers_of(entry):
            if layer.get("class_name") == "InputLayer":
                continue
            values, current_masks = self.call(layer, values, current_masks, values, {})
        return values, current_masks

    def run_functional(self, entry: JsonDict, inputs: list[Value],
                       masks: list[Optional[Value]]) -> tuple[list[Any], list[Optional[Value]]]:
        config = entry.get("config") or {}
        layers = _layers_of(entry)
        calls: dict[tuple[str, int], tuple[list[Any], list[Optional[Value]]]] = {}
        input_refs = _triples(config.get("input_layers"))
        if len(input_refs) != len(inputs):
            raise InputError(f"model {_name(entry)!r} takes {len(input_refs)} inputs but is called with "
                             f"{len(inputs)}", self.path)
        for (name, _, _), value, mask in zip(input_refs, inputs, masks):
            calls[(name, 0)] = ([value], [mask])
        classes = {_name(layer): str(layer.get("class_name")) for layer in layers}
        counts = {_name(layer): len(layer.get("inbound_nodes") or ()) for layer in layers}
        keras3_wiring = any(isinstance(node, dict)
                            for layer in layers for node in layer.get("inbound_nodes") or ())

        def call_index(ref: _Ref, output: bool) -> int:
            # Keras 2 (and TF.js) count a nested model's own internal node, so its first call in the
            # enclosing model is node 1; Keras 3 does not in inbound_nodes, but does in output_layers
            # for Functional (not Sequential) sources.
            nested = classes.get(ref.layer) in MODEL_CLASSES
            if keras3_wiring:
                shift = 1 if output and nested and classes.get(ref.layer) != "Sequential" else 0
            else:
                shift = 1 if nested else 0
            index = ref.node - shift
            if (ref.layer, index) not in calls and counts.get(ref.layer) == 1:
                index = 0
            return index

        def resolve(ref: _Ref, output: bool = False) -> Optional[tuple[Any, Optional[Value]]]:
            found = calls.get((ref.layer, call_index(ref, output)))
            if found is None:
                return None
            values, value_masks = found
            if len(values) == 1 and values[0] is POISON:  # a refused layer: every output is poisoned
                return POISON, None
            if ref.tensor >= len(values):
                raise InputError(f"model {_name(entry)!r} reads output {ref.tensor} of layer {ref.layer!r}, "
                                 f"which has {len(values)}", self.path)
            return values[ref.tensor], value_masks[ref.tensor] if ref.tensor < len(value_masks) else None

        pending = [(layer, k, node) for layer in layers if layer.get("class_name") != "InputLayer"
                   for k, node in enumerate(layer.get("inbound_nodes") or ())]
        while pending:
            waiting = []
            for layer, k, node in pending:
                args, kwargs = _node_call(node, set(classes), str(layer.get("class_name")))
                refs = _refs_in((args, kwargs))
                resolved = [resolve(ref) for ref in refs]
                if any(r is None for r in resolved):
                    waiting.append((layer, k, node))
                    continue
                bound = {id(ref): r for ref, r in zip(refs, resolved)}
                # The call's inputs are the tensors among its positional arguments; tensors passed
                # by keyword (Keras 3's explicit ``mask=``, attention masks...) reach it via kwargs.
                positional = [bound[id(ref)] for ref in _refs_in(args)]
                values = {key: r[0] for key, r in bound.items()}  # type: ignore[index]
                calls[(_name(layer), k)] = self.call(layer, [r[0] for r in positional],  # type: ignore[index]
                                                     [r[1] for r in positional],  # type: ignore[index]
                                                     _bind(args, values), _bind(kwargs, values))
            if len(waiting) == len(pending):
                layer, _, node = waiting[0]
                raise InputError(f"model {_name(entry)!r}: layer {_name(layer)!r} reads tensors no layer "
                                 "produces (a broken or cyclic config)", self.path)
            pending = waiting
        outputs, out_masks = [], []
        for name, node, tensor in _triples(config.get("output_layers")):
            found = resolve(_Ref(name, node, tensor), output=True)
            if found is None:
                raise InputError(f"model {_name(entry)!r}: output layer {name!r} is never called", self.path)
            outputs.append(found[0])
            out_masks.append(found[1])
        return outputs, out_masks

    def call(self, entry: JsonDict, inputs: list[Any], masks: list[Optional[Value]], args: Any,
             kwargs: JsonDict) -> tuple[list[Any], list[Optional[Value]]]:
        """Lowers one call of ``entry`` (a layer or a nested model) on ``inputs``."""
        name, cls = _name(entry), str(entry.get("class_name"))
        if any(v is POISON for v in inputs):
            return [POISON], [None]
        if cls in MODEL_CLASSES:
            with self.builder.scope(name):
                return self.run_model(entry, inputs, masks)
        lowering = LAYERS.get(layer_key(entry))
        if lowering is None:  # already reported by check()
            return [POISON], [None]
        config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
        weights = self.weights.setdefault(name, LayerWeights(name, {}))
        inputs, masks = _explicit_masks(inputs, masks, args, kwargs)
        call = LayerCall(self.builder, name, cls, config, list(inputs), list(masks), weights, self.keras3,
                         self.path, args, kwargs, options=self.options)
        try:
            with self.builder.scope(name):
                result = lowering.fn(call)
        except Refusal as exc:
            self.refusals.append((name, cls, str(exc)))
            return [POISON], [None]
        self.lowered.add(name)
        if isinstance(result, Lowered):
            outputs, out_masks = list(result.outputs), list(result.masks or [None] * len(result.outputs))
        else:
            outputs = [result] if isinstance(result, Value) else list(result)
            keep = masks[0] if masks and lowering.mask == "keep" else None
            out_masks = [keep] * len(outputs)
        return outputs, out_masks

    def check_unused(self) -> None:
        problems = [f"layer {name!r} stores {', '.join(self.weights[name].unused())} that its config does "
                    "not use" for name in sorted(self.lowered) if self.weights[name].unused()]
        if problems:
            raise InputError("the stored weights do not match the model config: " + "; ".join(problems[:6]),
                             self.path)


def _explicit_masks(inputs: list[Any], masks: list[Optional[Value]], args: Any,
                    kwargs: JsonDict) -> tuple[list[Any], list[Optional[Value]]]:
    """A ``mask=`` call argument (Keras 3 records the masks it propagates that way) is the mask of
    the call's tensors, not one more input: it is taken out of ``inputs`` and set as their masks."""
    given = kwargs.get("mask")
    given_list = given if isinstance(given, list) else [given]
    if not any(isinstance(m, Value) for m in given_list):
        return inputs, masks
    mask_ids = {id(m) for m in given_list if isinstance(m, Value)}
    data = [(v, m) for v, m in zip(inputs, masks) if id(v) not in mask_ids]
    values, data_masks = [v for v, _ in data], [m for _, m in data]
    if len(given_list) == len(values):
        data_masks = [g if isinstance(g, Value) else m for g, m in zip(given_list, data_masks)]
    elif isinstance(given, Value) and values:
        data_masks[0] = given
    return values, data_masks


# tf-keras layers that keep the structure of their first call argument in the config (a TF API call
# recorded as a layer): a lone tensor entry stands for the argument itself, a list of entries for a
# list argument (``tf.concat([a, b])``), and ``_CONSTANT_VALUE`` entries for non-tensor values.
_STRUCTURED = frozenset({"TFOpLambda", "SlicingOpLambda"})
_CONSTANT_VALUE = "_CONSTANT_VALUE"


def _node_call(node: Any, layers: set[str], cls: str = "") -> tuple[Any, JsonDict]:
    """(args, kwargs) of one inbound node with every tensor reference as a ``_Ref``."""
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        return _keras3_refs(node.get("args", [])), _keras3_refs(node.get("kwargs") or {})
    single = bool(node) and isinstance(node[0], str)  # one entry, not a list of entries
    entries = [node] if single else list(node)
    args: list[Any] = []
    kwargs: JsonDict = {}
    for item in entries:  # Keras 2: [[layer, node_index, tensor_index, kwargs], ...]
        if item[0] == _CONSTANT_VALUE and cls in _STRUCTURED:
            args.append(_keras2_refs(item[2], layers))
        else:
            args.append(_Ref(str(item[0]), int(item[1]), int(item[2])))
        if len(item) > 3 and isinstance(item[3], dict):
            kwargs.update({key: _keras2_refs(value, layers) for key, value in item[3].items()})
    if cls in _STRUCTURED and not single:
        args = [args]
    return args, kwargs


def _keras3_refs(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            layer, node, tensor = value["config"]["keras_history"]
            return _Ref(str(layer), int(node), int(tensor))
        return {key: _keras3_refs(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_keras3_refs(item) for item in value]
    return value


def _keras2_refs(value: Any, layers: set[str]) -> Any:
    """tf-keras writes tensors inside call kwargs as ``[layer, node_index, tensor_index]``."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) and value[0] in layers \
            and all(isinstance(v, int) for v in value[1:]):
        return _Ref(value[0], value[1], value[2])
    if isinstance(value, list):
        return [_keras2_refs(item, layers) for item in value]
    if isinstance(value, dict):
        return {key: _keras2_refs(item, layers) for key, item in value.items()}
    return value


def _refs_in(value: Any) -> list[_Ref]:
    if isinstance(value, _Ref):
        return [value]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in _refs_in(item)]
    if isinstance(value, (list, tuple)):
        return [ref for item in value for ref in _refs_in(item)]
    return []


def _bind(value: Any, bound: dict[int, Any]) -> Any:
    if isinstance(value, _Ref):
        return bound[id(value)]
    if isinstance(value, dict):
        return {key: _bind(item, bound) for key, item in value.items()}
    if isinstance(value, list):
        return [_bind(item, bound) for item in value]
    if isinstance(value, tuple):
        return tuple(_bind(item, bound) for item in value)
    return value


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        out.append(name if count == 0 else f"{name}_{count}")
    return out


def _model_inputs(walk: _Walk, config: JsonDict) -> list[Value]:
    layers = _layers_of(config)
    if config.get("class_name") == "Sequential":
        first = layers[0] if layers else {}
        if first.get("class_name") == "InputLayer":
            return [walk.input_placeholder(first)]
        inner = first.get("config") if isinstance(first.get("config"), dict) else {}
        if "batch_input_shape" not in inner and "batch_shape" not in inner:
            raise UnsupportedError("the Sequential model has no input shape (it was never built); build "
                                   "it with an Input before saving", walk.path)
        entry = {"class_name": "InputLayer", "config": {**inner, "name": f"{_name(first)}_input"}}
        return [walk.input_placeholder(entry)]
    by_name = {_name(layer): layer for layer in layers}
    refs = _triples((config.get("config") or {}).get("input_layers"))
    missing = [name for name, _, _ in refs if by_name.get(name, {}).get("class_name") != "InputLayer"]
    if missing:
        raise InputError(f"model inputs {missing} are not InputLayers of the model", walk.path)
    return [walk.input_placeholder(by_name[name]) for name, _, _ in refs]


def _output_names(config: JsonDict) -> list[str]:
    if config.get("class_name") == "Sequential":
        layers = [layer for layer in _layers_of(config) if layer.get("class_name") != "InputLayer"]
        return [_name(layers[-1])] if layers else []
    return _unique([name for name, _, _ in _triples((config.get("config") or {}).get("output_layers"))])


def refusal_text(refusals: Sequence[tuple[str, str, str]]) -> str:
    """One line: the refused layers grouped by (class, reason), each group naming its first layers."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name, cls, why in refusals:
        groups.setdefault((cls, why), []).append(name)
    parts = []
    for (cls, why), names in groups.items():
        shown = ", ".join(repr(n) for n in names[:4])
        if len(names) > 4:
            shown += f" and {len(names) - 4} more"
        parts.append(f"{'layers' if len(names) > 1 else 'layer'} {shown} ({cls}): {why}")
    return "cannot lower to a TF.js graph model: " + "; ".join(parts)


def config_refusals(config: JsonDict) -> list[tuple[str, str, str]]:
    """What the lowering would refuse in ``config`` by class and activation alone (no weights read)."""
    walk = _Walk(KerasModelSource(config, (), False))
    try:
        config = translate_class_names(copy.deepcopy(config))
        walk.index(config)
        walk.check(config)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError):
        return [("<model>", "config", "not a well-formed Keras model config")]
    return walk.refusals


def check_lowerable(config: JsonDict, path: Optional[Path]) -> None:
    """Raises the refusal listing before any weight is read (a weights file may hold variables of a
    class nothing here knows, which would otherwise be reported first)."""
    refusals = config_refusals(config)
    if refusals:
        raise UnsupportedError(refusal_text(refusals), path)


def lower_keras_model(source: KerasModelSource, options: Optional[LoweringOptions] = None) -> Graph:
    """The TF-op graph of ``source``; raises listing every layer it cannot lower."""
    config = source.config
    if not isinstance(config, dict) or str(config.get("class_name")) not in MODEL_CLASSES:
        raise UnsupportedError(f"the model config is a {config.get('class_name')!r}, not a Sequential or "
                               "functional model", source.path)
    config = translate_class_names(copy.deepcopy(config))
    walk = _Walk(source, options or LoweringOptions())
    try:
        check_window_args(config)
        walk.index(config)
        walk.check_names()
        walk.check(config)
        if walk.refusals:
            raise UnsupportedError(refusal_text(walk.refusals), source.path)
        walk.index_weights()
        inputs = _model_inputs(walk, config)
        outputs, _ = walk.run_model(config, inputs, [None] * len(inputs), top=True)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError, ArithmeticError) as exc:
        raise InputError(f"model_config is not a well-formed Keras model config ({type(exc).__name__}: "
                         f"{exc})", source.path) from exc
    if walk.refusals:
        raise UnsupportedError(refusal_text(walk.refusals), source.path)
    walk.check_unused()
    graph = walk.builder.graph
    names = _output_names(config)
    if len(names) != len(outputs):
        names = _unique([f"output_{i}" for i in range(len(outputs))])
    graph.outputs = [(name, _as_value(walk, value)) for name, value in zip(names, outputs)]
    return graph


def _as_value(walk: _Walk, value: Union[Value, Any]) -> Value:
    if not isinstance(value, Value):
        raise InputError("a model output is not a tensor", walk.path)
    return value
