"""Recurrent layers (SimpleRNN, LSTM, GRU, RNN over built-in cells or stacked cells) as TF ops.

One input projection MatMul for the whole sequence, then the time loop in one of two forms
(``steps_per_iteration`` picks, by length): unrolled (one ``Unpack`` into time steps, the cell's step
ops per step, one ``Pack`` of the outputs; rnn_steps.py) or a functional ``StatelessWhile`` whose body
runs several steps per iteration (rnn_while.py; one step when the length is only known at run time).

Masks (Keras's implicit ``_keras_mask`` of shape (batch, time)) follow Keras's ``rnn`` exactly: at a
masked step the states keep their previous values and the output repeats the previous output (or is
zero when ``zero_output_for_mask``, which Bidirectional sets for sequence outputs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

from ....ir.graph import Value
from ....ir.types import DType
from ...builder import Builder, dims
from ..registry import LayerCall, LayerWeights, Lowered, Refusal, lower_layer
from .rnn_cells import CELL_KINDS, Cell, make_cell
from .rnn_steps import States, run_steps
from .rnn_while import while_loop

JsonDict = dict[str, Any]


class WeightsView(LayerWeights):
    """The variables of one part of a layer (a Bidirectional direction, one stacked cell): lookups
    see only ``keys``, and what they use counts as used in the layer's own table."""

    def __init__(self, parent: LayerWeights, keys: Sequence[str]) -> None:
        self.layer = parent.layer
        self.items = parent.items
        self.used = parent.used
        self._keys = list(keys)

    def find(self, name: str) -> Optional[str]:
        if name in self._keys:
            return name
        matches = [key for key in self._keys if key.rsplit("/", 1)[-1] == name]
        return matches[0] if len(matches) == 1 else None

    def unused(self) -> list[str]:
        return sorted(set(self._keys) - self.used)


@dataclass(frozen=True)
class LoopOptions:
    return_sequences: bool
    go_backwards: bool
    zero_output_for_mask: bool
    reverse_outputs: bool = False  # pack sequence outputs in input order (Bidirectional's backward half)
    unroll: bool = True  # a static length is unrolled unless functional loops were asked for


def _mask_of(call: LayerCall) -> Optional[Value]:
    explicit = call.kwargs.get("mask")
    if isinstance(explicit, Value):
        return explicit
    if isinstance(explicit, list) and explicit and isinstance(explicit[0], Value):
        return explicit[0]
    return call.masks[0] if call.masks else None


# The default loop form for a static sequence length T, chosen by measured TF.js 4.22 speed
# (benchmarks/rnn_loop_speed.py and keras_graph.py, numbers in benchmarks/RESULTS.md, issue 8).
# Unrolled is the fastest form at every length, but costs ~11 nodes per LSTM step; a While loop pays
# a fixed cost per iteration in TF.js's async executor, so more steps per iteration run faster while
# each adds a step's ops to the body.  Default: unrolled up to UNROLL_UP_TO steps (about the size of
# the loop form), else STEPS_PER_ITERATION steps per While iteration, the most that keeps a two-layer
# LSTM(64) text model over 32 tokens within the official converter's node count (150 nodes against
# 207; 5 steps would give 217).  --control_flow_v2 asks for functional control flow: every recurrent
# layer becomes a While loop of one step per iteration, the smallest graph (82 nodes there).
UNROLL_UP_TO = 8
STEPS_PER_ITERATION = 4


def steps_per_iteration(steps: Optional[int], opts: LoopOptions) -> Optional[int]:
    """None to unroll the ``steps``-long loop, else the steps per While iteration."""
    if steps is None or not opts.unroll:
        return 1
    if steps <= UNROLL_UP_TO:
        return None
    return min(STEPS_PER_ITERATION, steps)


