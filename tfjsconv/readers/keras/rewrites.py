"""Keras layers tfjs-layers 4.22 does not have, rewritten as ones it has that compute the same values.

``Normalization`` (EfficientNet's stem, many tabular models) is ``(x - mean) / max(sqrt(var), 1e-7)``
per feature.  TF.js has no such class, but its ``BatchNormalization`` with ``center`` and ``scale``
off computes ``(x - moving_mean) / sqrt(moving_variance + epsilon)``: the same values with
``epsilon = 1e-14`` except for features whose variance is below ~1e-13 (constant features), where
Keras divides by 1e-7 and TF.js by at most sqrt(2) times that.  A scalar mean and variance become a
``Rescaling`` instead, which needs no weights.

The config side runs during the config translation; the weight side (``apply_weight_plans``) renames
the stored ``mean``/``variance`` to ``moving_mean``/``moving_variance``, drops ``count``, or adds the
statistics a config carried inline (then Keras stores no variables for them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from ...ir.graph import LazyArray
from ...ir.weight import Weight

JsonDict = dict[str, Any]
# Keras's backend epsilon: the floor of the standard deviation in Normalization.
_KERAS_EPSILON = 1e-7


@dataclass(frozen=True)
class WeightPlan:
    """How a rewritten layer's weights change: inline statistics to add, or None to rename stored ones."""

    mean: Optional[np.ndarray] = None
    variance: Optional[np.ndarray] = None


Refuse = Callable[[str], None]


def _single_axis(axis: Any) -> Optional[int]:
    if isinstance(axis, list) and len(axis) == 1:
        axis = axis[0]
    return axis if isinstance(axis, int) else None


def rewrite_normalization(entry: JsonDict, refuse: Refuse) -> Optional[WeightPlan]:
    """Turns a Normalization entry into BatchNormalization or Rescaling in place.

    Returns the weight plan, or None when the layer was refused (``refuse`` says why).
    """
    config = entry["config"]
    if config.get("invert"):
        refuse("invert=True (de-normalization) has no TF.js equivalent")
        return None
    axis = _single_axis(config.get("axis", -1))
    if axis is None:
        refuse(f"axis={config.get('axis')} (none or several axes) has no TF.js equivalent; only a single "
               "feature axis can be rewritten as BatchNormalization")
        return None
    mean, variance = config.get("mean"), config.get("variance")
    if (mean is None) != (variance is None):
        refuse("only one of mean and variance is set in the config")
        return None
    common = {key: config[key] for key in ("name", "trainable", "dtype") if key in config}
    if mean is None:
        plan = WeightPlan()
    else:
        mean_array = np.asarray(mean, np.float64).reshape(-1)
        variance_array = np.asarray(variance, np.float64).reshape(-1)
        if mean_array.size == 1 and variance_array.size == 1:
            std = max(math.sqrt(float(variance_array[0])), _KERAS_EPSILON)
            entry["class_name"] = "Rescaling"
            entry["config"] = {**common, "scale": 1.0 / std, "offset": -float(mean_array[0]) / std}
            return WeightPlan()
        if mean_array.shape != variance_array.shape:
            refuse(f"mean has {mean_array.size} values but variance has {variance_array.size}")
            return None
        plan = WeightPlan(mean_array.astype(np.float32), variance_array.astype(np.float32))
    entry["class_name"] = "BatchNormalization"
    entry["config"] = {**common, "axis": axis, "momentum": 0.99, "epsilon": _KERAS_EPSILON ** 2,
                       "center": False, "scale": False}
    return plan


def _flat(weight: Weight, name: str) -> Weight:
    """``weight`` renamed and flattened to one axis (Keras may store the broadcast shape)."""
    data = weight.data
    size = int(np.prod(data.shape)) if data.shape else 1
    if isinstance(data, LazyArray):
        source = data
        return Weight(name, LazyArray(source.dtype, (size,), lambda: np.asarray(source.load()).reshape(-1)))
    return Weight(name, np.asarray(data).reshape(-1))


def apply_weight_plans(layers: Sequence[tuple[str, Sequence[Weight]]],
                       plans: dict[str, WeightPlan]) -> list[tuple[str, list[Weight]]]:
    """The layer weights with every planned rename / drop / addition applied (by owning layer name)."""
    if not plans:
        return [(name, list(weights)) for name, weights in layers]
    out: list[tuple[str, list[Weight]]] = []
    seen: set[str] = set()
    for layer, weights in layers:
        kept: list[Weight] = []
        for weight in weights:
            parts = weight.name.split("/")
            prefixes = ("/".join(parts[:i]) for i in range(len(parts) - 1, 0, -1))
            owner = next((candidate for candidate in prefixes if candidate in plans), parts[0])
            plan = plans.get(owner)
            leaf = weight.name.rsplit("/", 1)[-1]
            if plan is None or plan.mean is not None:
                kept.append(weight)
                continue
            seen.add(owner)
            scope = weight.name.rsplit("/", 1)[0]
            if leaf in ("mean", "variance"):
                kept.append(_flat(weight, f"{scope}/moving_{leaf}"))
            elif leaf != "count":
                kept.append(weight)  # unknown extra: the shape check reports it
        out.append((layer, kept))
    for owner, plan in plans.items():
        if plan.mean is not None and plan.variance is not None and owner not in seen:
            out.append((owner, [Weight(f"{owner}/moving_mean", plan.mean),
                                Weight(f"{owner}/moving_variance", plan.variance)]))
    return out


