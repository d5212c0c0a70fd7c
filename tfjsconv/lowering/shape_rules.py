"""Static output shapes of the TF ops the lowerings emit (one registered rule per op).

A rule gets the input shapes (tuples with None for unknown dims, or None for unknown rank), the
node's attrs and the constant inputs (numpy arrays, None when computed) and returns the output
shapes.  Ops without a rule get unknown shapes; lowerings that need a static dimension say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Optional

import numpy as np

from ..ir.attrs import attr_text
from ..registry import Registry

Dims = Optional[tuple[Optional[int], ...]]
Rule = Callable[[list[Dims], dict[str, Any], list[Optional[np.ndarray]]], list[Dims]]

SHAPE_RULES: Registry[str, Rule] = Registry("shape rule")
shape_rule = SHAPE_RULES.register


def broadcast(*shapes: Dims) -> Dims:
    """NumPy/TF broadcasting of static shapes (None for an unknown rank stays unknown)."""
    if any(s is None for s in shapes):
        return None
    rank = max(len(s) for s in shapes)  # type: ignore[arg-type]
    out: list[Optional[int]] = []
    for axis in range(rank):
        dims = [s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0]  # type: ignore
        known = [d for d in dims if d is not None and d != 1]
        if known:
            out.append(known[0])
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


@shape_rule("Identity", "Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "Softplus", "Exp", "Log",
            "Neg", "Abs", "Sqrt", "Rsqrt", "Square", "Softmax", "LogSoftmax", "LeakyRelu", "Erf", "Cast",
            "Floor", "Ceil", "Round", "Sign", "Reciprocal", "Log1p", "Expm1", "Sin", "Cos", "LogicalNot",
            "IsNan", "ClipByValue", "Prelu", "BiasAdd", "ZerosLike", "OnesLike", "StopGradient",
            "FusedBatchNormV3", "Softsign")
def _same(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    return [shapes[0]]


@shape_rule("AddV2", "Add", "Sub", "Mul", "RealDiv", "Div", "Maximum", "Minimum", "Pow", "SquaredDifference",
            "Greater", "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual", "LogicalAnd", "LogicalOr",
            "FloorDiv", "FloorMod", "DivNoNan")
def _binary(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    return [broadcast(shapes[0], shapes[1])]


@shape_rule("SelectV2")
def _select(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    return [broadcast(*shapes)]


@shape_rule("AddN")
def _add_n(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    return [broadcast(*shapes)]


@shape_rule("MatMul")
def _matmul(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    a, b = shapes
    if a is None or b is None:
        return [None]
    rows = a[1] if attrs.get("transpose_a") else a[0]
    cols = b[0] if attrs.get("transpose_b") else b[1]
    return [(rows, cols)]


@shape_rule("BatchMatMulV2")
def _batch_matmul(shapes: list[Dims], attrs: dict[str, Any],
                  consts: list[Optional[np.ndarray]]) -> list[Dims]:
    a, b = shapes
    if a is None or b is None:
        return [None]
    batch = broadcast(a[:-2], b[:-2])
    rows = a[-1] if attrs.get("adj_x") else a[-2]
    cols = b[-2] if attrs.get("adj_y") else b[-1]
    return [None if batch is None else (*batch, rows, cols)]


@shape_rule("Reshape")
def _reshape(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    target = consts[1]
    if target is None:
        # A run-time target (``tf.reshape(x, [tf.shape(x)[0], -1])``) still fixes the rank.
        length = shapes[1][0] if len(shapes) > 1 and shapes[1] is not None and len(shapes[1]) == 1 else None
        return [None if length is None else (None,) * int(length)]
    dims = [int(d) for d in np.asarray(target).reshape(-1)]
    if -1 in dims and shapes[0] is not None and all(d is not None for d in shapes[0]):
        total = int(np.prod(shapes[0]))  # type: ignore[arg-type]
        known = int(np.prod([d for d in dims if d != -1]))
        if known > 0:
            dims = [total // known if d == -1 else d for d in dims]
    return [tuple(None if d == -1 else d for d in dims)]


@shape_rule("Transpose")
def _transpose(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    perm = consts[1]
    if perm is None or shapes[0] is None:
        return [None]
    return [tuple(shapes[0][int(p)] for p in np.asarray(perm).reshape(-1))]


@shape_rule("ExpandDims")
def _expand_dims(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    if shapes[0] is None or consts[1] is None:
        return [None]
    rank = len(shapes[0]) + 1
    axis = int(np.asarray(consts[1]).reshape(-1)[0]) % rank
    dims = list(shapes[0])
    dims.insert(axis, 1)
    return [tuple(dims)]


@shape_rule("Squeeze")
def _squeeze(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    if shapes[0] is None:
        return [None]
    rank = len(shapes[0])
    axes = {int(a) % rank for a in attrs.get("squeeze_dims") or []}
    if not axes:
        return [tuple(d for d in shapes[0] if d != 1)] if None not in shapes[0] else [None]
    return [tuple(d for i, d in enumerate(shapes[0]) if i not in axes)]


def _reduced(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    if shapes[0] is None or consts[1] is None:
        return [None]
    rank = len(shapes[0])
    axes = {int(a) % rank for a in np.asarray(consts[1]).reshape(-1)}
    if attrs.get("keep_dims"):
        return [tuple(1 if i in axes else d for i, d in enumerate(shapes[0]))]
    return [tuple(d for i, d in enumerate(shapes[0]) if i not in axes)]


for _op in ("Mean", "Sum", "Max", "Min", "Prod", "All", "Any"):
    SHAPE_RULES.add(_op, _reduced)


@shape_rule("ConcatV2")
def _concat(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    parts, axis_value = shapes[:-1], consts[-1]
    if axis_value is None or any(p is None for p in parts):
        return [None]
    rank = len(parts[0])  # type: ignore[arg-type]
    axis = int(np.asarray(axis_value).reshape(-1)[0]) % rank
    out = list(broadcast(*[tuple(d for i, d in enumerate(p) if i != axis) for p in parts]) or ())  # type: ignore
    sizes = [p[axis] for p in parts]  # type: ignore[index]
    out.insert(axis, None if any(s is None for s in sizes) else sum(sizes))  # type: ignore[arg-type]
    return [tuple(out)]


@shape_rule("Pack")
def _pack(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    if any(s is None for s in shapes):
        return [None]
    base = list(broadcast(*shapes) or ())
    axis = int(attrs.get("axis", 0)) % (len(base) + 1)
    base.insert(axis, len(shapes))
    return [tuple(base)]


@shape_rule("Tile")
def _tile(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    if shapes[0] is None or consts[1] is None:
        return [None]
    reps = [int(r) for r in np.asarray(consts[1]).reshape(-1)]
    return [tuple(None if d is None else d * r for d, r in zip(shapes[0], reps))]


@shape_rule("Pad", "PadV2", "MirrorPad")
def _pad(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    if shapes[0] is None or consts[1] is None:
        return [None]
    pads = np.asarray(consts[1]).reshape(-1, 2)
    return [tuple(None if d is None else d + int(a) + int(b) for d, (a, b) in zip(shapes[0], pads))]


@shape_rule("Slice")
def _slice(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    if shapes[0] is None or consts[1] is None or consts[2] is None:
        return [None]
    out = []
    begins, sizes = np.asarray(consts[1]).reshape(-1), np.asarray(consts[2]).reshape(-1)
    for d, begin, size in zip(shapes[0], begins, sizes):
        out.append((None if d is None else d - int(begin)) if int(size) == -1 else int(size))
    return [tuple(out)]


@shape_rule("GatherV2")
def _gather(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    params, indices = shapes[0], shapes[1]
    if params is None or indices is None or consts[2] is None:
        return [None]
    axis = int(np.asarray(consts[2]).reshape(-1)[0]) % len(params)
    return [(*params[:axis], *indices, *params[axis + 1:])]


def _window(size: Optional[int], k: int, stride: int, dilation: int, padding: str,
            explicit: tuple[int, int] = (0, 0)) -> Optional[int]:
    if size is None:
        return None
    effective = (k - 1) * dilation + 1
    if padding == "SAME":
        return -(-size // stride)
    return (size + explicit[0] + explicit[1] - effective) // stride + 1


def _spatial(x: tuple[Optional[int], ...], kernel: Sequence[int], strides: Sequence[int],
             dilations: Sequence[int], padding: str, explicit: Sequence[int]) -> list[Optional[int]]:
    rank = len(kernel)
    pairs = [(explicit[2 * i + 2], explicit[2 * i + 3]) if len(explicit) == 2 * (rank + 2) else (0, 0)
             for i in range(rank)]
    return [_window(x[1 + i], kernel[i], strides[1 + i], dilations[1 + i], padding, pairs[i])
            for i in range(rank)]


@shape_rule("Conv2D", "Conv3D", "DepthwiseConv2dNative")
def _conv(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    x, w = shapes
    if x is None or w is None:
        return [None]
    rank = len(x) - 2
    ones = [1] * (rank + 2)
    spatial = _spatial(x, w[:rank], attrs.get("strides") or ones, attrs.get("dilations") or ones,  # type: ignore
                       attr_text(attrs.get("padding", "VALID")), attrs.get("explicit_paddings") or [])
    channels = w[-1]
    if attrs.get("_depthwise"):
        channels = None if w[-1] is None or w[-2] is None else w[-1] * w[-2]
    return [(x[0], *spatial, channels)]


@shape_rule("MaxPool", "AvgPool", "MaxPool3D", "AvgPool3D")
def _pool(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    x = shapes[0]
    if x is None:
        return [None]
    ksize = attrs["ksize"]
    rank = len(x) - 2
    spatial = _spatial(x, ksize[1:1 + rank], attrs["strides"], [1] * (rank + 2),
                       attr_text(attrs.get("padding", "VALID")), [])
    return [(x[0], *spatial, x[-1])]


@shape_rule("Conv2DBackpropInput")
def _deconv(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    out = consts[0]
    if out is None:
        return [None]
    return [tuple(None if int(d) < 0 else int(d) for d in np.asarray(out).reshape(-1))]


@shape_rule("ResizeBilinear", "ResizeNearestNeighbor")
def _resize(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    x, size = shapes[0], consts[1]
    if x is None or size is None:
        return [None]
    height, width = (int(v) for v in np.asarray(size).reshape(-1))
    return [(x[0], height, width, x[3])]


@shape_rule("Shape")
def _shape(shapes: list[Dims], attrs: dict[str, Any], consts: list[Optional[np.ndarray]]) -> list[Dims]:
    return [None if shapes[0] is None else (len(shapes[0]),)]


def infer(op: str, shapes: list[Dims], attrs: dict[str, Any],
          consts: list[Optional[np.ndarray]]) -> Optional[list[Dims]]:
    """The output shapes of ``op``, or None when no rule applies (the caller leaves them unknown)."""
    rule = SHAPE_RULES.get(op)
    if rule is None:
        return None
    try:
        return rule(shapes, attrs, consts)
    except (IndexError, ValueError, TypeError, KeyError):
        return None
