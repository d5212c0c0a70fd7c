"""Attention layers: MultiHeadAttention, Attention (dot and concat scores), AdditiveAttention.

MultiHeadAttention's EinsumDense projections become rank-2 MatMuls (query, key and value share one
MatMul when they are the same tensor), the per-head products BatchMatMulV2 on (batch, heads, time,
depth) and the output projection one more MatMul.  The 1/sqrt(key_dim) factor is folded into the
query weights.  Masks follow each Keras exactly, because they differ where a query row has no
visible key:

* tf-keras 2 adds ``(1 - mask) * -1e9`` to the scores before the softmax;
* Keras 3 replaces masked scores by ``-0.7 * 3.38953e38`` (its fused attention path) or, when the
  layer returns its scores, by ``-1e9`` and zeroes the masked probabilities after the softmax.

The mask itself is the AND of the query's and value's (and key's) Keras masks, the
``attention_mask`` argument and the causal mask (``use_causal_mask``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ....ir.graph import LazyArray, Value
from ....ir.types import DType
from ...builder import Builder, dims
from ..registry import LayerCall, Lowered, Refusal, lower_layer, static_dims
from .einsum_dense import reshape

_KERAS3_FUSED_NEGATIVE = -0.7 * 3.38953e38  # keras.src.backend.tensorflow.nn._get_large_negative


def mask_of(call: LayerCall, value: Value) -> Optional[Value]:
    """The Keras mask the walker attached to ``value`` among this call's inputs."""
    for v, m in zip(call.inputs, call.masks):
        if v is value:
            return m
    return None


def as_bool(b: Builder, mask: Value) -> Value:
    if mask.dtype == DType.BOOL:
        return mask
    return b.binary("NotEqual", mask, b.const(np.zeros((), (mask.dtype or DType.FLOAT).numpy), "zero"))


def logical_and(b: Builder, a: Optional[Value], c: Optional[Value]) -> Optional[Value]:
    if a is None:
        return c
    if c is None:
        return a
    return b.op("LogicalAnd", [a, c], name="mask_and")


def causal_mask(b: Builder, q_len: Optional[int], k_len: Optional[int], query: Value, key: Value,
                q_axis: int, k_axis: int) -> Value:
    """Bool (T, S) lower triangle: query step i sees key steps j <= i."""
    if q_len is not None and k_len is not None:
        return b.const(np.tril(np.ones((q_len, k_len), np.bool_)), "causal_mask", DType.BOOL)
    rows = _range_along(b, query, q_axis, "causal/rows")
    cols = _range_along(b, key, k_axis, "causal/cols")
    return b.binary("GreaterEqual", b.expand_dims(rows, 1, "causal/rows_column"), cols, "causal_mask")


def _range_along(b: Builder, x: Value, axis: int, name: str) -> Value:
    shape = b.op("Shape", [x], {"out_type": DType.INT32}, name=f"{name}/shape", dtype=DType.INT32)
    size = b.op("StridedSlice", [shape, b.ints([axis], f"{name}/begin"), b.ints([axis + 1], f"{name}/end"),
                                 b.ints([1], f"{name}/strides")],
                {"Index": DType.INT32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                 "shrink_axis_mask": 1}, name=f"{name}/size", dtype=DType.INT32)
    return b.op("Range", [b.const(np.int32(0), f"{name}/start"), size, b.const(np.int32(1), f"{name}/delta")],
                {"Tidx": DType.INT32}, name=name, dtype=DType.INT32)


def expand_to(b: Builder, mask: Value, rank: int, axis: int) -> Value:
    while len(dims(mask) or ()) < rank:
        mask = b.expand_dims(mask, axis, "mask/expand")
    return mask


# ---------------------------------------------------------------------------------------------------
# MultiHeadAttention


_Projection = tuple[Any, Optional[Any], float]  # (kernel, bias, factor) of one EinsumDense


def _load(array: Any) -> np.ndarray:
    return np.asarray(array.load() if isinstance(array, LazyArray) else array, np.float32)


