"""The recurrent time loop as a functional ``StatelessWhile`` (for sequences whose length is only known
at run time).

Outside the loop: the input projection of every step (time-major), the mask (time-major), the trip
count and zero initial states.  The loop variables are the step counter, the trip count, the states,
the previous output (masked layers), a TensorList of outputs (sequence outputs) and the
projections/mask it reads; the body gathers step ``t`` (``T - 1 - t`` going backwards), runs the
cells' step ops and writes the output.  TF.js runs such a graph with ``executeAsync``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Optional

import numpy as np

from ....ir.graph import Graph, Value
from ....ir.types import DType, FuncAttr, Shape
from ...builder import Builder, dims
from .rnn_cells import Cell


def _scalar_int(b: Builder, value: int, name: str) -> Value:
    return b.const(np.int32(value), name, DType.INT32)


def _size(b: Builder, x: Value, axis: int, name: str) -> Value:
    shape = b.op("Shape", [x], {"out_type": DType.INT32, "T": x.dtype}, name=f"{name}/shape",
                 dtype=DType.INT32)
    return b.op("StridedSlice", [shape, b.ints([axis], f"{name}/begin"), b.ints([axis + 1], f"{name}/end"),
                                 b.ints([1], f"{name}/strides")],
                {"Index": DType.INT32, "T": DType.INT32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0,
                 "new_axis_mask": 0, "shrink_axis_mask": 1}, name=name, dtype=DType.INT32)


def _zeros(b: Builder, batch: Value, width: int, name: str) -> Value:
    shape = b.op("Pack", [batch, _scalar_int(b, width, f"{name}/width")],
                 {"N": 2, "axis": 0, "T": DType.INT32}, name=f"{name}/shape", dtype=DType.INT32)
    out = b.op("Fill", [shape, b.scalar(0.0, DType.FLOAT, f"{name}/value")],
               {"T": DType.FLOAT, "index_type": DType.INT32}, name=name, dtype=DType.FLOAT)
    out.shape = Shape.of((None, width))
    return out


def _function_name(graph: Graph, base: str) -> str:
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in base)
    candidate, i = name, 1
    while candidate in graph.functions:
        candidate = f"{name}_{i}"
        i += 1
    return candidate


def while_loop(b: Builder, cells: Sequence[Cell], x: Value, mask: Optional[Value],
               initial: Optional[list[list[Value]]], *, return_sequences: bool, go_backwards: bool,
               zero_output_for_mask: bool, reverse_outputs: bool, label: str) -> tuple[Value, list[Value]]:
    """Same contract as ``recurrent.run_loop``, as one ``StatelessWhile`` node."""
    with b.scope("inputs"):
        time_major = b.transpose(x, [1, 0, 2], "time_major")
        pieces = cells[0].project(time_major)
        steps = _size(b, time_major, 0, "steps")
        batch = _size(b, time_major, 1, "batch")
        flags: Optional[Value] = None
        if mask is not None:
            flag = mask if mask.dtype == DType.BOOL else b.cast(mask, DType.BOOL)
            flags = b.expand_dims(b.transpose(flag, [1, 0], "mask/time_major"), -1, "mask/expand")
    states: list[Value] = []
    for k, cell in enumerate(cells):
        given = initial[k] if initial is not None else None
        for s in range(cell.state_count):
            states.append(given[s] if given is not None else _zeros(b, batch, cell.units, f"zeros_{k}_{s}"))
    last_units = cells[-1].units
    # With a mask the output is a loop variable of its own: Keras repeats the previous OUTPUT at a
    # masked step (zero before the first), or outputs zeros there (zero_output_for_mask).
    track_previous = mask is not None
    loop_vars: list[Value] = [_scalar_int(b, 0, "counter"), steps, *states]
    if track_previous:
        loop_vars.append(_zeros(b, batch, last_units, "previous_output"))
    if return_sequences:
        loop_vars.append(b.op("TensorListReserve", [b.ints([-1, last_units], "outputs/element_shape"), steps],
                              {"element_dtype": DType.FLOAT, "shape_type": DType.INT32}, name="outputs",
                              dtype=DType.VARIANT))
    captured_at = len(loop_vars)
    loop_vars += list(pieces) + ([flags] if flags is not None else [])

    graph = b.graph
    body_name = _function_name(graph, f"{label}_while_body")
    cond_name = _function_name(graph, f"{label}_while_cond")
    graph.functions[body_name] = Graph(name=body_name)  # reserve both names before building
    graph.functions[cond_name] = Graph(name=cond_name)

    # ----- cond(i, steps, ...) = i < steps -------------------------------------------------------
    cb = Builder(Graph(name=cond_name))
    args = [cb.placeholder(f"arg_{i}", v.dtype or DType.FLOAT, None) for i, v in enumerate(loop_vars)]
    cb.graph.outputs = [("keep_going", cb.op("Less", [args[0], args[1]], {"T": DType.INT32}, name="less",
                                             dtype=DType.BOOL))]
    graph.functions[cond_name] = cb.graph

    # ----- body ------------------------------------------------------------------------------------
    bb = Builder(Graph(name=body_name))
    args = [bb.placeholder(f"arg_{i}", v.dtype or DType.FLOAT, _dims_of(v)) for i, v in enumerate(loop_vars)]
    counter, count = args[0], args[1]
    index = counter
    if go_backwards:
        index = bb.binary("Sub", bb.binary("Sub", count, _scalar_int(bb, 1, "one")), counter, "index")
    captured = args[captured_at:]
    body_pieces = [bb.op("GatherV2", [p, index, _scalar_int(bb, 0, "axis")],
                         {"batch_dims": 0, "Tparams": p.dtype, "Tindices": DType.INT32, "Taxis": DType.INT32},
                         name="step_input") for p in captured[:len(pieces)]]
    for piece, outer in zip(body_pieces, pieces):
        piece.dtype = outer.dtype
    body_cells = [dataclasses.replace(c, call=dataclasses.replace(c.call, builder=bb)) for c in cells]
    pos = 2
    old_states: list[list[Value]] = []
    for cell in body_cells:
        old_states.append(args[pos:pos + cell.state_count])
        pos += cell.state_count
    previous = args[pos] if track_previous else None
    accumulator = args[pos + (1 if track_previous else 0)] if return_sequences else None
    out: Optional[Value] = None
    new_states: list[list[Value]] = []
    for k, cell in enumerate(body_cells):
        step_in = body_pieces if k == 0 else cell.project(out)  # type: ignore[arg-type]
        out, cell_states = cell.step(step_in, old_states[k])
        new_states.append(cell_states)
    assert out is not None
    if flags is not None:
        m = bb.op("GatherV2", [captured[len(pieces)], index, _scalar_int(bb, 0, "axis")],
                  {"batch_dims": 0, "Tparams": DType.BOOL, "Tindices": DType.INT32, "Taxis": DType.INT32},
                  name="step_mask", dtype=DType.BOOL)
        new_states = [[_where(bb, m, n, o) for n, o in zip(ns, olds)]
                      for ns, olds in zip(new_states, old_states)]
        fallback = previous if previous is not None and not zero_output_for_mask else \
            bb.op("ZerosLike", [out], {"T": out.dtype}, name="zeros")
        out = _where(bb, m, out, fallback)
    results: list[Value] = [bb.binary("AddV2", counter, _scalar_int(bb, 1, "one_step"), "next"), count]
    results += [s for group in new_states for s in group]
    if track_previous:
        results.append(out)
    if accumulator is not None:
        slot = index if reverse_outputs else counter
        results.append(bb.op("TensorListSetItem", [accumulator, slot, out], {"element_dtype": DType.FLOAT},
                             name="write", dtype=DType.VARIANT))
    results += captured
    bb.graph.outputs = [(f"out_{i}", v) for i, v in enumerate(results)]
    graph.functions[body_name] = bb.graph

    loop = b.outputs("StatelessWhile", loop_vars, {
        "T": [v.dtype for v in loop_vars], "cond": FuncAttr(cond_name), "body": FuncAttr(body_name),
        "output_shapes": [Shape.unknown() for _ in loop_vars], "parallel_iterations": 10},
        name="while", num_outputs=len(loop_vars))
    for value, var in zip(loop, loop_vars):
        value.dtype, value.shape = var.dtype, var.shape
    final_states = loop[2:2 + len(states)]
    if not return_sequences:
        # Unmasked, the last output is the last cell's new h: its first state.
        last = loop[2 + len(states)] if track_previous else final_states[-cells[-1].state_count]
        return last, final_states
    handle = loop[2 + len(states) + (1 if track_previous else 0)]
    stacked = b.op("TensorListStack", [handle, b.ints([-1, last_units], "stack/element_shape")],
                   {"element_dtype": DType.FLOAT, "num_elements": -1}, name="stack", dtype=DType.FLOAT)
    stacked.shape = Shape.of(((dims(x) or (None, None))[1], None, last_units))
    sequence = b.transpose(stacked, [1, 0, 2], "sequence")
    return sequence, final_states


def _where(b: Builder, mask: Value, new: Value, old: Value) -> Value:
    return b.op("SelectV2", [mask, new, old], {"T": new.dtype}, name="masked", dtype=new.dtype)


def _dims_of(value: Value) -> Optional[tuple[Optional[int], ...]]:
    return dims(value)