# ---------------------------------------------------------------------------------------------
# Keras 3 automatic masks.
#
# Keras 3 records the mask a Masking or Embedding(mask_zero=True) layer computes as operation nodes
# (``not_equal`` and, for Masking, ``any`` over the last axis) and passes it to the next layers as
# a ``mask`` keyword argument.  tfjs-layers computes and propagates exactly that mask itself
# (Masking: any(x != mask_value, -1); Embedding: ids != 0), so the keyword and the operation nodes
# are dropped when they reproduce it; any other mask stays and is refused later.


def _history(arg: Any) -> Optional[tuple[str, int, int]]:
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        source, node, index = arg["config"]["keras_history"]
        return str(source), int(node), int(index)
    return None


def _first_input(entry: JsonDict) -> Optional[tuple[str, int, int]]:
    nodes = entry.get("inbound_nodes") or []
    if len(nodes) != 1 or not isinstance(nodes[0], dict) or not nodes[0].get("args"):
        return None
    return _history(nodes[0]["args"][0])


def _is_module_op(entry: JsonDict) -> bool:
    return str(entry.get("module", "")).startswith(("keras.src.ops", "keras.ops"))


def _automatic_mask(source: str, by_name: dict[str, JsonDict], layers: list[JsonDict]) -> Optional[list[str]]:
    """The op node names that compute ``source`` when it is a Masking/Embedding automatic mask."""
    entry = by_name.get(source)
    if entry is None or not _is_module_op(entry):
        return None
    chain = [source]
    masking = False
    if entry.get("class_name") == "Any":
        if entry.get("config", {}).get("axis") not in (-1, [-1]) or entry["config"].get("keepdims"):
            return None
        inner = _first_input(entry)
        entry = by_name.get(inner[0]) if inner and inner[1:] == (0, 0) else None
        if entry is None or not _is_module_op(entry):
            return None
        chain.append(str(entry.get("name")))
        masking = True
    if entry.get("class_name") != "NotEqual":
        return None
    args = entry["inbound_nodes"][0].get("args", []) if entry.get("inbound_nodes") else []
    if len(args) != 2 or _history(args[0]) is None or not isinstance(args[1], (int, float)):
        return None
    root, value = _history(args[0]), float(args[1])
    for layer in layers:
        config = layer.get("config") or {}
        if _first_input(layer) != root:
            continue
        if masking and layer.get("class_name") == "Masking" and float(config.get("mask_value", 0.0)) == value:
            return chain
        if not masking and layer.get("class_name") == "Embedding" and config.get("mask_zero") and value == 0:
            return chain
    return None


def _referenced(layers: list[JsonDict], model_config: JsonDict) -> set[str]:
    names: set[str] = set()

    def visit(obj: Any) -> None:
        history = _history(obj)
        if history is not None:
            names.add(history[0])
        elif isinstance(obj, dict):
            for value in obj.values():
                visit(value)
        elif isinstance(obj, list):
            for item in obj:
                visit(item)

    for layer in layers:
        visit(layer.get("inbound_nodes"))
    for key in ("output_layers",):
        value = model_config.get(key)
        for item in value if isinstance(value, list) else []:
            if isinstance(item, list) and item and isinstance(item[0], str):
                names.add(item[0])
            elif isinstance(item, str):
                names.add(item)
    return names


def drop_automatic_masks(model: JsonDict) -> None:
    """Removes Keras 3's recorded automatic masks (see above) from a raw model config, in place,
    including nested models."""
    config = model.get("config")
    layers = config.get("layers") if isinstance(config, dict) else None
    if not isinstance(layers, list):
        return
    entries = [layer for layer in layers if isinstance(layer, dict)]
    for layer in entries:
        if isinstance(layer.get("config"), dict) and isinstance(layer["config"].get("layers"), list):
            drop_automatic_masks(layer)
    by_name = {str(layer.get("name") or (layer.get("config") or {}).get("name")): layer for layer in entries}
    mask_ops: set[str] = set()
    for layer in entries:
        for node in layer.get("inbound_nodes") or []:
            kwargs = node.get("kwargs") if isinstance(node, dict) else None
            mask = _history(kwargs.get("mask")) if isinstance(kwargs, dict) else None
            if mask is None or mask[1:] != (0, 0):
                continue
            chain = _automatic_mask(mask[0], by_name, entries)
            if chain is not None:
                del kwargs["mask"]
                mask_ops.update(chain)
    while mask_ops:
        unused = mask_ops - _referenced([e for e in entries if str(e.get("name")) not in mask_ops], config)
        unused -= _referenced([e for e in entries if str(e.get("name")) in mask_ops - unused], config)
        if not unused:
            break
        layers[:] = [layer for layer in layers
                     if not (isinstance(layer, dict) and str(layer.get("name")) in unused)]
        entries = [layer for layer in layers if isinstance(layer, dict)]
        mask_ops -= unused