def _project(b: Builder, x: Value, parts: Sequence[_Projection], call: LayerCall, label: str) -> list[Value]:
    """``x`` (batch, time, dim) through the projections ``parts``: one (batch * time, sum of widths)
    MatMul split into the parts, each (batch, time, width)."""
    shape = static_dims(call, x)
    if len(shape) != 3 or shape[-1] is None:
        raise Refusal("supports (batch, time, features) inputs with attention over the time axis")
    flat = b.reshape(x, [-1, shape[-1]], f"{label}/flat")
    widths = [int(np.prod(k.shape[1:])) for k, _, _ in parts]

    def stacked_kernel(_: np.ndarray) -> np.ndarray:
        return np.concatenate([_load(k).reshape(k.shape[0], -1) * np.float32(f) for k, _, f in parts], axis=1)

    def stacked_bias(_: np.ndarray) -> np.ndarray:
        return np.concatenate([np.zeros(w, np.float32) if bias is None
                               else _load(bias).reshape(-1) * np.float32(f)
                               for (_, bias, f), w in zip(parts, widths)])

    anchor = parts[0][0]
    tag = f"mha:{label}"
    w = b.derived_weight(anchor, tag, stacked_kernel, f"{call.name}/{label}/kernel")
    y = b.op("MatMul", [flat, w], {"transpose_a": False, "transpose_b": False}, name=f"{label}/MatMul")
    if any(bias is not None for _, bias, _ in parts):
        bias_value = b.derived_weight(anchor, tag + ":bias", stacked_bias, f"{call.name}/{label}/bias")
        y = b.op("BiasAdd", [y, bias_value], {"data_format": b"NHWC"}, name=f"{label}/BiasAdd")
    pieces = [y] if len(parts) == 1 else b.outputs(
        "SplitV", [y, b.ints(widths, f"{label}/sizes"), b.ints([1], f"{label}/axis")],
        {"num_split": len(parts), "T": y.dtype, "Tlen": DType.INT32}, num_outputs=len(parts),
        name=f"{label}/split")
    return [b.reshape(p, [-1, -1 if shape[1] is None else shape[1], wd], f"{label}/steps_{i}")
            for i, (p, wd) in enumerate(zip(pieces, widths))]


def _heads(b: Builder, x: Value, heads: int, depth: int, name: str) -> Value:
    """(batch, time, heads * depth) -> (batch, heads, time, depth)."""
    steps = (dims(x) or (None, None))[1]
    if steps is None:
        split = b.reshape(x, [-1, x.shape.dims[1] if x.shape and x.shape.dims else -1, heads, depth],  # type: ignore
                          f"{name}/heads")
    else:
        split = reshape(b, x, [-1, steps, heads, depth], f"{name}/heads")
    return b.transpose(split, [0, 2, 1, 3], f"{name}/transpose")


def _mha_weights(call: LayerCall, part: str, in_dim: Optional[int], heads: int, depth: int,
                 factor: float = 1.0) -> _Projection:
    kernel = call.weight_array(f"{part}/kernel", shape=(in_dim, heads, depth))
    bias = call.weight_array(f"{part}/bias", shape=(heads, depth)) if call.get("use_bias", True) else None
    return kernel, bias, factor


def _check_mha_config(call: LayerCall) -> None:
    if call.config.get("use_gate"):
        raise Refusal("use_gate=True is not supported")
    if call.config.get("sliding_window") is not None:
        raise Refusal("sliding_window attention is not supported")


def _attention_axes(call: LayerCall, rank: int) -> list[int]:
    axes = call.config.get("attention_axes")
    if axes is None:
        return [rank - 2]
    return sorted({int(a) % rank for a in ([axes] if isinstance(axes, int) else axes)})


@dataclass(frozen=True)
class _Fold:
    """How an input of any rank was folded to (batch * other axes, attention positions, features)."""

    perm: list[int]
    others: list[int]  # sizes of the non-attention axes folded into the batch
    attended: list[int]  # sizes of the attention axes flattened into one


def _fold(b: Builder, x: Value, axes: list[int], name: str) -> tuple[Value, Optional[_Fold]]:
    shape = dims(x) or ()
    rank = len(shape)
    if axes == [1] and rank == 3:
        return x, None
    inner = list(range(1, rank - 1))
    if any(a not in inner for a in axes):
        raise Refusal(f"attention_axes {axes} must lie between the batch and the feature axis")
    others = [i for i in inner if i not in axes]
    if any(shape[i] is None for i in inner):
        raise Refusal("attention over several axes needs their sizes")
    perm = [0, *others, *axes, rank - 1]
    if perm != list(range(rank)):
        x = b.transpose(x, perm, f"{name}/fold_layout")
    attended = [int(shape[i]) for i in axes]  # type: ignore[misc]
    folded = b.reshape(x, [-1, int(np.prod(attended)), shape[-1]], f"{name}/fold")  # type: ignore[list-item]
    return folded, _Fold(perm, [int(shape[i]) for i in others], attended)  # type: ignore[misc]