def run_loop(b: Builder, cells: Sequence[Cell], x: Value, mask: Optional[Value],
             initial: Optional[list[list[Value]]], opts: LoopOptions) -> tuple[Value, list[Value]]:
    """The time loop of ``cells`` (stacked: each feeds the next within a step) over ``x``
    (batch, time, features).  Returns (sequence or last output, final states of every cell)."""
    shape = dims(x)
    if shape is None or len(shape) < 3:
        raise Refusal("expects a (batch, time, ...) input")
    steps = shape[1]
    if steps == 0:
        raise Refusal("has an empty time axis")
    per_iteration = steps_per_iteration(steps, opts)
    if per_iteration is not None:
        return while_loop(b, cells, x, mask, initial, return_sequences=opts.return_sequences,
                          go_backwards=opts.go_backwards, zero_output_for_mask=opts.zero_output_for_mask,
                          reverse_outputs=opts.reverse_outputs, label=cells[0].label,
                          per_iteration=per_iteration)
    assert steps is not None
    with b.scope("inputs"):
        pieces = cells[0].project(x)
        columns = [b.outputs("Unpack", [p], {"num": steps, "axis": 1, "T": p.dtype}, num_outputs=steps,
                             name="steps") for p in pieces]
        mask_steps: Optional[list[Value]] = None
        if mask is not None:
            flag = mask if mask.dtype == DType.BOOL else b.cast(mask, DType.BOOL)
            flag = b.expand_dims(flag, -1, "mask/expand")
            mask_steps = b.outputs("Unpack", [flag], {"num": steps, "axis": 1, "T": DType.BOOL},
                                   num_outputs=steps, name="mask/steps")
    states: States = ([list(s) for s in initial] if initial is not None
                      else [[None] * c.state_count for c in cells])
    order = list(range(steps - 1, -1, -1) if opts.go_backwards else range(steps))
    done = run_steps(b, cells, [[col[t] for col in columns] for t in order],
                     [mask_steps[t] for t in order] if mask_steps is not None else None, states, None,
                     zero_output_for_mask=opts.zero_output_for_mask, labels=order)
    final_states = [s for cell_states in done.states for s in cell_states]
    outputs = done.outputs
    if not opts.return_sequences:
        return outputs[-1], final_states
    if opts.reverse_outputs:
        outputs = outputs[::-1]
    seq = b.op("Pack", outputs, {"N": len(outputs), "axis": 1, "T": outputs[0].dtype}, name="sequence")
    return seq, final_states


def _cell_entries(cls: str, config: JsonDict) -> list[tuple[str, JsonDict]]:
    """(cell class, cell config) of each cell of a recurrent layer config."""
    if cls != "RNN":
        return [(cls, config)]
    cell = config.get("cell")
    if isinstance(cell, list):
        cells = cell
    elif isinstance(cell, dict) and cell.get("class_name") == "StackedRNNCells":
        cells = (cell.get("config") or {}).get("cells") or []
    else:
        cells = [cell]
    out = []
    for entry in cells:
        if not isinstance(entry, dict) or str(entry.get("class_name")) not in CELL_KINDS:
            name = entry.get("class_name") if isinstance(entry, dict) else entry
            raise Refusal(f"recurrent cell {name!r} is not a built-in Keras cell")
        out.append((str(entry["class_name"]), entry.get("config") or {}))
    return out


def _cell_weight_groups(weights: LayerWeights, count: int) -> list[LayerWeights]:
    """One weight view per stacked cell: the variables grouped by the path that owns them, in the
    order the file stores them (cell by cell)."""
    if count == 1:
        return [weights]
    groups: dict[str, list[str]] = {}
    for key in weights.items:
        groups.setdefault(key.rsplit("/", 1)[0] if "/" in key else "", []).append(key)
    if len(groups) != count:
        raise Refusal(f"stores weights for {len(groups)} cells but its config has {count}")
    return [WeightsView(weights, keys) for keys in groups.values()]


