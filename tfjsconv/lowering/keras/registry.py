"""The Keras layer-lowering registry: one registered function per Keras class.

A lowering gets a ``LayerCall`` (the builder, the layer's config, its named weights, the Values it
is called on and their Keras masks) and returns the layer's output Values::

    @lower_layer("Dense")
    def dense(call: LayerCall) -> Value:
        x = call.input
        ...

Keys are Keras class names as tf-keras 2 and Keras 3 serialize them.  Keras 3 functional-API tensor
operations (``x + 3`` recorded with module ``keras.src.ops.*``) are keyed ``op:<class_name>`` so
they never collide with the layer of the same name (``Add``).

Masks (Keras's implicit ``_keras_mask``): ``mask="keep"`` hands the first input's mask on unchanged,
as Keras does for the layers that set ``supports_masking``; ``mask="drop"`` (the default) forgets it,
as Keras does for every other layer; a lowering that computes or consumes masks sets
``mask="custom"`` and returns ``Lowered(outputs, masks)`` (``call.masks`` holds the input masks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

import numpy as np

from ...errors import InputError
from ...ir.graph import ArrayLike, Value
from ...ir.types import DType
from ...registry import Registry
from ..builder import Builder, dims

JsonDict = dict[str, Any]


class Refusal(Exception):
    """A layer the graph route cannot lower as configured; collected with all others, then reported."""


@dataclass
class Lowered:
    outputs: list[Value]
    masks: Optional[list[Optional[Value]]] = None


LowerResult = Union[Value, Sequence[Value], Lowered]
LowerFn = Callable[["LayerCall"], LowerResult]


@dataclass(frozen=True)
class Lowering:
    fn: LowerFn
    mask: str = "drop"  # "keep" | "drop" | "custom"


LAYERS: Registry[str, Lowering] = Registry("Keras layer lowering")
_OP_MODULES = ("keras.src.ops", "keras.ops")


def layer_key(entry: JsonDict) -> str:
    """The registry key of a config entry: its class, or ``op:<class>`` for a Keras 3 tensor op."""
    cls = str(entry.get("class_name"))
    module = entry.get("module")
    if isinstance(module, str) and module.startswith(_OP_MODULES):
        return f"op:{cls}"
    return cls


def lower_layer(*classes: str, mask: str = "drop") -> Callable[[LowerFn], LowerFn]:
    """Registers ``fn`` as the lowering of each Keras class in ``classes``."""

    def decorate(fn: LowerFn) -> LowerFn:
        for cls in classes:
            LAYERS.add(cls, Lowering(fn, mask))
        return fn

    return decorate


class LayerWeights:
    """One layer's stored variables by path below the layer (``kernel``, ``lstm_cell/kernel``...)."""

    def __init__(self, layer: str, items: Mapping[str, ArrayLike]) -> None:
        self.layer = layer
        self.items = dict(items)
        self.used: set[str] = set()

    def find(self, name: str) -> Optional[str]:
        if name in self.items:
            return name
        matches = [key for key in self.items if key.rsplit("/", 1)[-1] == name]
        return matches[0] if len(matches) == 1 else None

    def unused(self) -> list[str]:
        return sorted(set(self.items) - self.used)


@dataclass(frozen=True)
class LoweringOptions:
    """Conversion choices that change how layers are lowered (not what they compute)."""

    # Recurrent layers with a static sequence length: unrolled when short, else While loops of several
    # steps per iteration (the default, by measured TF.js speed: recurrent.steps_per_iteration), or
    # always one-step While loops (False: --control_flow_v2, the official flag asking for functional
    # control flow).
    unroll_loops: bool = True


@dataclass
class LayerCall:
    """One call of one Keras layer, as its lowering sees it."""

    builder: Builder
    name: str  # the layer's name (also the name scope of the nodes it emits)
    class_name: str
    config: JsonDict
    inputs: list[Value]  # the call's tensors, flattened in argument order
    masks: list[Optional[Value]]  # Keras masks of ``inputs`` (None: no mask)
    weights: LayerWeights
    keras3: bool  # Keras 3 semantics (hard_sigmoid, defaults that changed)
    path: Optional[str] = None
    args: Any = None  # the call's positional arguments with tensors as Values (other values as saved)
    kwargs: JsonDict = field(default_factory=dict)  # keyword arguments, likewise
    call_layer: Optional[Callable[[JsonDict, list[Value]], list[Value]]] = None  # lowers a sub-layer
    options: LoweringOptions = field(default_factory=LoweringOptions)

    # ----- inputs ---------------------------------------------------------------------------------
    @property
    def input(self) -> Value:
        if len(self.inputs) != 1:
            raise Refusal(f"expects one input tensor, got {len(self.inputs)}")
        return self.inputs[0]

    @property
    def dtype(self) -> DType:
        """The compute dtype of the layer (mixed precision computes in float32 in TF.js)."""
        return DType.FLOAT if layer_dtype(self.config) in ("float32", "float16", "bfloat16") \
            else DType.from_numpy(np.dtype(layer_dtype(self.config)))

    def get(self, key: str, default: Any = None) -> Any:
        value = self.config.get(key, default)
        return default if value is None else value

    # ----- weights --------------------------------------------------------------------------------
    def has_weight(self, name: str) -> bool:
        return self.weights.find(name) is not None

    def weight_array(self, *names: str, shape: Optional[Sequence[Optional[int]]] = None) -> ArrayLike:
        """The stored variable called ``names[0]`` (or an alias), its shape checked against ``shape``."""
        for name in names:
            key = self.weights.find(name)
            if key is not None:
                break
        else:
            stored = ", ".join(sorted(self.weights.items)) or "none"
            raise InputError(f"layer {self.name!r} ({self.class_name}) has no stored weight {names[0]!r} "
                             f"(stored: {stored})", self.path)
        self.weights.used.add(key)
        array = self.weights.items[key]
        if shape is not None:
            got = tuple(int(d) for d in array.shape)
            if len(got) != len(shape) or any(w is not None and w != g for w, g in zip(shape, got)):
                wanted = "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"
                raise InputError(f"layer {self.name!r} ({self.class_name}): weight {key!r} has shape {got} "
                                 f"but the config implies {wanted}", self.path)
        return array

    def weight(self, *names: str, shape: Optional[Sequence[Optional[int]]] = None) -> Value:
        array = self.weight_array(*names, shape=shape)
        return self.builder.weight(array, f"{self.name}/{names[0]}")

    def ignore_weight(self, name: str) -> None:
        """Marks a stored variable as deliberately unused (e.g. Normalization's sample ``count``)."""
        key = self.weights.find(name)
        if key is not None:
            self.weights.used.add(key)


def layer_dtype(config: Mapping[str, Any]) -> str:
    """The dtype a Keras config gives a layer: a string (tf-keras, Keras 3 InputLayer) or a Keras 3
    DTypePolicy; mixed policies compute in float32 here."""
    value = config.get("dtype")
    if isinstance(value, dict):
        value = (value.get("config") or {}).get("name")
    name = str(value or "float32")
    if name.startswith("mixed_"):
        return "float32"
    return name


def static_dims(call: LayerCall, value: Value, what: str = "input") -> tuple[Optional[int], ...]:
    """The static shape of ``value`` (known rank required; lowerings refuse otherwise)."""
    shape = dims(value)
    if shape is None:
        raise Refusal(f"needs the rank of its {what}, which is unknown")
    return shape