def _unfold(b: Builder, y: Value, fold: _Fold, out_dims: list[int]) -> Value:
    y = b.reshape(y, [-1, *fold.others, *fold.attended, *out_dims], "unfold")
    lead = len(fold.perm) - 1  # every axis but the features, which the output projection replaced
    back = [fold.perm.index(i) for i in range(lead)]
    if back != list(range(lead)):
        y = b.transpose(y, back + list(range(lead, lead + len(out_dims))), "unfold_layout")
    return y


@lower_layer("MultiHeadAttention", mask="custom")
def multi_head_attention(call: LayerCall) -> Lowered:
    b = call.builder
    args = list(call.args or [])
    kwargs = call.kwargs
    query = args[0] if args else kwargs.get("query")
    value = args[1] if len(args) > 1 else kwargs.get("value")
    key = args[2] if len(args) > 2 else kwargs.get("key")
    if not isinstance(query, Value) or not isinstance(value, Value):
        raise Refusal("needs query and value tensors")
    key = key if isinstance(key, Value) else None
    _check_mha_config(call)
    axes = _attention_axes(call, len(static_dims(call, query)))
    original_query = query
    query, fold = _fold(b, query, axes, "query")
    if fold is not None:
        # Other axes batched, the attention axes flattened: plain (batch, time, features) attention.
        # Masks and scores would need the same folding; models with them are refused.
        if any(m is not None for m in call.masks) or kwargs.get("attention_mask") is not None or \
                kwargs.get("use_causal_mask") or kwargs.get("return_attention_scores"):
            raise Refusal(f"attention_axes={axes} with masks or returned scores is not supported")
        same_key = key is None or key is value
        value = query if value is original_query else _fold(b, value, axes, "value")[0]
        if not same_key:
            key = query if key is original_query else _fold(b, key, axes, "key")[0]
        elif key is not None:
            key = value
    q_shape, v_shape = static_dims(call, query), static_dims(call, value)
    k_tensor = key if key is not None else value
    k_shape = static_dims(call, k_tensor)
    heads, key_dim = int(call.config["num_heads"]), int(call.config["key_dim"])
    value_dim = int(call.config.get("value_dim") or key_dim)
    # The 1/sqrt(key_dim) factor both Kerases apply to the scores, folded into the query weights.
    q_w = _mha_weights(call, "query", q_shape[-1], heads, key_dim, 1.0 / float(np.sqrt(key_dim)))
    k_w = _mha_weights(call, "key", k_shape[-1], heads, key_dim)
    v_w = _mha_weights(call, "value", v_shape[-1], heads, value_dim)
    if query is k_tensor and query is value:
        q, k, v = _project(b, query, [q_w, k_w, v_w], call, "qkv")
    elif k_tensor is value:
        (q,) = _project(b, query, [q_w], call, "query")
        k, v = _project(b, value, [k_w, v_w], call, "kv")
    else:
        (q,) = _project(b, query, [q_w], call, "query")
        (k,) = _project(b, k_tensor, [k_w], call, "key")
        (v,) = _project(b, value, [v_w], call, "value")
    qh, kh, vh = _heads(b, q, heads, key_dim, "q"), _heads(b, k, heads, key_dim, "k"), \
        _heads(b, v, heads, value_dim, "v")
    scores = b.op("BatchMatMulV2", [qh, kh], {"adj_x": False, "adj_y": True}, name="scores")

    return_scores = bool(kwargs.get("return_attention_scores", False))
    q_mask = mask_of(call, query)
    mask: Optional[Value] = None
    if q_mask is not None:
        mask = b.expand_dims(as_bool(b, q_mask), -1, "query_mask")
    v_mask = mask_of(call, value)
    if v_mask is not None:
        mask = logical_and(b, mask, b.expand_dims(as_bool(b, v_mask), -2, "value_mask"))
    k_mask = mask_of(call, key) if key is not None and key is not value else None
    if k_mask is not None:
        mask = logical_and(b, mask, b.expand_dims(as_bool(b, k_mask), -2, "key_mask"))
    if kwargs.get("use_causal_mask"):
        mask = logical_and(b, mask, causal_mask(b, q_shape[1], k_shape[1], query, k_tensor, 1, 1))
    given = kwargs.get("attention_mask")
    if isinstance(given, Value):
        # tf-keras casts attention_mask to bool only to AND it with the inputs' masks; alone, its
        # values reach the softmax's (1 - mask) * -1e9 as they are (a float mask of 0.5 half-masks).
        # Keras 3 always casts it to bool.
        raw = mask is None and not call.keras3
        mask = given if raw else logical_and(b, as_bool(b, given), mask)
    probs = masked_softmax(b, scores, None if mask is None else expand_to(b, mask, 4, -3), call.keras3,
                           zero_masked=return_scores)
    context = b.op("BatchMatMulV2", [probs, vh], {"adj_x": False, "adj_y": False}, name="context")
    context = b.transpose(context, [0, 2, 1, 3], "context/transpose")
    out = _output_projection(call, context, heads, value_dim, q_shape)
    if fold is not None:
        out = _unfold(b, out, fold, list((dims(out) or ())[2:]))  # type: ignore[arg-type]
    outputs = [out] + ([probs] if return_scores else [])
    return Lowered(outputs, [q_mask] + [None] * (len(outputs) - 1))


