"""Do Keras masks reach the same layers in tfjs-layers 4.22?  (A check of the layers route.)

A Keras mask (``Masking``, ``Embedding(mask_zero=True)``) changes what some layers compute: recurrent
layers skip masked steps, ``GlobalAveragePooling1D`` averages the unmasked steps only, ``Softmax``
pushes masked positions to zero.  tfjs-layers 4.22 differs in three ways (read from its executor and
observed):

* its ``GlobalAveragePooling1D`` and ``Softmax`` ignore masks;
* it hands a mask on only through layers with ``supportsMasking`` (fewer classes than Keras);
* its executor keeps the last mask it passed to a layer in the shared ``kwargs`` of the whole
  ``predict``, so every later layer whose inputs carry no mask gets that stale mask: an RNN after a
  layer that dropped the mask is still masked (as in Keras, by luck), but an RNN Keras runs unmasked
  (after a Conv1D, or on another branch) is masked too.

The model then loads and predicts other numbers (observed: Masking -> SimpleRNN ->
GlobalAveragePooling1D).  This walks the translated (tfjs-layers) config with Keras's rules (classes
as Keras wrote them; the ones the graph-route lowering implements, ``mask="keep"`` in
tfjsconv/lowering/keras, which a test keeps equal) and with TF.js's, and refuses every layer whose
mask-dependent result would differ.  Masks are sets of the names of the layers that made them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .layer_fixes import Findings

JsonDict = dict[str, Any]
Mask = frozenset[str]
NO_MASK: Mask = frozenset()

# Keras layers that hand their input's mask on unchanged (``supports_masking`` without compute_mask).
KERAS_KEEP = frozenset({
    "Dense", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU", "Softmax", "EinsumDense",
    "BatchNormalization", "SyncBatchNormalization", "LayerNormalization", "GroupNormalization",
    "UnitNormalization", "Rescaling", "Normalization", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
    "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
    "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast", "RandomBrightness",
    "Identity"})
# tfjs-layers 4.22 classes with supportsMasking (dist/layers/*.js; SpatialDropout1D extends Dropout).
TFJS_KEEP = frozenset({"ReLU", "PReLU", "Dropout", "SpatialDropout1D", "Dense", "Activation", "GaussianNoise",
                       "GaussianDropout", "AlphaDropout", "BatchNormalization", "LayerNormalization",
                       "TimeDistributed"})
MERGES = frozenset({"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"})
RECURRENT = frozenset({"SimpleRNN", "LSTM", "GRU", "RNN", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D",
                       "ConvLSTM3D"})
KERAS_ONLY_CONSUMERS = frozenset({"GlobalAveragePooling1D", "Softmax"})  # TF.js's ignore the mask
MODEL_CLASSES = frozenset({"Sequential", "Functional", "Model"})


@dataclass
class _Call:
    name: str
    keras_cls: str
    tfjs_cls: str
    config: JsonDict
    entry: JsonDict
    sources: list[int]  # indices of the calls feeding it (-1: a model input)
    keras_in: list[Mask] = field(default_factory=list)
    tfjs_in: list[Mask] = field(default_factory=list)


def _name(entry: JsonDict) -> str:
    config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    return str(config.get("name", entry.get("name")))


def _layers(entry: JsonDict) -> list[JsonDict]:
    config = entry.get("config")
    layers = config.get("layers") if isinstance(config, dict) else config
    return [layer for layer in layers if isinstance(layer, dict)] if isinstance(layers, list) else []


def _calls(model: JsonDict, classes: dict[str, str]) -> list[_Call]:
    """The model's layer calls in config order (a topological order), with their sources."""
    calls: list[_Call] = []
    produced: dict[tuple[str, int], int] = {}
    sequential = str(model.get("class_name")) == "Sequential"
    for entry in _layers(model):
        name, cls = _name(entry), str(entry.get("class_name"))
        if cls == "InputLayer":
            continue
        config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
        nodes = [None] if sequential else (entry.get("inbound_nodes") or [])
        for index, node in enumerate(nodes):
            if sequential:
                sources = [len(calls) - 1] if calls else [-1]
            else:
                refs = [(str(i[0]), int(i[1])) for i in node if isinstance(i, list) and len(i) >= 3
                        and isinstance(i[0], str)] if isinstance(node, list) else []
                sources = [produced.get(ref, -1) for ref in refs]
            produced[(name, index)] = len(calls)
            if cls in MODEL_CLASSES:  # tf-keras and TF.js count a nested model's own node first
                produced[(name, index + 1)] = len(calls)
            calls.append(_Call(name, classes.get(name, cls), cls, config, entry, sources))
    return calls


