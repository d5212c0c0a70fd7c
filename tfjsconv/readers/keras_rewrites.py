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

from ..ir.graph import LazyArray
from ..writers.weights import Weight

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
            owner, _, rest = weight.name.partition("/")
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
