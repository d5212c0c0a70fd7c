"""MultiHeadAttention, Attention and AdditiveAttention lowerings against numpy references, including
the one place tf-keras 2 and Keras 3 disagree: a query row whose keys are all masked."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pytest
from lowering.keras.keras_configs import (
    functional,
    input_layer,
    k3_tensor,
    layer,
    lower,
    rng_array,
    run,
)

B, T, S, D = 2, 4, 3, 6


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _mha_weights(rng: np.random.Generator, heads: int, key_dim: int, value_dim: int, out: int,
                 q_dim: int = D, kv_dim: int = D) -> dict[str, np.ndarray]:
    return {"query/kernel": rng_array(rng, q_dim, heads, key_dim),
            "query/bias": rng_array(rng, heads, key_dim),
            "key/kernel": rng_array(rng, kv_dim, heads, key_dim), "key/bias": rng_array(rng, heads, key_dim),
            "value/kernel": rng_array(rng, kv_dim, heads, value_dim),
            "value/bias": rng_array(rng, heads, value_dim),
            "attention_output/kernel": rng_array(rng, heads, value_dim, out),
            "attention_output/bias": rng_array(rng, out)}


def _mha_reference(q: np.ndarray, v: np.ndarray, w: dict[str, np.ndarray], mask: Optional[np.ndarray],
                   keras3_zero: bool = False) -> tuple[np.ndarray, np.ndarray]:
    key_dim = w["query/kernel"].shape[-1]
    qp = np.einsum("btd,dhk->bthk", q, w["query/kernel"]) + w["query/bias"]
    kp = np.einsum("bsd,dhk->bshk", v, w["key/kernel"]) + w["key/bias"]
    vp = np.einsum("bsd,dhk->bshk", v, w["value/kernel"]) + w["value/bias"]
    scores = np.einsum("bthk,bshk->bhts", qp, kp) / np.sqrt(key_dim)
    if mask is not None:
        scores = scores + (1.0 - mask[:, None].astype(np.float64)) * -1e9
    probs = _softmax(scores)
    if mask is not None and keras3_zero:
        probs = np.where(mask[:, None], probs, 0.0)
    context = np.einsum("bhts,bshk->bthk", probs, vp)
    return np.einsum("bthk,hko->bto", context,
                     w["attention_output/kernel"]) + w["attention_output/bias"], probs


def _mha_config(mask_input: bool, causal: bool, scores: bool, keras3: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"return_attention_scores": scores, "use_causal_mask": causal}
    layers = [input_layer("q", [T, D]), input_layer("v", [S if not causal else T, D])]
    inputs = ["q", "v"]
    if mask_input:
        layers.append(input_layer("m", [T, S if not causal else T]))
        inputs.append("m")
    config = {"num_heads": 2, "key_dim": 3, "value_dim": 2, "output_shape": None, "use_bias": True,
              "attention_axes": [1] if keras3 else None}
    if keras3:
        kw = dict(kwargs)
        if mask_input:
            kw["attention_mask"] = k3_tensor("m")
        node: Any = {"args": [k3_tensor("q"), k3_tensor("v")], "kwargs": kw}
    else:
        kw = {"value": ["v", 0, 0], **kwargs}
        if mask_input:
            kw["attention_mask"] = ["m", 0, 0]
        node = [["q", 0, 0, kw]]
    layers.append(layer("MultiHeadAttention", "mha", node, **config))
    return functional(layers, inputs, [["mha", 0, 0], ["mha", 0, 1]] if scores else ["mha"])


@pytest.mark.parametrize("keras3", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_attention_with_attention_mask(keras3: bool, causal: bool) -> None:
    rng = np.random.default_rng(1)
    s = T if causal else S
    w = _mha_weights(rng, 2, 3, 2, D)
    graph = lower(_mha_config(True, causal, True, keras3), {"mha": w}, keras3=keras3)
    q, v = rng_array(rng, B, T, D, scale=1.0), rng_array(rng, B, s, D, scale=1.0)
    mask = (rng.uniform(size=(B, T, s)) < 0.6).astype(np.float32)
    mask[..., 0] = 1.0
    full = mask.astype(bool) & (np.tril(np.ones((T, s), bool)) if causal else True)
    want_out, want_scores = _mha_reference(q.astype(np.float64), v.astype(np.float64), w, full, keras3)
    got_out, got_scores = run(graph, q=q, v=v, m=mask)
    np.testing.assert_allclose(got_out, want_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("keras3", [False, True])
def test_float_attention_mask_values_follow_each_keras(keras3: bool) -> None:
    """A float attention_mask that is not 0/1: tf-keras (no input masks to AND it with) adds
    (1 - mask) * -1e9 with its values as they are, so 0.5 masks a key; Keras 3 casts it to bool, so
    0.5 keeps it."""
    rng = np.random.default_rng(3)
    w = _mha_weights(rng, 2, 3, 2, D)
    graph = lower(_mha_config(True, False, True, keras3), {"mha": w}, keras3=keras3)
    q, v = rng_array(rng, B, T, D, scale=1.0), rng_array(rng, B, S, D, scale=1.0)
    mask = rng.choice(np.array([0.0, 0.5, 1.0], np.float32), size=(B, T, S))
    mask[..., 0] = 1.0
    want_out, want_scores = _mha_reference(q.astype(np.float64), v.astype(np.float64), w,
                                           mask.astype(bool) if keras3 else mask, keras3)
    got_out, got_scores = run(graph, q=q, v=v, m=mask)
    assert (mask == 0.5).any()
    np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_out, want_out, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("keras3,scores,expect", [(False, True, "uniform"), (True, False, "uniform"),
                                                  (True, True, "zero")])
def test_fully_masked_query_row_follows_each_keras(keras3: bool, scores: bool, expect: str) -> None:
    """tf-keras adds -1e9 (in float32 the row's scores all round to -1e9: uniform weights); Keras 3's
    fused path (no scores returned) fills -2.4e38 (uniform too); Keras 3 returning its scores zeroes
    the masked probabilities (the row's output is the output bias alone)."""
    rng = np.random.default_rng(2)
    w = _mha_weights(rng, 2, 3, 2, D)
    graph = lower(_mha_config(True, False, scores, keras3), {"mha": w}, keras3=keras3)
    q, v = rng_array(rng, B, T, D, scale=1.0), rng_array(rng, B, S, D, scale=1.0)
    mask = np.ones((B, T, S), np.float32)
    mask[0, 1, :] = 0.0
    got = run(graph, q=q, v=v, m=mask)
    vp = np.einsum("sd,dhk->shk", v[0].astype(np.float64), w["value/kernel"]) + w["value/bias"]
    weights = np.zeros(S) if expect == "zero" else np.full(S, 1.0 / S)
    context = np.einsum("s,shk->hk", weights, vp)
    want_row = np.einsum("hk,hko->o", context, w["attention_output/kernel"]) + w["attention_output/bias"]
    np.testing.assert_allclose(got[0][0, 1], want_row, rtol=1e-5, atol=1e-5)
    if scores:
        np.testing.assert_allclose(got[1][0, :, 1, :], np.broadcast_to(weights, (2, S)), rtol=1e-6)


def test_self_attention_shares_one_projection_matmul() -> None:
    rng = np.random.default_rng(3)
    w = _mha_weights(rng, 2, 3, 2, D)
    node = [["q", 0, 0, {"value": ["q", 0, 0]}]]
    config = functional([input_layer("q", [T, D]),
                         layer("MultiHeadAttention", "mha", node, num_heads=2, key_dim=3, value_dim=2)],
                        ["q"], ["mha"])
    graph = lower(config, {"mha": w})
    assert sum(1 for n in graph.nodes if n.op == "MatMul") == 2  # QKV together, then the output
    q = rng_array(rng, B, T, D, scale=1.0)
    (got,) = run(graph, q=q)
    want, _ = _mha_reference(q.astype(np.float64), q.astype(np.float64), w, None)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _dense_attention_reference(q: np.ndarray, v: np.ndarray, k: np.ndarray, scores: np.ndarray,
                               v_mask: np.ndarray, q_mask: np.ndarray, causal: bool) -> np.ndarray:
    mask = v_mask[:, None, :]
    if causal:
        mask = mask & np.tril(np.ones(scores.shape[-2:], bool))
    scores = np.where(mask, scores, scores - 1e9)
    return (_softmax(scores) @ v) * q_mask[..., None]


@pytest.mark.parametrize("cls,mode,use_scale,causal", [
    ("Attention", "dot", True, False), ("Attention", "dot", False, True),
    ("Attention", "concat", True, False),
    ("AdditiveAttention", None, True, False), ("AdditiveAttention", None, False, True)])
def test_dense_attention_with_padding_masks(cls: str, mode: Optional[str], use_scale: bool,
                                            causal: bool) -> None:
    """Embedding(mask_zero) masks reach [query, value, key]; value positions that are padding get
    -1e9 and padded query rows are zeroed."""
    rng = np.random.default_rng(4)
    emb_q, emb_v, key = rng_array(rng, 10, 4), rng_array(rng, 10, 4), rng_array(rng, B, T, 4)
    layers = [input_layer("tq", [T], "int32"), input_layer("tv", [T], "int32"), input_layer("k", [T, 4]),
              layer("Embedding", "eq", "tq", input_dim=10, output_dim=4, mask_zero=True),
              layer("Embedding", "ev", "tv", input_dim=10, output_dim=4, mask_zero=True)]
    config: dict[str, Any] = {"use_scale": use_scale}
    if mode:
        config["score_mode"] = mode
    kwargs = {"use_causal_mask": causal} if causal else {}
    node = [["eq", 0, 0, {}], ["ev", 0, 0, {}], ["k", 0, 0, kwargs]]
    layers.append(layer(cls, "att", node, **config))
    weights: dict[str, Any] = {"eq": {"embeddings": emb_q}, "ev": {"embeddings": emb_v}}
    scale = np.float32(rng.normal()) if cls == "Attention" else rng_array(rng, 4)
    att_w = {}
    if use_scale:
        att_w["scale"] = scale
    if mode == "concat":
        att_w["concat_score_weight"] = np.float32(0.7)
    if att_w:
        weights["att"] = att_w
    graph = lower(functional(layers, ["tq", "tv", "k"], ["att"]), weights)
    tq = np.array([[3, 4, 0, 0], [1, 2, 5, 6]], np.int32)
    tv = np.array([[7, 0, 2, 0], [1, 1, 1, 0]], np.int32)
    (got,) = run(graph, tq=tq, tv=tv, k=key)
    q, v = emb_q[tq].astype(np.float64), emb_v[tv].astype(np.float64)
    k = key.astype(np.float64)
    if cls == "Attention" and mode == "dot":
        scores = q @ k.transpose(0, 2, 1) * (scale if use_scale else 1.0)
    elif cls == "Attention":
        inner = (q[:, :, None] + k[:, None]) * (scale if use_scale else 1.0)
        scores = 0.7 * np.tanh(inner).sum(-1)
    else:
        scores = ((scale if use_scale else 1.0) * np.tanh(q[:, :, None] + k[:, None])).sum(-1)
    want = _dense_attention_reference(q, v, k, scores, tv != 0, tq != 0, causal)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("axes", [(2,), (1, 2)])
def test_attention_over_other_axes(axes: tuple[int, ...]) -> None:
    """attention_axes: the other axes act as batch axes, the attention axes as one flattened axis."""
    rng = np.random.default_rng(5)
    w = _mha_weights(rng, 2, 3, 2, D)
    node = [["q", 0, 0, {"value": ["q", 0, 0]}]]
    config = functional([input_layer("q", [3, T, D]),
                         layer("MultiHeadAttention", "mha", node, num_heads=2, key_dim=3, value_dim=2,
                               attention_axes=list(axes))], ["q"], ["mha"])
    (got,) = run(lower(config, {"mha": w}), q=(q := rng_array(rng, B, 3, T, D, scale=1.0)))
    x = q.astype(np.float64)
    if axes == (2,):
        want = np.stack([_mha_reference(x[:, i], x[:, i], w, None)[0] for i in range(3)], axis=1)
    else:
        flat = x.reshape(B, 3 * T, D)
        want = _mha_reference(flat, flat, w, None)[0].reshape(B, 3, T, D)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
