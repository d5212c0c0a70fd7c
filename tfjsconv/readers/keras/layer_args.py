"""Window arguments of Keras layers checked before either route uses them.

Keras refuses a layer whose kernel, strides, pool, dilation or upsampling size has a dimension below
1 (``standardize_tuple`` in Keras 3, ``normalize_tuple`` in tf-keras), so no file Keras wrote holds
one. Both routes trust them: the graph route divides by strides when it sizes a window, and TF.js
cannot run a layers model with a zero stride. A config that has one is damaged or hand-made.
"""

from __future__ import annotations

from typing import Any

# Arguments that are a window dimension wherever a Keras layer has them.
_WINDOW_ARGS = ("kernel_size", "strides", "pool_size", "dilation_rate", "depth_multiplier")
# Arguments that are one only in some classes (``size`` means other things elsewhere).
_CLASS_ARGS = {"UpSampling1D": ("size",), "UpSampling2D": ("size",), "UpSampling3D": ("size",)}
_MAX_OBJECTS = 1_000_000  # a bound on the walk; configs this large are refused elsewhere


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _below_one(value: Any) -> bool:
    """True for a number, or a list holding a number, that is not >= 1 (NaN included)."""
    items = value if isinstance(value, list) else [value]
    return any(_is_number(v) and not v >= 1 for v in items)


def check_window_args(model_config: Any) -> None:
    """Raises ValueError naming the first layer whose window arguments Keras would refuse."""
    stack = [model_config]
    seen = 0
    while stack and seen < _MAX_OBJECTS:
        item = stack.pop()
        seen += 1
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        cls, config = item.get("class_name"), item.get("config")
        if isinstance(cls, str) and isinstance(config, dict):
            for key in (*_WINDOW_ARGS, *_CLASS_ARGS.get(cls, ())):
                if _below_one(config.get(key)):
                    name = config.get("name", item.get("name", "?"))
                    raise ValueError(f"layer {name} ({cls}) has {key}={config[key]!r}; Keras requires "
                                     "every dimension to be at least 1")
        stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
