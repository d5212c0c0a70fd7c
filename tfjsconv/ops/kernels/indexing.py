"""Index-driven kernels met in constant subgraphs of real models: XLA dynamic slices (Keras 3
``ops.slice_update``, e.g. Swin's shifted-window attention mask), tensor scatters, GatherNd, Roll,
LinSpace and truncating integer division.  Out-of-range indices are refused (``NotComputable``)
where TF would raise, so folding never invents a value TF would not compute."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .registry import NotComputable, kernel


def _xla_starts(starts: np.ndarray, operand: tuple[int, ...], window: tuple[int, ...]) -> list[int]:
    """XLA clamps each start index into ``[0, operand - window]``."""
    flat = [int(v) for v in np.asarray(starts).reshape(-1)]
    if len(flat) != len(operand) or len(window) != len(operand):
        raise NotComputable("start indices do not match the operand rank")
    return [min(max(s, 0), max(o - w, 0)) for s, o, w in zip(flat, operand, window)]


@kernel("XlaDynamicUpdateSlice")
def xla_dynamic_update_slice(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    operand, update = inputs[0], inputs[1]
    if update.ndim != operand.ndim or any(u > o for u, o in zip(update.shape, operand.shape)):
        raise NotComputable("update larger than the operand")
    starts = _xla_starts(inputs[2], operand.shape, update.shape)
    out = np.array(operand, copy=True)
    out[tuple(slice(s, s + n) for s, n in zip(starts, update.shape))] = update
    return (out,)


@kernel("XlaDynamicSlice")
def xla_dynamic_slice(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    operand = inputs[0]
    sizes = tuple(int(v) for v in np.asarray(inputs[2]).reshape(-1))
    if len(sizes) != operand.ndim or any(n < 0 or n > o for n, o in zip(sizes, operand.shape)):
        raise NotComputable("slice sizes do not fit the operand")
    starts = _xla_starts(inputs[1], operand.shape, sizes)
    return (np.array(operand[tuple(slice(s, s + n) for s, n in zip(starts, sizes))]),)


def _scatter_rows(tensor: np.ndarray, indices: np.ndarray, updates: np.ndarray):
    depth = indices.shape[-1] if indices.ndim else 0
    if depth > tensor.ndim:
        raise NotComputable("index depth larger than the tensor rank")
    flat_idx = indices.reshape(-1, depth).astype(np.int64)
    try:
        flat_upd = updates.reshape((flat_idx.shape[0],) + tensor.shape[depth:])
    except ValueError:
        raise NotComputable("updates do not match the indices") from None
    bound = np.array(tensor.shape[:depth], np.int64)
    if np.any(flat_idx < 0) or np.any(flat_idx >= bound):
        raise NotComputable("scatter index out of range")
    return zip(map(tuple, flat_idx), flat_upd)


_COMBINE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "TensorScatterUpdate": lambda old, new: new,
    "TensorScatterAdd": np.add,
    "TensorScatterSub": np.subtract,
    "TensorScatterMax": np.maximum,
    "TensorScatterMin": np.minimum,
}


def _tensor_scatter(op: str) -> Callable[[list[np.ndarray], dict[str, Any]], tuple[np.ndarray, ...]]:
    combine = _COMBINE[op]

    def run(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
        tensor, indices, updates = inputs
        out = np.array(tensor, copy=True)
        for index, update in _scatter_rows(tensor, indices, updates):
            # Applied one row at a time, so repeated indices accumulate like TF's add/sub/max/min
            # (for an update, TF leaves the winner of duplicates unspecified; the last one wins here).
            out[index] = combine(out[index], update)
        return (out,)

    return run


for _op in _COMBINE:
    kernel(_op)(_tensor_scatter(_op))


@kernel("GatherNd")
def gather_nd(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    params, indices = inputs
    if int(attrs.get("batch_dims", 0) or 0):
        raise NotComputable("GatherNd with batch_dims")
    depth = indices.shape[-1]
    if depth > params.ndim:
        raise NotComputable("index depth larger than the params rank")
    flat = indices.reshape(-1, depth).astype(np.int64)
    if np.any(flat < 0) or np.any(flat >= np.array(params.shape[:depth], np.int64)):
        raise NotComputable("GatherNd index out of range")
    rows = [params[tuple(i)] for i in flat]
    out = np.stack(rows) if rows else np.zeros((0,) + params.shape[depth:], params.dtype)
    return (out.reshape(indices.shape[:-1] + params.shape[depth:]),)


@kernel("Roll")
def roll(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    x = inputs[0]
    shifts = [int(v) for v in np.asarray(inputs[1]).reshape(-1)]
    axes = [int(v) for v in np.asarray(inputs[2]).reshape(-1)]
    if len(shifts) != len(axes) or any(not -x.ndim <= a < x.ndim for a in axes):
        raise NotComputable("Roll shift/axis mismatch")
    return (np.roll(x, shifts, axes),)  # a repeated axis shifts by the sum, as in TF


@kernel("LinSpace")
def lin_space(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    start, stop, num = inputs[0], inputs[1], int(np.asarray(inputs[2]).reshape(()))
    if num < 1:
        raise NotComputable("LinSpace needs num > 0")
    return (np.linspace(start.astype(np.float64), stop.astype(np.float64), num).astype(start.dtype),)


@kernel("TruncateDiv")
def truncate_div(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    a, b = inputs
    if a.dtype.kind in "iu" and np.any(b == 0):
        raise NotComputable("integer division by zero")
    if a.dtype.kind == "f":
        with np.errstate(all="ignore"):
            return (np.trunc(np.true_divide(a, b)).astype(a.dtype),)
    q = np.floor_divide(a, b)  # towards -inf; truncation rounds the inexact negative quotients up
    q = q + ((np.remainder(a, b) != 0) & ((a < 0) != (b < 0)))
    return (q.astype(np.result_type(a, b)),)


@kernel("TruncateMod")
def truncate_mod(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    a, b = inputs
    if a.dtype.kind in "iu" and np.any(b == 0):
        raise NotComputable("integer division by zero")
    return (np.fmod(a, b).astype(np.result_type(a, b)),)
