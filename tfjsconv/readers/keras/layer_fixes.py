"""Per-class fixes of Keras layer configs for tfjs-layers 4.22, and what the config walk collects.

A fix is ``fix(name, cls, config, found)`` registered for Keras class names with ``@fix("Conv2D", ...)``
(several fixes may apply to one class; they run in registration order).  It edits the already
cleaned layer config in place, or records in ``found`` (a ``Findings``) why TF.js cannot load or run
the layer.  ``fix_layer`` applies the checks every layer gets (activations, initializers,
regularizers, constraints, quantization) and then the class's own fixes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Callable, Optional

from ...registry import Registry
from .rewrites import WeightPlan

JsonDict = dict[str, Any]

_INITIALIZER_RENAMES = {"OrthogonalInitializer": "Orthogonal", "IdentityInitializer": "Identity"}

# Keras activation names that differ from their tfjs-layers registration.
_ACTIVATION_RENAMES = {"silu": "swish"}


@lru_cache(maxsize=1)
def tfjs_catalog() -> dict[str, frozenset[str]]:
    """Class names tfjs-layers 4.22 registers (regenerate: node scripts/gen_tfjs_layers_catalog.mjs)."""
    text = resources.files("tfjsconv.readers.keras").joinpath("tfjs_layers_catalog.json").read_text("utf-8")
    raw = json.loads(text)
    return {key: frozenset(value) for key, value in raw.items() if isinstance(value, list)}


def to_camel_case(identifier: str) -> str:
    """tfjs-layers' ``toCamelCase``: how it rewrites every snake_case string value it loads."""
    if len(identifier) <= 1 or "_" not in identifier:
        return identifier
    return re.sub(r"_+(\w|$)", lambda m: m.group(1).upper(), identifier)


@dataclass
class Findings:
    """Problems and notes collected over the whole config, reported together."""

    keras3: bool
    unknown: dict[str, list[str]] = field(default_factory=dict)  # class -> layer names
    unsupported: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    layer_classes: dict[str, str] = field(default_factory=dict)  # layer name -> class, all depths
    # layer name -> input shape (batch axis first), when recorded or inferred
    input_shapes: dict[str, tuple[Optional[int], ...]] = field(default_factory=dict)
    weight_plans: dict[str, WeightPlan] = field(default_factory=dict)  # rewritten layers' weight edits

    def input_rank(self, name: str) -> Optional[int]:
        shape = self.input_shapes.get(name)
        return None if shape is None else len(shape)

    def refuse(self, layer: str, cls: str, why: str) -> None:
        self.unsupported.append(f"layer {layer!r} ({cls}): {why}")


def rename_key(config: JsonDict, old: str, new: str) -> None:
    """Renames a key in place, keeping its position (model.json stays readable next to the source)."""
    items = [(new if key == old else key, value) for key, value in config.items()]
    config.clear()
    config.update(items)


# ---------------------------------------------------------------------------------------------
# Per-class fixes, registered by class name.  Each gets the layer's name, class and config dict
# (already cleaned) and may edit it in place or record why TF.js cannot load or run it.

LayerFix = Callable[[str, str, JsonDict, Findings], None]
# Keyed by (class name, fix name): one class may have several fixes, each registered once.
FIXES: Registry[tuple[str, str], LayerFix] = Registry("Keras layer fix")


def fix(*classes: str) -> Callable[[LayerFix], LayerFix]:
    """Decorator: registers a fix for each Keras class name."""

    def register(fn: LayerFix) -> LayerFix:
        for cls in classes:
            FIXES.add((cls, fn.__name__), fn)
        return fn

    return register


def fixes_for(cls: str) -> list[LayerFix]:
    """The fixes of one class, in registration order."""
    return [fn for (name, _), fn in FIXES.items() if name == cls]


@fix("InputLayer")
def _input_layer(name: str, cls: str, config: JsonDict, found: Findings) -> None:
    if "batch_shape" in config:  # Keras 3 spelling
        rename_key(config, "batch_shape", "batch_input_shape")
    for flag in ("sparse", "ragged"):
        if config.get(flag):
            found.refuse(name, "InputLayer", f"{flag} inputs are not supported by TF.js")
    config.pop("ragged", None)
    config.pop("optional", None)


