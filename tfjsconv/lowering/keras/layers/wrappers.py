"""Layer wrappers: Bidirectional (two recurrent layers over the sequence and its reverse, merged) and
TimeDistributed (any layer applied to every time step, as one call on (batch * time, ...))."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from ....ir.graph import Value
from ....ir.types import DType, Shape
from ...builder import dims
from ..registry import LAYERS, LayerCall, Lowered, Refusal, layer_key, lower_layer, static_dims
from .recurrent import WeightsView, _mask_of, build_cells, lower_recurrent

JsonDict = dict[str, Any]
_RECURRENT = ("SimpleRNN", "LSTM", "GRU", "RNN")


def _direction_weights(call: LayerCall) -> tuple[WeightsView, WeightsView]:
    """The forward and backward halves of a Bidirectional layer's variables (stored under
    ``forward_<name>/...`` and ``backward_<name>/...``)."""
    forward, backward = [], []
    for key in call.weights.items:
        (forward if key.split("/", 1)[0].startswith("forward_") else backward).append(key)
    return WeightsView(call.weights, forward), WeightsView(call.weights, backward)


def _inner(entry: Any, what: str) -> tuple[str, JsonDict]:
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise Refusal(f"has no {what} layer config")
    cls = str(entry.get("class_name"))
    if cls not in _RECURRENT:
        raise Refusal(f"wraps a {cls} layer; only the built-in recurrent layers are lowered")
    return cls, entry["config"]


def _merge(call: LayerCall, mode: Optional[str], y: Value, y_rev: Value) -> list[Value]:
    b = call.builder
    if mode is None:
        return [y, y_rev]
    if mode == "concat":
        return [b.concat([y, y_rev], -1, "merge")]
    if mode == "sum":
        return [b.binary("AddV2", y, y_rev, "merge")]
    if mode == "mul":
        return [b.binary("Mul", y, y_rev, "merge")]
    if mode == "ave":
        return [b.binary("Mul", b.binary("AddV2", y, y_rev), 0.5, "merge")]
    raise Refusal(f"merge_mode {mode!r} is not one of concat, sum, mul, ave, None")


@lower_layer("Bidirectional", mask="custom")
def bidirectional(call: LayerCall) -> Lowered:
    config = call.config
    fwd_cls, fwd_config = _inner(config.get("layer"), "wrapped")
    back_entry = config.get("backward_layer")
    back_cls, back_config = _inner(back_entry, "backward") if back_entry else (fwd_cls, fwd_config)
    x = call.inputs[0]
    in_dim = (dims(x) or (None,))[-1]
    fwd_weights, back_weights = _direction_weights(call)
    mask = _mask_of(call)
    return_sequences = bool(fwd_config.get("return_sequences", False))
    # Bidirectional makes both directions output zeros at masked steps of a returned sequence.
    zero = return_sequences
    initial = None
    given = call.kwargs.get("initial_state")
    if isinstance(given, list) and given:
        initial = [v for v in given if isinstance(v, Value)]
    elif len(call.args or []) > 1:  # tf-keras: the states are further entries of the inbound node
        initial = [v for v in call.args[1:] if isinstance(v, Value)]
    fwd_initial = back_initial = None
    if initial:
        half = len(initial) // 2
        fwd_initial, back_initial = initial[:half], initial[half:]
        count = sum(c.state_count for c in build_cells(call, fwd_cls, fwd_config, fwd_weights, in_dim))
        if len(initial) != 2 * count:
            raise Refusal(f"is given {len(initial)} initial states, its two directions have {2 * count}")
    with call.builder.scope("forward"):
        y, fwd_states = lower_recurrent(call, fwd_cls, fwd_config, fwd_weights, x, mask, fwd_initial,
                                        go_backwards=bool(fwd_config.get("go_backwards", False)),
                                        zero_output_for_mask=zero)
    with call.builder.scope("backward"):
        # The backward layer runs with the opposite go_backwards; its sequence output is flipped back
        # to input order (by packing the steps in that order).
        back_go = not bool(fwd_config.get("go_backwards", False)) if not back_entry \
            else bool(back_config.get("go_backwards", True))
        y_rev, back_states = lower_recurrent(call, back_cls, back_config, back_weights, x, mask, back_initial,
                                             go_backwards=back_go, zero_output_for_mask=zero,
                                             reverse_outputs=True)
    merged = _merge(call, config.get("merge_mode", "concat"), y, y_rev)
    outputs = list(merged)
    if fwd_config.get("return_state"):
        outputs += fwd_states + back_states
    out_mask = mask if return_sequences else None
    masks: list[Optional[Value]] = [out_mask] * len(merged) + [None] * (len(outputs) - len(merged))
    return Lowered(outputs, masks)


@lower_layer("TimeDistributed", mask="custom")
def time_distributed(call: LayerCall) -> Lowered:
    """The wrapped layer on (batch * time, ...), reshaped back to (batch, time, ...)."""
    b = call.builder
    entry = call.config.get("layer")
    if not isinstance(entry, dict):
        raise Refusal("has no wrapped layer config")
    inner_cls = str(entry.get("class_name"))
    lowering = LAYERS.get(layer_key(entry))
    if lowering is None:
        raise Refusal(f"wraps a {inner_cls} layer, which has no lowering")
    x = call.input
    shape = static_dims(call, x)
    if len(shape) < 3:
        raise Refusal("expects an input of rank 3 or more (batch, time, ...)")
    steps, inner = shape[1], shape[2:]
    if any(d is None for d in inner):
        raise Refusal("needs fixed inner dimensions (all but batch and time)")
    flat = b.reshape(x, [-1, *inner], "flatten_time")
    inner_config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    inner_call = dataclasses.replace(call, class_name=inner_cls, config=inner_config, inputs=[flat],
                                     masks=[None], args=[flat], kwargs={})
    with b.scope("inner"):
        result = lowering.fn(inner_call)
    outs = result.outputs if isinstance(result, Lowered) else ([result] if isinstance(result, Value)
                                                               else list(result))
    mask = call.masks[0] if call.masks else None
    restored = []
    for out in outs:
        out_shape = dims(out)
        if out_shape is None or any(d is None for d in out_shape[1:]):
            raise Refusal(f"the wrapped {inner_cls} has an output of unknown shape")
        if steps is not None:
            restored.append(b.reshape(out, [-1, steps, *out_shape[1:]], "restore_time"))
            continue
        # Unknown time axis: (batch, time) from the input's run-time shape.
        lead = b.op("StridedSlice", [b.op("Shape", [x], {"out_type": DType.INT32, "T": x.dtype}, name="shape",
                                          dtype=DType.INT32), b.ints([0], "begin"), b.ints([2], "end"),
                                     b.ints([1], "strides")],
                    {"Index": DType.INT32, "T": DType.INT32, "begin_mask": 0, "end_mask": 0,
                     "ellipsis_mask": 0,
                     "new_axis_mask": 0, "shrink_axis_mask": 0}, name="batch_time", dtype=DType.INT32)
        target = b.concat([lead, b.ints([int(d) for d in out_shape[1:]], "inner_dims")], 0, "restore_dims")
        value = b.op("Reshape", [out, target], {"Tshape": DType.INT32}, name="restore_time")
        value.shape = Shape.of((None, None, *out_shape[1:]))
        restored.append(value)
    return Lowered(restored, [mask] * len(restored))
