"""Recurrent layers as StatelessWhile loops running k time steps per iteration (the first T mod k
steps peeled in front of the loop), against the same numpy references as the unrolled form, run
with the IR interpreter: every k from 1 to T over T = 5 steps, so loops with and without a peeled
remainder and with a single block are all checked."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from lowering.keras.keras_configs import functional, input_layer, layer, lower, rng_array, run
from lowering.keras.layers import test_recurrent as unrolled

from tfjsconv.lowering.keras.layers import recurrent

KS = [1, 2, 3, 4, 5]


@pytest.fixture
def blocks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setattr(recurrent, "UNROLL_UP_TO", 0)
    monkeypatch.setattr(recurrent, "STEPS_PER_ITERATION", request.param)
    yield request.param


@pytest.mark.parametrize("blocks", KS, indirect=True)
@pytest.mark.parametrize("case", [
    ("simple", True, False, True), ("simple", True, True, False), ("lstm", True, True, False),
    ("lstm", True, False, True), ("gru", True, False, True), ("gru", False, True, True)])
def test_cells_in_k_step_loops(blocks: int, case: tuple[str, bool, bool, bool]) -> None:
    unrolled.test_recurrent_layer_matches_keras(*case)


@pytest.mark.parametrize("blocks", KS, indirect=True)
def test_masks_and_go_backwards_in_k_step_loops(blocks: int) -> None:
    unrolled.test_masked_steps_keep_states_and_repeat_outputs()


@pytest.mark.parametrize("blocks", [2, 3], indirect=True)
@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_bidirectional_in_k_step_loops(blocks: int, merge_mode: str) -> None:
    unrolled.test_bidirectional_with_mask_zeroes_masked_sequence_outputs(merge_mode)


@pytest.mark.parametrize("blocks", [2, 3], indirect=True)
def test_stacked_cells_and_initial_states_in_k_step_loops(blocks: int) -> None:
    unrolled.test_stacked_cells_and_initial_state()


@pytest.mark.parametrize("blocks", [2, 3], indirect=True)
def test_loop_body_runs_k_steps_after_the_peeled_remainder(blocks: int) -> None:
    """T = 5: the T mod k first steps are in the graph, the loop body holds k steps (one recurrent
    MatMul each) and the loop runs T // k blocks."""
    rng = np.random.default_rng(9)
    config = functional([input_layer("x", [unrolled.T, unrolled.F]),
                         layer("LSTM", "lstm", "x", units=4, activation="tanh",
                               recurrent_activation="sigmoid", use_bias=True, return_sequences=True)],
                        ["x"], ["lstm"])
    weights = unrolled._weights(rng, "lstm", 4)
    graph = lower(config, {"lstm": {f"c/{k}": v for k, v in weights.items()}})
    loops = [n for n in graph.nodes if n.op == "StatelessWhile"]
    assert len(loops) == 1
    body = graph.functions[loops[0].attrs["body"].name]
    assert [n.op for n in body.nodes].count("MatMul") == blocks
    peeled = [n for n in graph.nodes if "/peeled/" in n.name and n.op == "Tanh"]
    assert len(peeled) == 2 * (unrolled.T % blocks)
    assert int(np.asarray(loops[0].inputs[1].producer.attrs["value"])) == unrolled.T // blocks
    x = rng_array(rng, 2, unrolled.T, unrolled.F, scale=1.0)
    (got,) = run(graph, x=x)
    seq, _ = unrolled.reference("lstm", x.astype(np.float64), weights)
    np.testing.assert_allclose(got, seq, rtol=1e-5, atol=1e-5)


def test_default_unrolls_short_sequences_and_loops_long_ones() -> None:
    """The default policy: unrolled up to UNROLL_UP_TO steps, else STEPS_PER_ITERATION steps per
    While iteration; --control_flow_v2 (unroll_loops=False) always loops, one step per iteration."""
    opts = recurrent.LoopOptions(True, False, False)
    assert recurrent.steps_per_iteration(recurrent.UNROLL_UP_TO, opts) is None
    assert recurrent.steps_per_iteration(recurrent.UNROLL_UP_TO + 1, opts) == recurrent.STEPS_PER_ITERATION
    assert recurrent.steps_per_iteration(None, opts) == 1
    functional_flow = recurrent.LoopOptions(True, False, False, unroll=False)
    assert recurrent.steps_per_iteration(3, functional_flow) == 1
    assert recurrent.steps_per_iteration(100, functional_flow) == 1