@fix("LeakyReLU")
def _leaky_relu(name: str, cls: str, config: JsonDict, found: Findings) -> None:
    if "negative_slope" in config:  # Keras 3 renamed `alpha`; TF.js would silently use its default
        rename_key(config, "negative_slope", "alpha")


@fix("ReLU")
def _relu(name: str, cls: str, config: JsonDict, found: Findings) -> None:
    for arg in ("negative_slope", "threshold"):  # TF.js ReLU has max_value only
        if config.pop(arg, 0) not in (0, 0.0, None):
            found.refuse(name, "ReLU", f"non-zero {arg} is not supported by TF.js")


@fix("ELU")
def _elu(name: str, cls: str, config: JsonDict, found: Findings) -> None:
    if config.get("alpha", 1.0) not in (1, 1.0, None):
        found.refuse(name, "ELU", f"alpha={config['alpha']} is not supported by TF.js (only 1.0)")


@fix("SeparableConv2D", "SeparableConv1D")
def _separable(name: str, cls: str, config: JsonDict, found: Findings) -> None:
    # tf-keras 2.x serializes the base Conv's kernel_* fields too; TF.js's SeparableConv
    # constructor throws if any of them is non-null.  The layer has no `kernel` weight.
    for key in ("kernel_initializer", "kernel_regularizer", "kernel_constraint"):
        config.pop(key, None)


@fix("Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "Conv3DTranspose", "SeparableConv2D",
      "DepthwiseConv2D")
def _conv(name: str, cls: str, config: JsonDict, found: Findings) -> None:
    if config.get("groups", 1) not in (1, None):
        found.refuse(name, cls, "grouped convolution (groups > 1) is not supported by TF.js")
    config.pop("groups", None)
    if config.get("padding") == "causal":
        found.refuse(name, cls, "padding='causal' is not supported by TF.js")
    if config.get("output_padding") is not None:
        found.refuse(name, cls, "output_padding is not supported by TF.js")
    config.pop("output_padding", None)


@fix("GRU", "GRUCell")
def _gru(name: str, cls: str, config: JsonDict, found: Findings) -> None:
    if config.get("reset_after"):
        found.refuse(name, "GRU", "reset_after=True (the Keras default) is not supported by TF.js; "
                                  "build the GRU with reset_after=False")


@fix("BatchNormalization")
def _batch_norm(name: str, cls: str, config: JsonDict, found: Findings) -> None:
    if config.get("renorm"):  # extra renorm variables TF.js has no slot for
        found.refuse(name, cls, "renorm=True is not supported by TF.js")


def _single_axis(config: JsonDict) -> Optional[int]:
    axis = config.get("axis", -1)
    if isinstance(axis, list) and len(axis) == 1:
        axis = axis[0]
    return axis if isinstance(axis, int) else None


@fix("BatchNormalization")
def _batch_norm_axis(name: str, cls: str, config: JsonDict, found: Findings) -> None:
    # TF.js 4.22's batchNorm kernels index the statistics as if they ran along the last axis, so any
    # other axis loads fine and computes wrong values (observed); ranks above 4 throw at predict.
    rank = found.input_rank(name)
    axis = _single_axis(config)
    if axis is None:
        return
    if rank is None:
        if axis != -1:  # cannot tell whether it is the last axis: TF.js would be wrong if it is not
            found.refuse(name, cls, f"axis={axis} on an input whose rank tfjsconv cannot tell; TF.js 4.22 "
                                    "computes wrong values unless it is the last axis")
        return
    if rank > 4:
        found.refuse(name, cls, f"inputs of rank {rank} are not supported by TF.js 4.22 (at most 4)")
    elif axis % rank != rank - 1:
        found.refuse(name, cls, f"axis={axis} is not the last axis of its rank-{rank} input; TF.js 4.22 "
                                "computes wrong values for that")


@fix("Softmax")
def _softmax_axis(name: str, cls: str, config: JsonDict, found: Findings) -> None:
    rank = found.input_rank(name)
    axis = _single_axis(config)
    if axis is None and config.get("axis") is not None:
        found.refuse(name, cls, f"axis={config['axis']} (several axes) is not supported by TF.js 4.22")
    elif axis is not None and axis != -1 and (rank is None or axis % rank != rank - 1):
        # TF.js only computes softmax along the last axis and throws at predict time otherwise.
        where = f" of its rank-{rank} input" if rank else ""
        found.refuse(name, cls, f"axis={axis} is not the last axis{where}; TF.js 4.22 only supports "
                                "softmax along the last axis")


