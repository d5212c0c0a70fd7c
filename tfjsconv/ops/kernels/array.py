"""Shape and data-movement kernels: the ops that constant folding meets after freezing."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir.attrs import attr_text
from .registry import NotComputable, kernel, out_dtype


def _ints(x: np.ndarray) -> list[int]:
    return [int(v) for v in np.asarray(x).reshape(-1)]


def _axis(x: np.ndarray, rank: int) -> int:
    axis = int(np.asarray(x).reshape(-1)[0])
    if not -rank <= axis < max(rank, 1):
        raise NotComputable(f"axis {axis} out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


@kernel("Identity", "Snapshot", "StopGradient", "PreventGradient", "EnsureShape", "CheckNumerics")
def identity(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (inputs[0],)


@kernel("IdentityN")
def identity_n(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return tuple(inputs)


@kernel("Shape")
def shape(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (np.array(inputs[0].shape, dtype=out_dtype(attrs, "out_type", np.dtype(np.int32))),)


@kernel("ShapeN")
def shape_n(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    dtype = out_dtype(attrs, "out_type", np.dtype(np.int32))
    return tuple(np.array(x.shape, dtype=dtype) for x in inputs)


@kernel("Size")
def size(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (np.array(inputs[0].size, dtype=out_dtype(attrs, "out_type", np.dtype(np.int32))),)


@kernel("Rank")
def rank(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (np.array(inputs[0].ndim, dtype=np.int32),)


@kernel("Reshape")
def reshape(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    try:
        return (inputs[0].reshape(_ints(inputs[1])),)
    except ValueError as exc:
        raise NotComputable(str(exc)) from None


def _bit(mask: int, i: int) -> bool:
    return bool((mask >> i) & 1)


@kernel("StridedSlice")
def strided_slice(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    x, begin, end, strides = inputs[0], _ints(inputs[1]), _ints(inputs[2]), _ints(inputs[3])
    masks = {k: int(attrs.get(k, 0)) for k in
             ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")}
    index: list[Any] = []
    dim = 0  # the input dimension the next spec entry applies to
    n = len(begin)
    for i in range(n):
        if _bit(masks["ellipsis_mask"], i):
            index.append(Ellipsis)
            later = sum(1 for j in range(i + 1, n) if not _bit(masks["new_axis_mask"], j))
            dim = x.ndim - later
        elif _bit(masks["new_axis_mask"], i):
            index.append(None)
        elif _bit(masks["shrink_axis_mask"], i):
            b = 0 if _bit(masks["begin_mask"], i) else begin[i]
            if dim >= x.ndim or not -x.shape[dim] <= b < x.shape[dim]:
                raise NotComputable("shrink index out of range")
            index.append(b)
            dim += 1
        else:
            if strides[i] == 0:
                raise NotComputable("zero stride")
            b = None if _bit(masks["begin_mask"], i) else begin[i]
            e = None if _bit(masks["end_mask"], i) else end[i]
            index.append(slice(b, e, strides[i]))
            dim += 1
    return (np.array(x[tuple(index)]),)


@kernel("Slice")
def slice_(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    x, begin, size_ = inputs[0], _ints(inputs[1]), _ints(inputs[2])
    index = tuple(slice(b, None if s == -1 else b + s) for b, s in zip(begin, size_))
    return (np.array(x[index]),)


@kernel("Pack")
def pack(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (np.stack(inputs, axis=int(attrs.get("axis", 0))),)


@kernel("Unpack")
def unpack(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    axis = int(attrs.get("axis", 0))
    return tuple(np.array(a) for a in np.moveaxis(inputs[0], axis, 0))


@kernel("ConcatV2")
def concat_v2(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    values = inputs[:-1]
    return (np.concatenate(values, axis=_axis(inputs[-1], values[0].ndim)),)


@kernel("Concat")
def concat(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    values = inputs[1:]
    return (np.concatenate(values, axis=_axis(inputs[0], values[0].ndim)),)


@kernel("Fill")
def fill(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (np.full(_ints(inputs[0]), inputs[1], dtype=inputs[1].dtype),)


@kernel("Range")
def range_(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    start, limit, delta = (np.asarray(v).reshape(()) for v in inputs)
    if delta == 0:
        raise NotComputable("zero delta")
    dtype = out_dtype(attrs, "Tidx", start.dtype)
    return (np.arange(start, limit, delta).astype(dtype),)


@kernel("Transpose")
def transpose(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (np.ascontiguousarray(np.transpose(inputs[0], _ints(inputs[1]))),)


@kernel("ExpandDims")
def expand_dims(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    x = inputs[0]
    return (np.expand_dims(x, _axis(inputs[1], x.ndim + 1)),)


@kernel("Squeeze")
def squeeze(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    x = inputs[0]
    dims = [d + x.ndim if d < 0 else d for d in attrs.get("squeeze_dims", []) or []]
    if any(x.shape[d] != 1 for d in dims):
        raise NotComputable("squeezing a dimension that is not 1")
    return (np.squeeze(x, axis=tuple(dims)) if dims else np.squeeze(x),)


def _gather(params: np.ndarray, indices: np.ndarray, axis: int, batch_dims: int) -> np.ndarray:
    if batch_dims != 0:
        raise NotComputable("batch_dims")
    if indices.size and (indices.min() < 0 or indices.max() >= params.shape[axis]):
        raise NotComputable("gather index out of range")
    return np.take(params, indices, axis=axis)


@kernel("GatherV2")
def gather_v2(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    params, indices = inputs[0], inputs[1]
    return (_gather(params, indices, _axis(inputs[2], params.ndim), int(attrs.get("batch_dims", 0))),)


@kernel("Gather")
def gather(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (_gather(inputs[0], inputs[1], 0, 0),)


@kernel("Tile")
def tile(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (np.tile(inputs[0], _ints(inputs[1])),)


@kernel("ZerosLike")
def zeros_like(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (np.zeros_like(inputs[0]),)


@kernel("OnesLike")
def ones_like(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (np.ones_like(inputs[0]),)


@kernel("BroadcastTo")
def broadcast_to(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (np.array(np.broadcast_to(inputs[0], _ints(inputs[1]))),)


@kernel("BroadcastArgs")
def broadcast_args(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    shape_ = np.broadcast_shapes(tuple(_ints(inputs[0])), tuple(_ints(inputs[1])))
    return (np.array(shape_, dtype=inputs[0].dtype),)


@kernel("Pad", "PadV2")
def pad(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    x, paddings = inputs[0], np.asarray(inputs[1]).reshape(-1, 2)
    value = inputs[2].reshape(()) if len(inputs) > 2 else 0
    return (np.pad(x, paddings.tolist(), mode="constant", constant_values=value),)


@kernel("MirrorPad")
def mirror_pad(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    mode = "reflect" if attr_text(attrs.get("mode", b"REFLECT")).upper() == "REFLECT" else "symmetric"
    return (np.pad(inputs[0], np.asarray(inputs[1]).reshape(-1, 2).tolist(), mode=mode),)


@kernel("Split")
def split(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    x = inputs[1]
    num = int(attrs["num_split"])
    axis = _axis(inputs[0], x.ndim)
    if x.shape[axis] % num:
        raise NotComputable("uneven split")
    return tuple(np.array(p) for p in np.split(x, num, axis=axis))


@kernel("SplitV")
def split_v(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    x, sizes = inputs[0], _ints(inputs[1])
    axis = _axis(inputs[2], x.ndim)
    if -1 in sizes:
        sizes[sizes.index(-1)] = x.shape[axis] - (sum(sizes) + 1)
    return tuple(np.array(p) for p in np.split(x, np.cumsum(sizes)[:-1], axis=axis))


@kernel("ReverseV2")
def reverse_v2(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    x = inputs[0]
    axes = tuple(a + x.ndim if a < 0 else a for a in _ints(inputs[1]))
    return (np.flip(x, axis=axes).copy() if axes else x,)


def _cumulative(x: np.ndarray, axis: int, exclusive: bool, reverse: bool, product: bool) -> np.ndarray:
    if reverse:
        x = np.flip(x, axis)
    out = (np.cumprod if product else np.cumsum)(x, axis=axis, dtype=x.dtype)
    if exclusive:
        first = np.ones_like if product else np.zeros_like
        head = first(np.take(x, [0], axis=axis))
        out = np.concatenate([head, np.take(out, range(x.shape[axis] - 1), axis=axis)], axis=axis)
    return np.flip(out, axis).copy() if reverse else out


@kernel("Cumsum")
def cumsum(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    x = inputs[0]
    return (_cumulative(x, _axis(inputs[1], x.ndim), bool(attrs.get("exclusive", False)),
                        bool(attrs.get("reverse", False)), product=False),)


@kernel("Cumprod")
def cumprod(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    x = inputs[0]
    return (_cumulative(x, _axis(inputs[1], x.ndim), bool(attrs.get("exclusive", False)),
                        bool(attrs.get("reverse", False)), product=True),)


@kernel("Where")
def where(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (np.argwhere(inputs[0]).astype(np.int64),)


@kernel("OneHot")
def one_hot(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    indices, depth, on, off = inputs
    axis = int(attrs.get("axis", -1))
    d = int(np.asarray(depth).reshape(()))
    hot = indices[..., None] == np.arange(d)
    out = np.where(hot, on.reshape(()), off.reshape(())).astype(on.dtype)
    if axis != -1:
        out = np.moveaxis(out, -1, axis)
    return (out,)


@kernel("ScatterNd")
def scatter_nd(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    indices, updates, shape = inputs[0], inputs[1], tuple(int(d) for d in inputs[2])
    out = np.zeros(shape, updates.dtype)
    depth = indices.shape[-1]
    flat_idx = indices.reshape(-1, depth)
    flat_upd = updates.reshape((flat_idx.shape[0],) + shape[depth:])
    for idx, upd in zip(flat_idx, flat_upd):
        if np.any(idx < 0) or np.any(idx >= np.array(shape[:depth])):
            raise NotComputable("ScatterNd index out of range")
        out[tuple(idx)] += upd  # duplicates add up, as in TF
    return (out,)


@kernel("UnsortedSegmentSum")
def unsorted_segment_sum(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    data, ids, num = inputs[0], inputs[1], int(inputs[2])
    out = np.zeros((num,) + data.shape[ids.ndim:], data.dtype)
    flat_data = data.reshape((-1,) + data.shape[ids.ndim:])
    for i, segment in enumerate(ids.reshape(-1)):
        if 0 <= segment < num:  # TF drops negative ids
            out[segment] += flat_data[i]
    return (out,)