def build_cells(call: LayerCall, cls: str, config: JsonDict, weights: LayerWeights,
                in_dim: Optional[int]) -> list[Cell]:
    entries = _cell_entries(cls, config)
    views = _cell_weight_groups(weights, len(entries))
    cells = []
    for k, ((cell_cls, cell_config), view) in enumerate(zip(entries, views)):
        label = call.name if len(entries) == 1 else f"{call.name}/cell_{k}"
        cell = make_cell(call, cell_cls, cell_config, view, in_dim, label)
        cells.append(cell)
        in_dim = cell.units
    return cells


def check_layer_options(config: JsonDict) -> None:
    if config.get("stateful"):
        raise Refusal("stateful=True: a graph model keeps no state between calls; re-save the model with "
                      "stateful=False")


def _initial_states(call: LayerCall, cells: Sequence[Cell]) -> Optional[list[list[Value]]]:
    """States passed as ``initial_state=`` (Keras 3 kwargs) or as extra inputs (tf-keras)."""
    given = call.kwargs.get("initial_state")
    flat: list[Value] = []
    if isinstance(given, Value):
        flat = [given]
    elif isinstance(given, (list, tuple)):
        flat = [v for v in given if isinstance(v, Value)]
    elif len(call.args or []) > 1:  # tf-keras: the states are further entries of the inbound node
        flat = [v for v in call.args[1:] if isinstance(v, Value)]
    if not flat:
        return None
    wanted = sum(c.state_count for c in cells)
    if len(flat) != wanted:
        raise Refusal(f"is given {len(flat)} initial states, its cells have {wanted}")
    out, i = [], 0
    for cell in cells:
        out.append(flat[i:i + cell.state_count])
        i += cell.state_count
    return out


def lower_recurrent(call: LayerCall, cls: str, config: JsonDict, weights: LayerWeights, x: Value,
                    mask: Optional[Value], initial: Optional[list[Value]], *, go_backwards: bool,
                    zero_output_for_mask: bool, reverse_outputs: bool = False) -> tuple[Value, list[Value]]:
    """One recurrent layer (``cls``/``config``) over ``x``: (output, flat final states)."""
    check_layer_options(config)
    b = call.builder
    if config.get("time_major"):
        x = b.transpose(x, [1, 0, 2], "time_major")
    shape = dims(x)
    cells = build_cells(call, cls, config, weights, shape[-1] if shape else None)
    grouped = None
    if initial:
        grouped, i = [], 0
        for cell in cells:
            grouped.append(list(initial[i:i + cell.state_count]))
            i += cell.state_count
    opts = LoopOptions(bool(config.get("return_sequences", False)), go_backwards, zero_output_for_mask,
                       reverse_outputs, call.options.unroll_loops)
    out, states = run_loop(b, cells, x, mask, grouped, opts)
    if config.get("time_major") and opts.return_sequences:
        out = b.transpose(out, [1, 0, 2], "time_major_output")
    return out, states


@lower_layer("SimpleRNN", "LSTM", "GRU", "RNN", mask="custom")
def recurrent_layer(call: LayerCall) -> Lowered:
    config = call.config
    x = call.inputs[0]
    shape = dims(x)
    cells_for_count = build_cells(call, call.class_name, config, call.weights, shape[-1] if shape else None)
    initial = _initial_states(call, cells_for_count)
    flat_initial = [v for group in initial for v in group] if initial else None
    mask = _mask_of(call)
    out, states = lower_recurrent(call, call.class_name, config, call.weights, x, mask, flat_initial,
                                  go_backwards=bool(config.get("go_backwards", False)),
                                  zero_output_for_mask=bool(config.get("zero_output_for_mask", False)))
    return_sequences = bool(config.get("return_sequences", False))
    outputs = [out]
    if config.get("return_state"):
        outputs += states
    masks: list[Optional[Value]] = [mask if return_sequences else None] + [None] * (len(outputs) - 1)
    return Lowered(outputs, masks)