@fix("LayerNormalization")
def _layer_norm(name: str, cls: str, config: JsonDict, found: Findings) -> None:
    if config.get("rms_scaling"):  # Keras 3 option; TF.js would silently compute plain LayerNorm
        found.refuse(name, cls, "rms_scaling=True is not supported by TF.js")


@fix("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D")
def _global_pooling(name: str, cls: str, config: JsonDict, found: Findings) -> None:
    if config.get("keepdims"):  # TF.js always drops the pooled axes: the output shape would differ
        found.refuse(name, cls, "keepdims=True is not supported by TF.js")
    config.pop("keepdims", None)


@fix("MaxPooling1D", "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D")
def _pooling_1d_format(name: str, cls: str, config: JsonDict, found: Findings) -> None:
    # tfjs-layers 4.22's 1-D pooling layers have no data_format: they always pool axis 1 (observed:
    # channels_first pooled the channels, a silently wrong answer).
    if config.get("data_format") == "channels_first":
        found.refuse(name, cls, "data_format='channels_first' is ignored by TF.js 4.22's 1-D pooling "
                                "(it pools the channels)")


# Registered by tfjs-layers 4.22 but unusable in a loaded model (observed with real Keras 3 files).
_BROKEN_IN_TFJS = {
    "Resizing": "TF.js 4.22's Resizing fails at predict time (its call gets the input as a list) and "
                "would resize with align_corners=True",
    "CenterCrop": "TF.js 4.22's CenterCrop reports its output shape as the model's input shape, so "
                  "predict rejects real inputs",
    "CategoryEncoding": "TF.js 4.22's CategoryEncoding reports its output shape as the model's input "
                        "shape, so predict rejects real inputs",
}


@fix(*_BROKEN_IN_TFJS)
def _broken(name: str, cls: str, config: JsonDict, found: Findings) -> None:
    found.refuse(name, cls, _BROKEN_IN_TFJS[cls])


@fix("UpSampling2D")
def _upsampling(name: str, cls: str, config: JsonDict, found: Findings) -> None:
    interpolation = config.get("interpolation", "nearest")
    if interpolation == "bilinear":
        # TF.js 4.22 resizes without half-pixel centers; Keras uses them: outputs differ (observed).
        found.refuse(name, cls, "interpolation='bilinear' computes different values in TF.js 4.22 "
                                "(no half-pixel centers); use 'nearest'")
    elif interpolation != "nearest":
        found.refuse(name, cls, f"interpolation={interpolation!r} is not supported by TF.js")


@fix("Bidirectional")
def _bidirectional(name: str, cls: str, config: JsonDict, found: Findings) -> None:
    # TF.js derives the backward layer from `layer` and prefixes both with forward_/backward_
    # itself; Keras 3 stores the already-prefixed name, which would give `forward_forward_lstm`
    # (tf-keras stores the plain name, which may legitimately start with forward_).
    inner = config.get("layer")
    if found.keras3 and isinstance(inner, dict) and isinstance(inner.get("config"), dict):
        inner_name = inner["config"].get("name")
        if isinstance(inner_name, str) and inner_name.startswith("forward_"):
            inner["config"]["name"] = inner_name[len("forward_"):]
    config.pop("backward_layer", None)


# ---------------------------------------------------------------------------------------------
# Fields common to all layers.


def _check_activation(name: str, cls: str, key: str, config: JsonDict, found: Findings) -> None:
    value = config.get(key)
    if value is None:
        return
    if not isinstance(value, str):
        found.refuse(name, cls, f"{key} is a custom object, which TF.js cannot load")
        return
    value = _ACTIVATION_RENAMES.get(value, value)
    config[key] = value
    if found.keras3 and value == "hard_sigmoid":
        # Keras 3 redefined hard_sigmoid as relu6(x + 3) / 6; TF.js computes clip(0.2 x + 0.5).
        found.refuse(name, cls, f"{key}='hard_sigmoid' means relu6(x+3)/6 in Keras 3 but "
                                "clip(0.2x+0.5) in TF.js")
    elif to_camel_case(value) not in tfjs_catalog()["activations"]:
        found.refuse(name, cls, f"{key}={value!r} is not an activation TF.js has")


