"""Checks stored weights against the layer configs before anything is written.

TF.js only notices a weight whose shape contradicts its layer (``Dense(units=4)`` with a (3, 5)
kernel), a missing weight or a stray one when the model is loaded in the browser.  For the layer
classes whose variable shapes follow from their config alone, the rules below catch that here and
name the layer.  Anything not covered (wrappers, nested cells, input-dependent dimensions) is left
to TF.js: the check never refuses a model it does not understand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from ...errors import InputError
from ...registry import Registry
from .config import MODEL_CLASSES

JsonDict = dict[str, Any]
Shape = tuple[int, ...]


@dataclass(frozen=True)
class Expect:
    """One variable a layer must have: its leaf name and the dimensions known from the config
    (None where the dimension depends on the input)."""

    name: str
    dims: tuple[Optional[int], ...]


_Rule = Callable[[JsonDict], list[Expect]]
RULES: Registry[str, _Rule] = Registry("Keras weight-shape rule")


def _rule(*classes: str) -> Callable[[_Rule], _Rule]:
    return RULES.register(*classes)


def _ints(value: Any, rank: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * rank
    return tuple(int(v) for v in value)


def _bias(config: JsonDict, size: Optional[int]) -> list[Expect]:
    return [Expect("bias", (size,))] if config.get("use_bias", True) else []


@_rule("Dense")
def _dense(config: JsonDict) -> list[Expect]:
    units = int(config["units"])
    return [Expect("kernel", (None, units)), *_bias(config, units)]


def _conv(rank: int, transpose: bool) -> _Rule:
    def rule(config: JsonDict) -> list[Expect]:
        filters = int(config["filters"])
        size = _ints(config["kernel_size"], rank)
        dims = (*size, filters, None) if transpose else (*size, None, filters)
        return [Expect("kernel", dims), *_bias(config, filters)]
    return rule


for _rank in (1, 2, 3):
    RULES.add(f"Conv{_rank}D", _conv(_rank, False))
for _rank in (2, 3):
    RULES.add(f"Conv{_rank}DTranspose", _conv(_rank, True))


@_rule("DepthwiseConv2D")
def _depthwise(config: JsonDict) -> list[Expect]:
    size = _ints(config["kernel_size"], 2)
    multiplier = int(config.get("depth_multiplier", 1))
    return [Expect("depthwise_kernel", (*size, None, multiplier)), *_bias(config, None)]


def _separable(rank: int) -> _Rule:
    def rule(config: JsonDict) -> list[Expect]:
        size = _ints(config["kernel_size"], rank)
        multiplier = int(config.get("depth_multiplier", 1))
        filters = int(config["filters"])
        return [Expect("depthwise_kernel", (*size, None, multiplier)),
                Expect("pointwise_kernel", (*(1,) * rank, None, filters)), *_bias(config, filters)]
    return rule


RULES.add("SeparableConv1D", _separable(1))
RULES.add("SeparableConv2D", _separable(2))


@_rule("Embedding")
def _embedding(config: JsonDict) -> list[Expect]:
    return [Expect("embeddings", (int(config["input_dim"]), int(config["output_dim"])))]


def _recurrent(gates: int) -> _Rule:
    def rule(config: JsonDict) -> list[Expect]:
        units = int(config["units"])
        return [Expect("kernel", (None, gates * units)), Expect("recurrent_kernel", (units, gates * units)),
                *_bias(config, gates * units)]
    return rule


RULES.add("SimpleRNN", _recurrent(1))
RULES.add("LSTM", _recurrent(4))
RULES.add("GRU", _recurrent(3))  # reset_after=True (two bias rows) is refused before this runs


@_rule("BatchNormalization")
def _batch_norm(config: JsonDict) -> list[Expect]:
    axis = config.get("axis", -1)
    one = (None,) if isinstance(axis, int) or len(axis) == 1 else ()
    names = [n for n, flag in (("gamma", "scale"), ("beta", "center")) if config.get(flag, True)]
    if not one:  # several axes: the shape is the product of input dimensions; only names are checked
        return [Expect(n, ()) for n in [*names, "moving_mean", "moving_variance"]]
    return [Expect(n, one) for n in [*names, "moving_mean", "moving_variance"]]


@_rule("LayerNormalization")
def _layer_norm(config: JsonDict) -> list[Expect]:
    if config.get("rms_scaling"):  # Keras 3: gamma even with scale=False, and never beta
        return [Expect("gamma", ())]
    return [Expect(n, ()) for n, flag in (("gamma", "scale"), ("beta", "center")) if config.get(flag, True)]


@_rule("PReLU")
def _prelu(config: JsonDict) -> list[Expect]:
    return [Expect("alpha", ())]


def _shape_problem(expect: Expect, shape: Shape) -> str:
    if not expect.dims:
        return ""  # only the presence of this variable is checked
    if len(shape) != len(expect.dims) or any(want is not None and want != got
                                             for want, got in zip(expect.dims, shape)):
        wanted = "(" + ", ".join("?" if d is None else str(d) for d in expect.dims) + ")"
        return f"weight {expect.name!r} has shape {tuple(shape)} but the config implies {wanted}"
    return ""


def _layer_configs(entry: Any, out: dict[str, tuple[str, JsonDict]], seen: set[str]) -> None:
    """Top-level and nested-model layers by name; names used twice are dropped (ambiguous)."""
    if not isinstance(entry, dict):
        return
    config = entry.get("config")
    layers = config.get("layers") if isinstance(config, dict) else config
    for layer in layers if isinstance(layers, list) else ():
        if not isinstance(layer, dict) or not isinstance(layer.get("config"), dict):
            continue
        cls = str(layer.get("class_name"))
        name = layer.get("name") or layer["config"].get("name")
        if isinstance(name, str):
            if name in seen:
                out.pop(name, None)
            else:
                seen.add(name)
                out[name] = (cls, layer["config"])
        if cls in MODEL_CLASSES:
            _layer_configs(layer, out, seen)


def check_weight_shapes(model_config: Mapping[str, Any], weights: Iterable[tuple[str, Shape]],
                        path: Optional[Path] = None) -> None:
    """Raises InputError listing every layer whose stored variables contradict its config.

    ``weights`` are ``(tfjs-layers weight name, shape)`` pairs; a name's first component is the
    layer that owns it, its last the variable (``lstm/lstm_cell/kernel`` -> lstm, kernel).
    """
    configs: dict[str, tuple[str, JsonDict]] = {}
    _layer_configs(dict(model_config), configs, set())
    stored: dict[str, dict[str, Shape]] = {}
    for name, shape in weights:
        parts = name.split("/")
        # tf-keras layer names may contain "/" (DenseNet's `conv1/conv`): the owner is the longest
        # leading run of components that names a layer, else the first component.
        owner = next((candidate for candidate in ("/".join(parts[:i]) for i in range(len(parts) - 1, 0, -1))
                      if candidate in configs), parts[0])
        if len(parts) >= 2:
            stored.setdefault(owner, {})[parts[-1]] = tuple(int(d) for d in shape)
    problems: list[str] = []
    for layer, (cls, config) in configs.items():
        rule = RULES.get(cls)
        if rule is None:
            continue
        try:
            expected = rule(config)
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"layer {layer!r} ({cls}): config field {exc} is missing or malformed")
            continue
        problems += _layer_problems(layer, cls, expected, stored.get(layer, {}))
    if problems:
        raise InputError("the stored weights do not match the model config (TF.js would fail to load "
                         "them): " + "; ".join(problems[:8])
                         + (f"; and {len(problems) - 8} more" if len(problems) > 8 else ""), path)


def _layer_problems(layer: str, cls: str, expected: Sequence[Expect],
                    stored: Mapping[str, Shape]) -> list[str]:
    want = {e.name for e in expected}
    problems = []
    missing = [e.name for e in expected if e.name not in stored]
    extra = sorted(set(stored) - want)
    if missing or extra:
        detail = "; ".join(part for part in (
            f"missing {', '.join(missing)}" if missing else "",
            f"unexpected {', '.join(extra)}" if extra else "") if part)
        problems.append(f"layer {layer!r} ({cls}) stores {len(stored)} weight(s), the config implies "
                        f"{len(expected)} ({detail})")
    for expect in expected:
        if expect.name in stored:
            problem = _shape_problem(expect, stored[expect.name])
            if problem:
                problems.append(f"layer {layer!r} ({cls}): {problem}")
    return problems
