"""Static output shapes of the splitting, stacking and slicing ops the recurrent, attention and
tensor-op lowerings emit (registered into the same table as ``shape_rules``)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .shape_rules import Dims, broadcast, shape_rule


def _axis(value: Optional[np.ndarray], rank: int) -> Optional[int]:
    if value is None:
        return None
    return int(np.asarray(value).reshape(-1)[0]) % rank


@shape_rule("Unpack")
def _unpack(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    x = shapes[0]
    count = int(attrs["num"])
    if x is None:
        return [None] * count
    axis = int(attrs.get("axis", 0)) % len(x)
    part = x[:axis] + x[axis + 1:]
    return [part] * count


@shape_rule("Split")
def _split(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    count = int(attrs["num_split"])
    x = shapes[1]
    if x is None:
        return [None] * count
    axis = _axis(consts[0], len(x))
    if axis is None:
        return [None] * count
    size = x[axis]
    part = list(x)
    part[axis] = None if size is None else size // count
    return [tuple(part)] * count


@shape_rule("SplitV")
def _split_v(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    count = int(attrs["num_split"])
    x = shapes[0]
    if x is None or consts[1] is None or consts[2] is None:
        return [None] * count
    axis = _axis(consts[2], len(x))
    sizes = [int(s) for s in np.asarray(consts[1]).reshape(-1)]
    if -1 in sizes:
        total = x[axis]  # type: ignore[index]
        if total is None:
            sizes = [s if s != -1 else None for s in sizes]  # type: ignore[misc]
        else:
            sizes = [s if s != -1 else total - sum(t for t in sizes if t != -1) for s in sizes]
    out = []
    for size in sizes:
        part = list(x)
        part[axis] = size  # type: ignore[index]
        out.append(tuple(part))
    return out


@shape_rule("ReverseV2")
def _reverse(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    return [shapes[0]]


@shape_rule("BroadcastTo")
def _broadcast_to(shapes: list[Dims], attrs: dict[str, Any],
                  consts: list[Optional[np.ndarray]]) -> list[Dims]:
    if consts[1] is None:
        return [None]
    target = tuple(None if int(d) < 0 else int(d) for d in np.asarray(consts[1]).reshape(-1))
    return [broadcast(shapes[0], target)]


@shape_rule("StridedSlice")
def _strided_slice(shapes: list[Dims], attrs: dict[str, Any],
                   consts: list[Optional[np.ndarray]]) -> list[Dims]:
    x = shapes[0]
    if x is None or any(c is None for c in consts[1:4]):
        return [None]
    begin, end, strides = (np.asarray(c).reshape(-1).tolist() for c in consts[1:4])  # type: ignore[union-attr]
    masks = {key: int(attrs.get(key, 0)) for key in ("begin_mask", "end_mask", "ellipsis_mask",
                                                      "new_axis_mask", "shrink_axis_mask")}
    out: list[Optional[int]] = []
    dim = 0
    for i in range(len(begin)):
        bit = 1 << i
        if masks["ellipsis_mask"] & bit:
            others = sum(1 for j in range(i + 1, len(begin)) if not masks["new_axis_mask"] & (1 << j))
            while dim < len(x) - others:
                out.append(x[dim])
                dim += 1
            continue
        if masks["new_axis_mask"] & bit:
            out.append(1)
            continue
        size = x[dim]
        dim += 1
        if masks["shrink_axis_mask"] & bit:
            continue
        if size is None:
            out.append(None)
            continue
        start = None if masks["begin_mask"] & bit else int(begin[i])
        stop = None if masks["end_mask"] & bit else int(end[i])
        out.append(len(range(size)[slice(start, stop, int(strides[i]))]))
    out.extend(x[dim:])
    return [tuple(out)]