def _contains_consumer(entry: JsonDict, classes: dict[str, str]) -> bool:
    for layer in _layers(entry):
        cls = classes.get(_name(layer), str(layer.get("class_name")))
        if cls in RECURRENT or cls in KERAS_ONLY_CONSUMERS:
            return True
        inner = (layer.get("config") or {}).get("layer") if isinstance(layer.get("config"), dict) else None
        if isinstance(inner, dict) and str(inner.get("class_name")) in RECURRENT:
            return True
        if cls in MODEL_CLASSES and _contains_consumer(layer, classes):
            return True
    return False


def _out(call: _Call, masks: list[Mask], keras: bool) -> Mask:
    cls = call.keras_cls if keras else call.tfjs_cls
    first = masks[0] if masks else NO_MASK
    config = call.config
    if cls == "Masking" or (cls == "Embedding" and config.get("mask_zero")):
        return frozenset({call.name})
    if cls in MERGES:
        return frozenset().union(*masks)
    if cls in RECURRENT:
        inner = config.get("layer") if cls == "Bidirectional" else None
        inner_config = inner.get("config", {}) if isinstance(inner, dict) else config
        return first if inner_config.get("return_sequences") else NO_MASK
    if cls == "TimeDistributed" and keras:
        return first
    return first if cls in (KERAS_KEEP if keras else TFJS_KEEP) else NO_MASK


def check_masks(config: JsonDict, found: Findings) -> None:
    """Refuses (through ``found``) every layer whose mask-dependent result TF.js would compute differently."""
    classes = dict(found.layer_classes)
    calls = _calls(config, classes)
    keras_out: list[Mask] = []
    tfjs_out: list[Mask] = []
    for call in calls:
        call.keras_in = [keras_out[i] if i >= 0 else NO_MASK for i in call.sources]
        call.tfjs_in = [tfjs_out[i] if i >= 0 else NO_MASK for i in call.sources]
        keras_out.append(_out(call, call.keras_in, True))
        tfjs_out.append(_out(call, call.tfjs_in, False))
    if not any(keras_out) and not any(tfjs_out):
        return  # no mask anywhere: the common case
    users: dict[int, list[int]] = {}
    for index, call in enumerate(calls):
        for source in call.sources:
            users.setdefault(source, []).append(index)

    def descendants(start: int) -> set[int]:
        seen, todo = set(), [start]
        while todo:
            for user in users.get(todo.pop(), []):
                if user not in seen:
                    seen.add(user)
                    todo.append(user)
        return seen

    for index, call in enumerate(calls):
        keras_mask = call.keras_in[0] if call.keras_in else NO_MASK
        why = ""
        if call.tfjs_cls in MODEL_CLASSES and _contains_consumer(call.entry, classes):
            why = ("a nested model with recurrent or mask-dependent layers in a model with masks: TF.js 4.22 "
                   "hands it other masks than Keras")
        elif call.keras_cls in KERAS_ONLY_CONSUMERS and keras_mask:
            why = "Keras computes it with the mask of its input, which TF.js 4.22 ignores"
        elif call.keras_cls in RECURRENT or call.tfjs_cls in RECURRENT:
            if any(call.tfjs_in):
                candidates = {call.tfjs_in[0]}
            else:  # TF.js passes the last mask any earlier layer got (its executor reuses kwargs)
                later = descendants(index) | {index}
                candidates = {c.tfjs_in[0] for i, c in enumerate(calls)
                              if i not in later and c.tfjs_in and any(c.tfjs_in)}
                candidates = candidates or {NO_MASK}
            if candidates != {keras_mask}:
                why = ("TF.js 4.22 would run it with another mask than Keras (its executor hands masks on "
                       "differently)")
        if why:
            found.refuse(call.name, call.keras_cls, why)