def masked_softmax(b: Builder, scores: Value, mask: Optional[Value], keras3: bool,
                   zero_masked: bool) -> Value:
    if mask is None:
        return b.unary("Softmax", scores)
    if not keras3:
        keep = b.cast(mask, scores.dtype or DType.FLOAT)
        adder = b.binary("Mul", b.binary("Sub", b.scalar(1.0, DType.FLOAT), keep), -1e9, "mask_adder")
        return b.unary("Softmax", b.binary("AddV2", scores, adder))
    negative = -1e9 if zero_masked else _KERAS3_FUSED_NEGATIVE
    filled = b.op("SelectV2", [mask, scores, b.scalar(negative, DType.FLOAT, "masked_value")],
                  {"T": scores.dtype}, name="masked_scores", dtype=scores.dtype)
    probs = b.unary("Softmax", filled)
    if zero_masked:
        probs = b.op("SelectV2", [mask, probs, b.scalar(0.0, DType.FLOAT, "zero")], {"T": probs.dtype},
                     name="masked_probs", dtype=probs.dtype)
    return probs


def _output_projection(call: LayerCall, context: Value, heads: int, value_dim: int,
                       q_shape: tuple[Optional[int], ...]) -> Value:
    b = call.builder
    out_shape = call.config.get("output_shape")
    if out_shape is None:
        out_dims = [q_shape[-1]]
    else:
        out_dims = [int(out_shape)] if isinstance(out_shape, int) else [int(d) for d in out_shape]
    kernel = call.weight_array("attention_output/kernel", shape=(heads, value_dim, *out_dims))
    width = int(np.prod(out_dims))  # type: ignore[arg-type]
    w = b.derived_weight(kernel, "flat", lambda k: k.reshape(heads * value_dim, width),
                         f"{call.name}/attention_output/kernel")
    flat = b.reshape(context, [-1, heads * value_dim], "output/flat")
    y = b.op("MatMul", [flat, w], {"transpose_a": False, "transpose_b": False}, name="output/MatMul")
    if call.get("use_bias", True):
        bias = call.weight_array("attention_output/bias", shape=tuple(out_dims))
        y = b.op("BiasAdd", [y, b.derived_weight(bias, "flat", lambda v: v.reshape(-1),
                                                 f"{call.name}/attention_output/bias")],
                 {"data_format": b"NHWC"}, name="output/BiasAdd")
    return b.reshape(y, [-1, -1 if q_shape[1] is None else q_shape[1], *out_dims], "output")


# ---------------------------------------------------------------------------------------------------
# Attention, AdditiveAttention


