"""Recurrent lowerings (SimpleRNN, LSTM, GRU, RNN cells, Bidirectional, TimeDistributed) against
numpy implementations of Keras's recurrences, run with the IR interpreter."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pytest
from lowering.keras.keras_configs import functional, input_layer, layer, lower, rng_array, run

from tfjsconv.errors import UnsupportedError

T, F = 5, 3


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _hard_sigmoid(x: np.ndarray) -> np.ndarray:  # tf-keras 2's definition
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def reference(kind: str, x: np.ndarray, w: dict[str, np.ndarray], *, go_backwards: bool = False,
              mask: Optional[np.ndarray] = None, reset_after: bool = True, ract: Any = _sigmoid,
              zero_output: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
    """Keras's rnn(): outputs per processed step and final states, with Keras's masking rules."""
    kernel, rec, bias = w["kernel"], w["recurrent_kernel"], w.get("bias")
    units = rec.shape[0]
    batch = x.shape[0]
    h = np.zeros((batch, units), np.float64)
    c = np.zeros_like(h)
    prev = np.zeros_like(h)
    outs = []
    steps = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    for t in steps:
        xt = x[:, t]
        if kind == "simple":
            new_h = np.tanh(xt @ kernel + (0 if bias is None else bias) + h @ rec)
            new_c = c
        elif kind == "lstm":
            z = xt @ kernel + h @ rec + (0 if bias is None else bias)
            i, f, g, o = np.split(z, 4, axis=1)
            new_c = ract(f) * c + ract(i) * np.tanh(g)
            new_h = ract(o) * np.tanh(new_c)
        else:
            b_in = 0 if bias is None else (bias[0] if reset_after else bias)
            b_rec = 0 if bias is None or not reset_after else bias[1]
            xz, xr, xh = np.split(xt @ kernel + b_in, 3, axis=1)
            if reset_after:
                rz, rr, rh = np.split(h @ rec + b_rec, 3, axis=1)
                z, r = ract(xz + rz), ract(xr + rr)
                hh = np.tanh(xh + r * rh)
            else:
                z = ract(xz + h @ rec[:, :units])
                r = ract(xr + h @ rec[:, units:2 * units])
                hh = np.tanh(xh + (r * h) @ rec[:, 2 * units:])
            new_h = z * h + (1 - z) * hh
            new_c = c
        if mask is not None:
            m = mask[:, t:t + 1]
            out = np.where(m, new_h, 0.0 if zero_output else prev)
            new_h, new_c = np.where(m, new_h, h), np.where(m, new_c, c)
        else:
            out = new_h
        h, c, prev = new_h, new_c, out
        outs.append(out)
    states = [h, c] if kind == "lstm" else [h]
    return np.stack(outs, axis=1), states


def _weights(rng: np.random.Generator, kind: str, units: int, in_dim: int = F,
             reset_after: bool = True) -> dict[str, np.ndarray]:
    gates = {"simple": 1, "lstm": 4, "gru": 3}[kind] * units
    bias = rng_array(rng, 2, gates) if kind == "gru" and reset_after else rng_array(rng, gates)
    return {"kernel": rng_array(rng, in_dim, gates), "recurrent_kernel": rng_array(rng, units, gates),
            "bias": bias}


CLASSES = {"simple": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


@pytest.mark.parametrize("kind,reset_after,go_backwards,return_sequences", [
    ("simple", True, False, True), ("simple", True, True, False), ("lstm", True, False, True),
    ("lstm", True, True, False), ("gru", True, False, True), ("gru", False, True, True),
    ("gru", False, False, False)])
def test_recurrent_layer_matches_keras(kind: str, reset_after: bool, go_backwards: bool,
                                       return_sequences: bool) -> None:
    rng = np.random.default_rng(1)
    weights = _weights(rng, kind, 4, reset_after=reset_after)
    extra = {"reset_after": reset_after} if kind == "gru" else {}
    config = functional([input_layer("x", [T, F]),
                         layer(CLASSES[kind], "rnn", "x", units=4, activation="tanh",
                               recurrent_activation="sigmoid", use_bias=True,
                               return_sequences=return_sequences, return_state=True,
                               go_backwards=go_backwards, **extra)],
                        ["x"], [["rnn", 0, i] for i in range(3 if kind == "lstm" else 2)])
    graph = lower(config, {"rnn": {f"cell/{k}": v for k, v in weights.items()}})
    x = rng_array(rng, 2, T, F, scale=1.0)
    got = run(graph, x=x)
    seq, states = reference(kind, x.astype(np.float64), weights, go_backwards=go_backwards,
                            reset_after=reset_after)
    want = [seq if return_sequences else seq[:, -1], *states]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_lstm_step_is_eleven_ops_and_uses_one_input_matmul() -> None:
    """The unrolled loop's cost: one MatMul for all input projections, one Unpack, then per step at
    most MatMul, AddV2, SplitV, Sigmoid, Split, Tanh x2, Mul x3, AddV2 (the first step fewer)."""
    rng = np.random.default_rng(2)
    config = functional([input_layer("x", [T, F]),
                         layer("LSTM", "lstm", "x", units=4, activation="tanh",
                               recurrent_activation="sigmoid",
                               use_bias=True, return_sequences=False)], ["x"], ["lstm"])
    graph = lower(config, {"lstm": {f"lstm_cell/{k}": v for k, v in _weights(rng, "lstm", 4).items()}})
    compute = [n for n in graph.nodes if n.op != "Const"]
    per_step = [n for n in compute if "/step_" in n.name]
    assert len(per_step) <= 11 * T - 3, len(per_step)  # step 0 has no recurrent MatMul/AddV2/f*c
    outside = [n.op for n in compute if "/step_" not in n.name and n.op != "Placeholder"]
    assert sorted(outside) == sorted(["Reshape", "MatMul", "BiasAdd", "Reshape", "Unpack"]), outside


def test_masked_steps_keep_states_and_repeat_outputs() -> None:
    """Masking(0.0) -> LSTM(return_sequences) -> GRU: masked steps keep the states, the sequence
    output repeats the last output (Keras's zero_output_for_mask=False)."""
    rng = np.random.default_rng(3)
    w_lstm, w_gru = _weights(rng, "lstm", 4), _weights(rng, "gru", 2, in_dim=4)
    config = functional([
        input_layer("x", [T, F]), layer("Masking", "mask", "x", mask_value=0.0),
        layer("LSTM", "lstm", "mask", units=4, activation="tanh", recurrent_activation="hard_sigmoid",
              use_bias=True, return_sequences=True),
        layer("GRU", "gru", "lstm", units=2, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
              reset_after=True, go_backwards=True)], ["x"], ["lstm", "gru"])
    graph = lower(config, {"lstm": {f"c/{k}": v for k, v in w_lstm.items()},
                           "gru": {f"c/{k}": v for k, v in w_gru.items()}})
    x = rng_array(rng, 2, T, F, scale=1.0)
    x[0, 3:] = 0.0
    x[1, 1] = 0.0  # a masked step in the middle
    mask = np.any(x != 0.0, axis=-1)
    got_seq, got_last = run(graph, x=x)
    seq, _ = reference("lstm", x.astype(np.float64), w_lstm, mask=mask, ract=_hard_sigmoid)
    gru_seq, _ = reference("gru", seq, w_gru, mask=mask, go_backwards=True)
    np.testing.assert_allclose(got_seq, seq, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_last, gru_seq[:, -1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul", None])
def test_bidirectional_with_mask_zeroes_masked_sequence_outputs(merge_mode: Optional[str]) -> None:
    rng = np.random.default_rng(4)
    fwd, bwd = _weights(rng, "gru", 3), _weights(rng, "gru", 3)
    inner = {"class_name": "GRU", "config": {"name": "gru", "units": 3, "activation": "tanh",
                                             "recurrent_activation": "sigmoid", "use_bias": True,
                                             "reset_after": True, "return_sequences": True,
                                             "return_state": True}}
    config = functional([
        input_layer("x", [T, F]), layer("Masking", "mask", "x", mask_value=0.0),
        layer("Bidirectional", "bi", "mask", layer=inner, merge_mode=merge_mode)],
        ["x"], [["bi", 0, i] for i in range(4 if merge_mode is None else 3)])
    weights = {f"forward_gru/gru_cell/{k}": v for k, v in fwd.items()}
    weights.update({f"backward_gru/gru_cell/{k}": v for k, v in bwd.items()})
    graph = lower(config, {"bi": weights})
    x = rng_array(rng, 2, T, F, scale=1.0)
    x[1, 2:] = 0.0
    mask = np.any(x != 0.0, axis=-1)
    got = run(graph, x=x)
    y, (h_f,) = reference("gru", x.astype(np.float64), fwd, mask=mask, zero_output=True)
    y_rev, (h_b,) = reference("gru", x.astype(np.float64), bwd, mask=mask, zero_output=True,
                              go_backwards=True)
    y_rev = y_rev[:, ::-1]
    merged = {"concat": [np.concatenate([y, y_rev], -1)], "sum": [y + y_rev], "ave": [(y + y_rev) / 2],
              "mul": [y * y_rev], None: [y, y_rev]}[merge_mode]
    for g, w in zip(got, [*merged, h_f, h_b]):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_stacked_cells_and_initial_state() -> None:
    """RNN(StackedRNNCells([SimpleRNNCell, LSTMCell])) called with initial states for both cells."""
    rng = np.random.default_rng(5)
    w0, w1 = _weights(rng, "simple", 3), _weights(rng, "lstm", 2, in_dim=3)
    cells = [{"class_name": "SimpleRNNCell",
              "config": {"name": "c0", "units": 3, "activation": "tanh", "use_bias": True}},
             {"class_name": "LSTMCell", "config": {"name": "c1", "units": 2, "activation": "tanh",
                                                   "recurrent_activation": "sigmoid", "use_bias": True}}]
    node = [["x", 0, 0, {}], ["h0", 0, 0, {}], ["h1", 0, 0, {}], ["c1", 0, 0, {}]]
    config = functional([
        input_layer("x", [T, F]), input_layer("h0", [3]), input_layer("h1", [2]), input_layer("c1", [2]),
        layer("RNN", "rnn", node, cell={"class_name": "StackedRNNCells", "config": {"cells": cells}},
              return_sequences=True)], ["x", "h0", "h1", "c1"], ["rnn"])
    weights = {f"stacked/c0/{k}": v for k, v in w0.items()}
    weights.update({f"stacked/c1/{k}": v for k, v in w1.items()})
    graph = lower(config, {"rnn": weights})
    x = rng_array(rng, 2, T, F, scale=1.0)
    h0, h1, c1 = rng_array(rng, 2, 3), rng_array(rng, 2, 2), rng_array(rng, 2, 2)
    (got,) = run(graph, x=x, h0=h0, h1=h1, c1=c1)
    # Stepping cell by cell with the given initial states.
    state0, state1 = [h0.astype(np.float64)], [h1.astype(np.float64), c1.astype(np.float64)]
    outs = []
    for t in range(T):
        a = np.tanh(x[:, t] @ w0["kernel"] + w0["bias"] + state0[0] @ w0["recurrent_kernel"])
        state0 = [a]
        z = a @ w1["kernel"] + state1[0] @ w1["recurrent_kernel"] + w1["bias"]
        i, f, g, o = np.split(z, 4, axis=1)
        c = _sigmoid(f) * state1[1] + _sigmoid(i) * np.tanh(g)
        state1 = [_sigmoid(o) * np.tanh(c), c]
        outs.append(state1[0])
    np.testing.assert_allclose(got, np.stack(outs, 1), rtol=1e-5, atol=1e-5)


def test_time_distributed_dense() -> None:
    rng = np.random.default_rng(6)
    kernel, bias = rng_array(rng, F, 4), rng_array(rng, 4)
    inner = {"class_name": "Dense", "config": {"name": "d", "units": 4, "activation": "relu",
                                               "use_bias": True}}
    config = functional([input_layer("x", [T, F]), layer("TimeDistributed", "td", "x", layer=inner)],
                        ["x"], ["td"])
    graph = lower(config, {"td": {"kernel": kernel, "bias": bias}})
    x = rng_array(rng, 2, T, F, scale=1.0)
    (got,) = run(graph, x=x)
    np.testing.assert_allclose(got, np.maximum(x @ kernel + bias, 0.0), rtol=1e-5, atol=1e-5)


def test_unknown_time_axis_becomes_a_while_loop() -> None:
    """A sequence length known only at run time: one StatelessWhile (cond/body in the library),
    masked, going backwards, with the same numbers as the unrolled form."""
    rng = np.random.default_rng(7)
    w = _weights(rng, "lstm", 3)
    config = functional([input_layer("x", [None, F]), layer("Masking", "mask", "x", mask_value=0.0),
                         layer("LSTM", "rnn", "mask", units=3, activation="tanh",
                               recurrent_activation="sigmoid",
                               use_bias=True, go_backwards=True, return_state=True)],
                        ["x"], [["rnn", 0, 0], ["rnn", 0, 2]])
    graph = lower(config, {"rnn": {f"c/{k}": v for k, v in w.items()}})
    assert [n.op for n in graph.nodes].count("StatelessWhile") == 1 and len(graph.functions) == 2
    x = rng_array(rng, 2, 6, F, scale=1.0)
    x[0, :2] = 0.0
    mask = np.any(x != 0.0, axis=-1)
    out, c = run(graph, x=x)
    seq, (_, want_c) = reference("lstm", x.astype(np.float64), w, go_backwards=True, mask=mask)
    np.testing.assert_allclose(out, seq[:, -1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c, want_c, rtol=1e-5, atol=1e-5)


def test_stateful_is_refused_with_reason() -> None:
    rng = np.random.default_rng(8)
    w = {f"c/{k}": v for k, v in _weights(rng, "simple", 2).items()}
    stateful = functional([input_layer("x", [T, F]),
                           layer("SimpleRNN", "rnn", "x", units=2, use_bias=True,
                                 stateful=True)], ["x"], ["rnn"])
    with pytest.raises(UnsupportedError, match="stateful=True"):
        lower(stateful, {"rnn": w})