def _fix_initializer(name: str, key: str, config: JsonDict, found: Findings) -> None:
    value = config.get(key)
    if not isinstance(value, dict):
        return
    cls = _INITIALIZER_RENAMES.get(value.get("class_name"), value.get("class_name"))
    value["class_name"] = cls
    if cls not in tfjs_catalog()["initializers"]:
        # Initializers only create starting values, which the saved weights replace on load.
        del config[key]
        found.warnings.append(f"layer {name!r}: dropped {key} {cls!r} (TF.js has no such initializer; "
                              "it does not affect the loaded weights)")


def _fix_regularizer(name: str, key: str, config: JsonDict, found: Findings) -> None:
    value = config.get(key)
    if value is None:
        return
    if key == "activity_regularizer":
        # TF.js refuses to call a layer that has one; it only matters for training losses.
        del config[key]
        found.warnings.append(f"layer {name!r}: dropped activity_regularizer (TF.js cannot run layers "
                              "with one; it only affects training)")
        return
    cls = value.get("class_name") if isinstance(value, dict) else None
    args = value.get("config", {}) if isinstance(value, dict) else {}
    if cls in ("L1", "L2", "L1L2"):
        # TF.js registers only L1L2; Keras's L1 and L2 are its special cases.
        l1, l2 = (float(args.get(k) or 0.0) for k in ("l1", "l2"))
        config[key] = {"class_name": "L1L2", "config": {"l1": l1, "l2": l2}}
        return
    del config[key]
    found.warnings.append(f"layer {name!r}: dropped {key} {cls!r} (not in TF.js; it only affects training)")


def _fix_constraint(name: str, key: str, config: JsonDict, found: Findings) -> None:
    value = config.get(key)
    if value is None:
        return
    cls = value.get("class_name") if isinstance(value, dict) else None
    if cls not in tfjs_catalog()["constraints"]:
        del config[key]
        found.warnings.append(f"layer {name!r}: dropped {key} {cls!r} (not in TF.js; it only affects "
                              "training)")


def _common_fields(name: str, cls: str, config: JsonDict, found: Findings) -> None:
    for key in list(config):
        if key in ("activation", "recurrent_activation"):
            _check_activation(name, cls, key, config, found)
        elif key.endswith("_initializer"):
            _fix_initializer(name, key, config, found)
        elif key.endswith("_regularizer"):
            _fix_regularizer(name, key, config, found)
        elif key.endswith("_constraint"):
            _fix_constraint(name, key, config, found)
    if config.get("lora_rank"):
        found.refuse(name, cls, "LoRA-adapted layers are not supported by TF.js")
    if config.get("quantization_config") is not None:
        found.refuse(name, cls, "quantized layers are not supported by TF.js")
    for key in ("lora_rank", "lora_alpha", "quantization_config"):
        config.pop(key, None)
    dtype = config.get("dtype")
    if isinstance(dtype, dict) and isinstance(dtype.get("config"), dict):  # tf-keras mixed-precision Policy
        dtype = str(dtype["config"].get("name", "float32"))
        config["dtype"] = dtype
    if isinstance(dtype, str) and "_from_" in dtype:  # Keras 3 quantized policy, e.g. int8_from_float32
        found.refuse(name, cls, f"dtype policy {dtype!r} (quantized) is not supported by TF.js")
    elif isinstance(dtype, str) and _TFJS_DTYPE.get(dtype.replace("mixed_", "")):
        # TF.js has float32 and int32 only; a layer that creates its weights with its own dtype
        # (Embedding) fails to load with float64 (observed: "Unknown data type float64"). The
        # weights are written as float32 already, and TF.js computes in float32 whatever the policy.
        config["dtype"] = _TFJS_DTYPE[dtype.replace("mixed_", "")]


_TFJS_DTYPE = {"float64": "float32", "double": "float32", "float16": "float32", "half": "float32",
               "bfloat16": "float32", "int64": "int32", "int16": "int32", "int8": "int32", "uint8": "int32",
               "uint16": "int32", "uint32": "int32"}


def fix_layer(name: str, cls: str, config: JsonDict, found: Findings) -> None:
    """The checks every layer gets, then its class's own fixes."""
    _common_fields(name, cls, config, found)
    for layer_fix in fixes_for(cls):
        layer_fix(name, cls, config, found)