def _attention_inputs(call: LayerCall) -> tuple[Value, Value, Value, Optional[Value], Optional[Value]]:
    args = list(call.args or [])
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = list(args[0])
    tensors = [a for a in args if isinstance(a, Value)] or list(call.inputs)
    if len(tensors) not in (2, 3):
        raise Refusal(f"expects [query, value] or [query, value, key], got {len(tensors)} tensors")
    q, v = tensors[0], tensors[1]
    k = tensors[2] if len(tensors) > 2 else v
    explicit = call.kwargs.get("mask")
    if isinstance(explicit, (list, tuple)) and explicit:
        masks = [m if isinstance(m, Value) else None for m in explicit]
        q_mask, v_mask = masks[0], masks[1] if len(masks) > 1 else None
    else:
        q_mask, v_mask = mask_of(call, q), mask_of(call, v)
    return q, v, k, q_mask, v_mask


def _scalar_weight(call: LayerCall, name: str) -> Value:
    return call.weight(name, shape=())


def _pairwise_tanh(b: Builder, q: Value, k: Value, scale: Optional[Value]) -> Value:
    """tanh(q[:, :, None] + k[:, None]) with (batch, Tq, Tv, dim) shape, scaled inside when given."""
    total = b.binary("AddV2", b.expand_dims(q, 2, "query_rows"), b.expand_dims(k, 1, "key_cols"), "pairwise")
    if scale is not None:
        total = b.binary("Mul", total, scale, "scaled")
    return b.unary("Tanh", total)


def _dense_attention(call: LayerCall, scores: Value, q: Value, v: Value, k: Value,
                     q_mask: Optional[Value], v_mask: Optional[Value]) -> Lowered:
    b = call.builder
    mask: Optional[Value] = None
    if v_mask is not None:
        mask = b.expand_dims(as_bool(b, v_mask), -2, "value_mask")
    causal = call.kwargs.get("use_causal_mask") or call.config.get("causal")
    if causal:
        q_len, k_len = (dims(q) or (None, None))[1], (dims(k) or (None, None))[1]
        mask = logical_and(b, mask, causal_mask(b, q_len, k_len, q, k, 1, 1))
    if mask is not None:
        lowered = b.binary("Sub", scores, 1e9, "masked_down")
        scores = b.op("SelectV2", [mask, scores, lowered], {"T": scores.dtype}, name="masked_scores",
                      dtype=scores.dtype)
    weights = b.unary("Softmax", scores)
    out = b.op("BatchMatMulV2", [weights, v], {"adj_x": False, "adj_y": False}, name="output")
    if q_mask is not None:
        keep = b.expand_dims(as_bool(b, q_mask), -1, "query_mask")
        out = b.binary("Mul", out, b.cast(keep, out.dtype or DType.FLOAT), "query_masked")
    outputs = [out]
    if call.kwargs.get("return_attention_scores"):
        outputs.append(weights)
    return Lowered(outputs, [q_mask] + [None] * (len(outputs) - 1))


@lower_layer("Attention", mask="custom")
def attention(call: LayerCall) -> Lowered:
    b = call.builder
    q, v, k, q_mask, v_mask = _attention_inputs(call)
    mode = call.config.get("score_mode", "dot")
    scale = _scalar_weight(call, "scale") if call.get("use_scale", False) else None
    if mode == "dot":
        scores = b.op("BatchMatMulV2", [q, k], {"adj_x": False, "adj_y": True}, name="scores")
        if scale is not None:
            scores = b.binary("Mul", scores, scale, "scaled_scores")
    elif mode == "concat":
        weight = _scalar_weight(call, "concat_score_weight")
        summed = b.reduce("Sum", _pairwise_tanh(b, q, k, scale), [-1], name="score_sum")
        scores = b.binary("Mul", summed, weight, "scores")
    else:
        raise Refusal(f"score_mode {mode!r} is not one of dot, concat")
    return _dense_attention(call, scores, q, v, k, q_mask, v_mask)


@lower_layer("AdditiveAttention", mask="custom")
def additive_attention(call: LayerCall) -> Lowered:
    b = call.builder
    q, v, k, q_mask, v_mask = _attention_inputs(call)
    tanh = _pairwise_tanh(b, q, k, None)
    if call.get("use_scale", True):
        dim = (dims(q) or (None,))[-1]
        tanh = b.binary("Mul", tanh, call.weight("scale", shape=(dim,)), "scaled")
    scores = b.reduce("Sum", tanh, [-1], name="scores")
    return _dense_attention(call, scores, q, v, k, q_mask, v_mask)
