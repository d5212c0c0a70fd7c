"""The recurrent time loop as a functional ``StatelessWhile`` whose body runs ``k`` time steps per
iteration (``k`` = 1 when the sequence length is only known at run time).

Outside the loop: the input projection of every step (time-major, reversed once for go_backwards so
the loop always walks forward), the mask (time-major), and, for a static length T, the first
``T mod k`` steps written out op by op ("peeled") so the loop runs whole blocks of ``k`` steps: the
projections are reshaped to (T // k, k, batch, gates) and iteration i gathers block i, unpacks it
into its ``k`` steps and writes their ``k`` outputs to a TensorList as one (k, batch, units) element.
Peeling at the front rather than the end lets the first step skip its recurrent MatMul when it
starts from zero states.  The loop variables are the block counter, the block count, the states,
the previous output (masked layers), the TensorList (sequence outputs) and the projections/mask it
reads.  TF.js runs such a graph with ``executeAsync``.
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
from .rnn_steps import States, run_steps


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


def _reverse(b: Builder, x: Value, name: str) -> Value:
    return b.op("ReverseV2", [x, b.ints([0], f"{name}/axis")], {"Tidx": DType.INT32}, name=name)


def _unpack(b: Builder, x: Value, num: int, name: str) -> list[Value]:
    return b.outputs("Unpack", [x], {"num": num, "axis": 0, "T": x.dtype}, num_outputs=num, name=name)


def _split_front(b: Builder, x: Value, head: int, total: int, name: str) -> tuple[Value, Value]:
    """The first ``head`` steps of time-major ``x`` and the rest."""
    first, rest = b.outputs("SplitV", [x, b.ints([head, total - head], f"{name}/sizes"),
                                       b.ints([0], f"{name}/axis")],
                            {"num_split": 2, "T": x.dtype, "Tlen": DType.INT32}, num_outputs=2, name=name)
    return first, rest


def _as_bool(b: Builder, x: Value, name: str) -> Value:
    return x if x.dtype == DType.BOOL else b.cast(x, DType.BOOL, name)


def _blocks(b: Builder, x: Value, blocks: int, k: int, name: str) -> Value:
    """(blocks * k, batch, width) -> (blocks, k, batch, width)."""
    width = (dims(x) or (None,))[-1]
    return b.reshape(x, [blocks, k, None, width], name)


def while_loop(b: Builder, cells: Sequence[Cell], x: Value, mask: Optional[Value],
               initial: Optional[list[list[Value]]], *, return_sequences: bool, go_backwards: bool,
               zero_output_for_mask: bool, reverse_outputs: bool, label: str,
               per_iteration: int = 1) -> tuple[Value, list[Value]]:
    """Same contract as ``recurrent.run_loop``, as one ``StatelessWhile`` node running
    ``per_iteration`` steps per iteration (a static length only; 1 otherwise)."""
    total = (dims(x) or (None, None))[1]
    k = max(1, min(per_iteration, total)) if total is not None else 1
    peel = total % k if total is not None else 0
    with b.scope("inputs"):
        time_major = b.transpose(x, [1, 0, 2], "time_major")
        pieces = cells[0].project(time_major)
        flags: Optional[Value] = None
        if mask is not None:
            # TF.js wasm's ReverseV2/SplitV misread bool tensors (out-of-bounds reads): a mask that is
            # reversed or split moves as 0/1 floats until it is cut into loop blocks.
            if not (go_backwards or peel):
                flag = _as_bool(b, mask, "Cast")
            else:
                flag = b.cast(mask, DType.FLOAT) if mask.dtype == DType.BOOL else mask
            flags = b.expand_dims(b.transpose(flag, [1, 0], "mask/time_major"), -1, "mask/expand")
        if go_backwards:  # walk the reversed sequence forwards
            pieces = [_reverse(b, p, f"reverse_{i}") for i, p in enumerate(pieces)]
            flags = _reverse(b, flags, "mask/reverse") if flags is not None else None
        head_columns: list[list[Value]] = []
        head_masks: Optional[list[Value]] = None
        if peel:
            split = [_split_front(b, p, peel, total, f"peel_{i}") for i, p in enumerate(pieces)]  # type: ignore
            head_columns = [list(col) for col in
                            zip(*[_unpack(b, s[0], peel, f"peel_{i}/steps") for i, s in enumerate(split)])]
            pieces = [s[1] for s in split]
            if flags is not None:
                head, flags = _split_front(b, flags, peel, total, "mask/peel")  # type: ignore[arg-type]
                head_masks = _unpack(b, _as_bool(b, head, "mask/peel/bool"), peel, "mask/peel/steps")
        if flags is not None:
            flags = _as_bool(b, flags, "mask/bool")
        if total is not None:
            blocks = (total - peel) // k
            if k > 1:
                pieces = [_blocks(b, p, blocks, k, f"blocks_{i}") for i, p in enumerate(pieces)]
                flags = _blocks(b, flags, blocks, k, "mask/blocks") if flags is not None else None
            count = _scalar_int(b, blocks, "blocks")
        else:
            count = _size(b, time_major, 0, "steps")
    states: States = ([list(s) for s in initial] if initial is not None
                      else [[None] * c.state_count for c in cells])
    previous: Optional[Value] = None
    head_outputs: list[Value] = []
    if peel:
        with b.scope("peeled"):
            done = run_steps(b, cells, head_columns, head_masks, states, None,
                             zero_output_for_mask=zero_output_for_mask, labels=range(peel))
        states, previous, head_outputs = done.states, done.previous, done.outputs  # type: ignore[assignment]
    batch: Optional[Value] = None

    def zeros(width: int, name: str) -> Value:
        nonlocal batch
        if batch is None:
            with b.scope("inputs"):
                batch = _size(b, time_major, 1, "batch")
        return _zeros(b, batch, width, name)

    flat_states: list[Value] = []
    for c, (cell, group) in enumerate(zip(cells, states)):
        flat_states += [s if s is not None else zeros(cell.units, f"zeros_{c}_{i}")
                        for i, s in enumerate(group)]
    last_units = cells[-1].units
    # With a mask the output is a loop variable of its own: Keras repeats the previous OUTPUT at a
    # masked step (zero before the first), or outputs zeros there (zero_output_for_mask).
    track_previous = mask is not None
    loop_vars: list[Value] = [_scalar_int(b, 0, "counter"), count, *flat_states]
    if track_previous:
        loop_vars.append(previous if previous is not None else zeros(last_units, "previous_output"))
    element = [k, -1, last_units] if k > 1 else [-1, last_units]
    if return_sequences:
        loop_vars.append(b.op("TensorListReserve", [b.ints(element, "outputs/element_shape"), count],
                              {"element_dtype": DType.FLOAT, "shape_type": DType.INT32}, name="outputs",
                              dtype=DType.VARIANT))
    keep_block = return_sequences and k > 1
    if keep_block:
        # TF.js disposes every tensor a While body made that is not one of its results, even one
        # just written to a TensorList; returning the written block keeps it alive.
        loop_vars.append(b.scalar(0.0, DType.FLOAT, "no_block"))
    captured_at = len(loop_vars)
    loop_vars += list(pieces) + ([flags] if flags is not None else [])

    cond_name, body_name = _add_functions(b.graph, label)
    cb = Builder(Graph(name=cond_name))
    args = [cb.placeholder(f"arg_{i}", v.dtype or DType.FLOAT, None) for i, v in enumerate(loop_vars)]
    cb.graph.outputs = [("keep_going", cb.op("Less", [args[0], args[1]], {"T": DType.INT32}, name="less",
                                             dtype=DType.BOOL))]
    b.graph.functions[cond_name] = cb.graph
    b.graph.functions[body_name] = _body(body_name, cells, loop_vars, captured_at, len(pieces), k,
                                         track_previous, return_sequences, zero_output_for_mask)

    loop = b.outputs("StatelessWhile", loop_vars, {
        "T": [v.dtype for v in loop_vars], "cond": FuncAttr(cond_name), "body": FuncAttr(body_name),
        "output_shapes": [Shape.unknown() for _ in loop_vars], "parallel_iterations": 10},
        name="while", num_outputs=len(loop_vars))
    for value, var in zip(loop, loop_vars):
        value.dtype, value.shape = var.dtype, var.shape
    n_states = len(flat_states)
    final_states = loop[2:2 + n_states]
    if not return_sequences:
        # Unmasked, the last output is the last cell's new h: its first state.
        last = loop[2 + n_states] if track_previous else final_states[-cells[-1].state_count]
        return last, final_states
    handle = loop[2 + n_states + (1 if track_previous else 0)]
    stacked = b.op("TensorListStack", [handle, b.ints(element, "stack/element_shape")],
                   {"element_dtype": DType.FLOAT, "num_elements": -1}, name="stack", dtype=DType.FLOAT)
    if k > 1:
        stacked = b.reshape(stacked, [total - peel, None, last_units], "stack/steps")  # type: ignore[operator]
    if head_outputs:
        head = b.op("Pack", head_outputs, {"N": len(head_outputs), "axis": 0, "T": DType.FLOAT},
                    name="peeled/outputs")
        stacked = b.concat([head, stacked], 0, "all_steps")
    if reverse_outputs:
        stacked = _reverse(b, stacked, "reverse_outputs")
    stacked.shape = Shape.of((total, None, last_units))
    sequence = b.transpose(stacked, [1, 0, 2], "sequence")
    return sequence, final_states


def _add_functions(graph: Graph, label: str) -> tuple[str, str]:
    body_name = _function_name(graph, f"{label}_while_body")
    graph.functions[body_name] = Graph(name=body_name)  # reserve both names before building
    cond_name = _function_name(graph, f"{label}_while_cond")
    graph.functions[cond_name] = Graph(name=cond_name)
    return cond_name, body_name


def _body(name: str, cells: Sequence[Cell], loop_vars: Sequence[Value], captured_at: int, n_pieces: int,
          k: int, track_previous: bool, return_sequences: bool, zero_output_for_mask: bool) -> Graph:
    """One iteration: gather block ``counter`` of the projections (and mask), run its ``k`` steps,
    write their outputs as one TensorList element."""
    bb = Builder(Graph(name=name))
    keep_block = return_sequences and k > 1  # the last written block is a loop variable (any shape)
    args = [bb.placeholder(f"arg_{i}", v.dtype or DType.FLOAT,
                           None if keep_block and i == captured_at - 1 else dims(v))
            for i, v in enumerate(loop_vars)]
    counter, count = args[0], args[1]
    captured = args[captured_at:]

    def block(value: Value, outer: Value, label: str) -> list[Value]:
        got = bb.op("GatherV2", [value, counter, _scalar_int(bb, 0, "axis")],
                    {"batch_dims": 0, "Tparams": value.dtype, "Tindices": DType.INT32, "Taxis": DType.INT32},
                    name=label, dtype=outer.dtype)
        return _unpack(bb, got, k, f"{label}/steps") if k > 1 else [got]

    per_piece = [block(p, outer, "step_input")
                 for p, outer in zip(captured[:n_pieces], loop_vars[captured_at:])]
    columns = [list(col) for col in zip(*per_piece)]
    masks = block(captured[n_pieces], loop_vars[-1], "step_mask") if len(captured) > n_pieces else None
    body_cells = [dataclasses.replace(c, call=dataclasses.replace(c.call, builder=bb)) for c in cells]
    pos = 2
    old_states: States = []
    for cell in body_cells:
        old_states.append(list(args[pos:pos + cell.state_count]))
        pos += cell.state_count
    previous = args[pos] if track_previous else None
    accumulator = args[pos + (1 if track_previous else 0)] if return_sequences else None
    done = run_steps(bb, body_cells, columns, masks, old_states, previous,
                     zero_output_for_mask=zero_output_for_mask, labels=range(k))
    results: list[Value] = [bb.binary("AddV2", counter, _scalar_int(bb, 1, "one_block"), "next"), count]
    results += [s for group in done.states for s in group]
    if track_previous:
        results.append(done.previous)  # type: ignore[arg-type]
    if accumulator is not None:
        item = done.outputs[0] if k == 1 else bb.op(
            "Pack", done.outputs, {"N": k, "axis": 0, "T": DType.FLOAT}, name="block_outputs")
        results.append(bb.op("TensorListSetItem", [accumulator, counter, item],
                             {"element_dtype": DType.FLOAT}, name="write", dtype=DType.VARIANT))
        if keep_block:
            results.append(item)
    results += captured
    bb.graph.outputs = [(f"out_{i}", v) for i, v in enumerate(results)]
    return bb.graph