# ---------------------------------------------------------------------------------------------
# Layers that are the identity at inference time but have no tfjs-layers class: the class TF.js
# has for the same inference behaviour (a converted model only predicts).
_IDENTITY_AT_INFERENCE = {
    "SpatialDropout2D": "Dropout",
    "SpatialDropout3D": "Dropout",
    "ActivityRegularization": "Activation",
    "Identity": "Activation",
}


def rewrite_inference_identity(entry: JsonDict) -> bool:
    """Renames an inference-time identity layer to a TF.js class with that behaviour; True if done."""
    target = _IDENTITY_AT_INFERENCE.get(str(entry.get("class_name")))
    config = entry.get("config")
    if target is None or not isinstance(config, dict):
        return False
    common = {key: config[key] for key in ("name", "trainable", "dtype") if key in config}
    entry["class_name"] = target
    if target == "Dropout":
        entry["config"] = {**common, "rate": float(config.get("rate", 0.0)), "noise_shape": None,
                           "seed": config.get("seed")}
    else:
        entry["config"] = {**common, "activation": "linear"}
    return True


# ---------------------------------------------------------------------------------------------
# Subtract: tfjs-layers 4.22 has no such merge layer.  a - b is computed exactly as a + (-b), so
# the layer becomes Add fed by a new Rescaling(scale=-1) layer on its second input (one call of
# it per call of the Subtract, so shared Subtract layers keep working).


def _negated_tensor(arg: Any, source: str, node: int) -> Any:
    if isinstance(arg, dict):  # Keras 3 keras tensor
        return {**arg, "config": {**arg.get("config", {}), "keras_history": [source, node, 0]}}
    return [source, node, 0, arg[3] if len(arg) > 3 else {}]  # tf-keras [name, node, tensor, kwargs]


def _subtract_operands(node: Any) -> Optional[tuple[Any, Any, Callable[[Any, Any], Any]]]:
    """(first, second, rebuild(first, second) -> node) of one Subtract call, or None if unexpected."""
    if isinstance(node, dict):
        args = node.get("args") or []
        pair = args[0] if len(args) == 1 and isinstance(args[0], list) else args
        if len(pair) != 2 or not all(_history(t) for t in pair):
            return None
        return pair[0], pair[1], lambda a, b: {**node, "args": [[a, b]]}
    if isinstance(node, list) and len(node) == 2 and all(isinstance(t, list) and len(t) >= 3 for t in node):
        return node[0], node[1], lambda a, b: [a, b]
    return None


def rewrite_subtract(model: JsonDict) -> None:
    """Rewrites every Subtract in a raw (functional) model config, nested models included."""
    config = model.get("config")
    layers = config.get("layers") if isinstance(config, dict) else None
    if not isinstance(layers, list):
        return
    taken = {str(layer.get("name") or (layer.get("config") or {}).get("name"))
             for layer in layers if isinstance(layer, dict)}
    out: list[Any] = []
    for layer in layers:
        if isinstance(layer, dict) and isinstance(layer.get("config"), dict):
            rewrite_subtract(layer)
        nodes = layer.get("inbound_nodes") if isinstance(layer, dict) else None
        if not (isinstance(layer, dict) and layer.get("class_name") == "Subtract" and isinstance(nodes, list)
                and nodes):
            out.append(layer)
            continue
        operands = [_subtract_operands(node) for node in nodes]
        if any(op is None for op in operands):
            out.append(layer)  # left as Subtract: reported as a class TF.js does not have
            continue
        name = str(layer["config"].get("name", layer.get("name")))
        negate = f"{name}_negated"
        while negate in taken:
            negate += "_"
        taken.add(negate)
        keras3 = isinstance(nodes[0], dict)
        negate_nodes = []
        new_nodes = []
        for index, operand in enumerate(operands):
            assert operand is not None
            first, second, rebuild = operand
            negate_nodes.append({"args": [second], "kwargs": {}} if keras3 else [second])
            new_nodes.append(rebuild(first, _negated_tensor(second, negate, index)))
        dtype = layer["config"].get("dtype", "float32")
        # The top-level "name" matters: TF.js 4.22 loops forever on a functional layer without one.
        negate_entry: JsonDict = {"class_name": "Rescaling",
                                  "config": {"name": negate, "trainable": False, "dtype": dtype,
                                             "scale": -1.0, "offset": 0.0},
                                  "name": negate, "inbound_nodes": negate_nodes}
        if keras3:
            negate_entry = {"module": "keras.layers", **negate_entry}
        layer["class_name"] = "Add"
        layer["inbound_nodes"] = new_nodes
        out.extend([negate_entry, layer])
    layers[:] = out
