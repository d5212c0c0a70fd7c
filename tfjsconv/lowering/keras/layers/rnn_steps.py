"""A run of consecutive recurrent time steps written out op by op: the whole sequence when a loop is
unrolled, the steps peeled before a ``While`` loop, and the ``k`` steps of one loop iteration.

Masks follow Keras's ``rnn``: at a masked step the states keep their previous values and the output
repeats the previous output (zero before the first), or is zero when ``zero_output_for_mask``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional

from ....ir.graph import Value
from ...builder import Builder
from .rnn_cells import Cell

States = list[list[Optional[Value]]]  # per cell; None = an all-zero state nobody materialised


@dataclass
class StepsResult:
    outputs: list[Value]  # one (batch, units) output per step, in processing order
    states: list[list[Value]]
    previous: Optional[Value]  # the last output (what a masked step after these repeats)


@contextmanager
def _maybe_scope(b: Builder, name: Optional[str]) -> Iterator[None]:
    if name is None:
        yield
    else:
        with b.scope(name):
            yield


def _select(b: Builder, mask_t: Value, new: Value, old: Value) -> Value:
    return b.op("SelectV2", [mask_t, new, old], {"T": new.dtype}, name="masked", dtype=new.dtype)


def run_steps(b: Builder, cells: Sequence[Cell], columns: Sequence[Sequence[Value]],
              masks: Optional[Sequence[Value]], states: States, previous: Optional[Value], *,
              zero_output_for_mask: bool, labels: Sequence[int]) -> StepsResult:
    """Steps ``columns[p]`` (the input-projection pieces of step p, each (batch, gates)) through the
    ``cells`` (stacked: each feeds the next within a step) from ``states``; ``masks[p]`` is step p's
    (batch, 1) boolean mask.  ``labels[p]`` names step p's scope."""
    outputs: list[Value] = []
    current: States = [list(s) for s in states]
    for p, pieces in enumerate(columns):
        with b.scope(f"step_{labels[p]}"):
            out: Optional[Value] = None
            new_states: list[list[Value]] = []
            for k, cell in enumerate(cells):
                with _maybe_scope(b, f"cell_{k}" if len(cells) > 1 else None):
                    step_in = list(pieces) if k == 0 else cell.project(out)  # type: ignore[arg-type]
                    out, cell_states = cell.step(step_in, current[k])
                new_states.append(cell_states)
            assert out is not None
            if masks is not None:
                m = masks[p]
                zeros: dict[int, Value] = {}

                def zero_like(v: Value, zeros: dict[int, Value] = zeros) -> Value:
                    key = v.shape.dims[-1] if v.shape is not None and v.shape.dims else -1
                    if key not in zeros:
                        zeros[key] = b.op("ZerosLike", [v], {"T": v.dtype}, name="zeros")
                    return zeros[key]

                new_states = [[_select(b, m, n, o if o is not None else zero_like(n))
                               for n, o in zip(ns, olds)] for ns, olds in zip(new_states, current)]
                fallback = zero_like(out) if zero_output_for_mask or previous is None else previous
                out = _select(b, m, out, fallback)
            current = new_states  # type: ignore[assignment]
            previous = out
            outputs.append(out)
    return StepsResult(outputs, current, previous)  # type: ignore[arg-type]
