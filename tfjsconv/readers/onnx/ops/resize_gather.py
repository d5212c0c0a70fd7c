"""ONNX Resize as gathers and weighted sums, one axis at a time: every mode, every coordinate
transformation, cubic, antialias, exclude_outside, tf_crop_and_resize, axes, keep_aspect_ratio_policy,
and scales or sizes known only at run time.

Resize is separable: along each resized axis, output position ``y`` reads ``n`` neighbours of its
source coordinate ``x(y)`` (clamped to the edge) with weights from the mode.  When the sizes are
static the neighbour indices and weights are computed here in float64, exactly as ONNX's reference
does, and become constants; otherwise the same formulas run as TF ops in the model.  The native
TF.js resize ops stay the first choice (``resize.py``) where they pick the same pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType, Shape
from . import OnnxContext, OnnxNode, normalize_axis
from .common import dim_size
from .nn import text_attr


@dataclass(frozen=True)
class Spec:
    mode: str
    coord: str
    nearest: str
    cubic_a: float
    exclude: bool
    extrapolation: float
    antialias: bool
    keep: str

    @classmethod
    def of(cls, ctx: OnnxContext, node: OnnxNode) -> Spec:
        default = "asymmetric" if ctx.opset < 11 else "half_pixel"
        coord = text_attr(node, "coordinate_transformation_mode", default)
        # Upsample's nearest is a repeat: asymmetric coordinates rounded down.
        nearest = text_attr(node, "nearest_mode", "round_prefer_floor")
        if node.op_type == "Upsample":
            nearest = "floor"
        return cls(text_attr(node, "mode", "nearest"), coord, nearest,
                   float(node.attr("cubic_coeff_a", -0.75)), bool(int(node.attr("exclude_outside", 0))),
                   float(node.attr("extrapolation_value", 0.0)), bool(int(node.attr("antialias", 0))),
                   text_attr(node, "keep_aspect_ratio_policy", "stretch"))


# ----------------------------------------------------------------- static: numpy, as the reference


def _coeffs(spec: Spec, ratio: float, scale: float) -> np.ndarray:
    a = spec.cubic_a
    if spec.mode == "nearest":
        if float(ratio).is_integer():
            return np.array([0.0, 1.0])
        return {"round_prefer_floor": np.array([ratio <= 0.5, ratio > 0.5]),
                "round_prefer_ceil": np.array([ratio < 0.5, ratio >= 0.5]),
                "floor": np.array([1, 0]), "ceil": np.array([0, 1])}[spec.nearest].astype(np.float64)
    if spec.mode == "linear":
        if not spec.antialias:
            return np.array([1 - ratio, ratio])
        s = min(scale, 1.0)
        start = int(np.floor(-1 / s) + 1)
        args = (np.arange(start, start + 2 - 2 * start) - ratio) * s
        c = np.clip(1 - np.abs(args), 0, 1)
        return c / c.sum()
    if not spec.antialias:
        r = ratio
        return np.array([((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
                         ((a + 2) * r - (a + 3)) * r * r + 1,
                         ((a + 2) * (1 - r) - (a + 3)) * (1 - r) * (1 - r) + 1,
                         ((a * ((1 - r) + 1) - 5 * a) * ((1 - r) + 1) + 8 * a) * ((1 - r) + 1) - 4 * a])
    s = min(scale, 1.0)

    def cubic(v: float) -> float:
        v = abs(v)
        if v <= 1:
            return (a + 2) * v**3 - (a + 3) * v**2 + 1
        return a * v**3 - 5 * a * v**2 + 8 * a * v - 4 * a if v < 2 else 0.0

    start = int(np.floor(-2 / s) + 1)
    c = np.array([cubic(s * (i - ratio)) for i in range(start, 2 - start)])
    return c / c.sum()


def _source(spec: Spec, y: np.ndarray, scale: float, size_in: int, size_out: int,
            roi: Optional[tuple[float, float]]) -> tuple[np.ndarray, Optional[np.ndarray]]:
    width = scale * size_in  # ONNX uses the unrounded output width here
    mode = spec.coord
    if mode == "align_corners":
        return (np.zeros(size_out) if width == 1 else y * (size_in - 1) / (width - 1)), None
    if mode == "asymmetric":
        return y / scale, None
    if mode == "tf_crop_and_resize":
        start, end = roi if roi is not None else (0.0, 1.0)
        x = np.full(size_out, (end - start) * (size_in - 1) / 2) if width == 1 else \
            y * (end - start) * (size_in - 1) / (width - 1)
        x = x + start * (size_in - 1)
        return x, (x < 0) | (x > size_in - 1)
    if mode == "pytorch_half_pixel":
        return (np.full(size_out, -0.5) if width == 1 else (y + 0.5) / scale - 0.5), None
    if mode == "half_pixel":
        return (y + 0.5) / scale - 0.5, None
    if mode == "half_pixel_symmetric":
        offset = size_in / 2 * (1 - size_out / width)
        return offset + (y + 0.5) / scale - 0.5, None
    if mode == "tf_half_pixel_for_nn":
        return (y + 0.5) / scale, None
    raise ValueError(mode)


def static_taps(spec: Spec, scale: float, size_in: int, size_out: int,
                roi: Optional[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """(indices [out, n], weights [out, n], extrapolated [out] or None) for one axis."""
    y = np.arange(size_out, dtype=np.float64)
    x, outside = _source(spec, y, scale, size_in, size_out, roi)
    floor = np.floor(x)
    ratios = np.where(x == floor, 1.0, x - floor)
    weights = np.stack([_coeffs(spec, float(r), scale) for r in ratios]) if size_out else np.zeros((0, 2))
    n = weights.shape[1]
    pad = int(np.ceil(n / 2))
    padded = x + pad
    p = np.floor(padded).astype(np.int64)
    frac = padded - p
    if n % 2 == 0:
        offset = np.where(frac == 0, -(n // 2), -(n // 2) + 1)
    else:
        base = -((n - 1) // 2)
        offset = np.where(frac <= 0.5, base, base + 1)
    index = (p + offset)[:, None] + np.arange(n)[None, :] - pad
    if spec.exclude:
        weights = np.where((index < 0) | (index >= size_in), 0.0, weights)
        total = weights.sum(axis=-1, keepdims=True)
        weights = weights / np.where(total == 0, 1.0, total)
    return np.clip(index, 0, size_in - 1).astype(np.int32), weights, outside


# ------------------------------------------------------------------------- run time: TF ops


def _f(ctx: OnnxContext, v: float) -> Value:
    return ctx.const(np.asarray(v, np.float32), "f")


def _filled(ctx: OnnxContext, like: Value, v: float) -> Value:
    """A float tensor shaped like ``like`` holding ``v``."""
    zeros = ctx.op("ZerosLike", [like], {"T": DType.FLOAT}, dtype=DType.FLOAT, shape=like.shape)
    return zeros if v == 0.0 else ctx.binary("AddV2", zeros, _f(ctx, v))


def runtime_taps(ctx: OnnxContext, spec: Spec, scale: Value, size_in: Value, size_out: Value,
                 roi: Optional[tuple[Value, Value]]) -> tuple[list[Value], list[Value], Optional[Value]]:
    """The same taps as TF ops (float32) for sizes known only when the model runs."""
    if spec.antialias:
        raise ctx.refuse("antialiased Resize with scales or sizes computed at run time")
    fin = ctx.cast(size_in, DType.FLOAT)
    y = ctx.cast(ctx.op("Range", [ctx.const(np.asarray(0, np.int32), "zero"), size_out,
                                  ctx.const(np.asarray(1, np.int32), "one")], {"Tidx": DType.INT32},
                        dtype=DType.INT32, shape=Shape((None,))), DType.FLOAT)
    width = ctx.binary("Mul", scale, fin)
    half = _f(ctx, 0.5)
    unit = ctx.binary("Equal", width, _f(ctx, 1.0))
    mode = spec.coord
    outside = None
    if mode == "align_corners":
        x = ctx.binary("RealDiv", ctx.binary("Mul", y, ctx.binary("Sub", fin, _f(ctx, 1.0))),
                       ctx.binary("Sub", width, _f(ctx, 1.0)))
        x = ctx.select(unit, _filled(ctx, y, 0.0), x)
    elif mode == "asymmetric":
        x = ctx.binary("RealDiv", y, scale)
    elif mode in ("half_pixel", "pytorch_half_pixel", "half_pixel_symmetric", "tf_half_pixel_for_nn"):
        x = ctx.binary("RealDiv", ctx.binary("AddV2", y, half), scale)
        if mode != "tf_half_pixel_for_nn":
            x = ctx.binary("Sub", x, half)
        if mode == "pytorch_half_pixel":
            x = ctx.select(unit, _filled(ctx, y, -0.5), x)
        if mode == "half_pixel_symmetric":
            shrink = ctx.binary("RealDiv", ctx.cast(size_out, DType.FLOAT), width)
            adjust = ctx.binary("Sub", _f(ctx, 1.0), shrink)
            x = ctx.binary("AddV2", x, ctx.binary("Mul", ctx.binary("Mul", fin, half), adjust))
    elif mode == "tf_crop_and_resize":
        assert roi is not None
        start, end = roi
        span = ctx.binary("Mul", ctx.binary("Sub", end, start), ctx.binary("Sub", fin, _f(ctx, 1.0)))
        spread = ctx.binary("RealDiv", ctx.binary("Mul", y, span), ctx.binary("Sub", width, _f(ctx, 1.0)))
        middle = ctx.binary("Mul", ctx.binary("AddV2", _filled(ctx, y, 0.0), span), half)
        x = ctx.binary("AddV2", ctx.select(unit, middle, spread),
                       ctx.binary("Mul", start, ctx.binary("Sub", fin, _f(ctx, 1.0))))
        outside = ctx.binary("LogicalOr", ctx.binary("Less", x, _f(ctx, 0.0)),
                             ctx.binary("Greater", x, ctx.binary("Sub", fin, _f(ctx, 1.0))))
    else:
        raise ctx.refuse(f"coordinate_transformation_mode {mode!r}")
    floor = ctx.unary("Floor", x)
    is_int = ctx.binary("Equal", x, floor)
    ratio = ctx.select(is_int, _filled(ctx, x, 1.0), ctx.binary("Sub", x, floor))
    weights = _runtime_coeffs(ctx, spec, ratio, is_int)
    n = len(weights)
    pad = math.ceil(n / 2)
    padded = ctx.binary("AddV2", x, _f(ctx, float(pad)))
    p = ctx.unary("Floor", padded)
    frac = ctx.binary("Sub", padded, p)
    if n % 2 == 0:
        first, other = -(n // 2), -(n // 2) + 1
        at = ctx.binary("Equal", frac, _f(ctx, 0.0))
    else:
        first = -((n - 1) // 2)
        other = first + 1
        at = ctx.binary("LessEqual", frac, _f(ctx, 0.5))
    offset = ctx.select(at, _filled(ctx, p, float(first)), _filled(ctx, p, float(other)))
    start = ctx.binary("Sub", ctx.binary("AddV2", p, offset), _f(ctx, float(pad)))
    start_index = ctx.cast(start, DType.INT32)
    last = ctx.binary("Sub", size_in, ctx.const(np.asarray(1, np.int32), "one"))
    zero = ctx.const(np.asarray(0, np.int32), "zero")
    indices, raw = [], []
    for k in range(n):
        idx = ctx.binary("AddV2", start_index, ctx.const(np.asarray(k, np.int32), "k"))
        raw.append(idx)
        indices.append(ctx.op("ClipByValue", [idx, zero, last], {"T": DType.INT32}, dtype=DType.INT32))
    if spec.exclude:
        kept = []
        for idx, w in zip(raw, weights):
            inside = ctx.binary("LogicalAnd", ctx.binary("GreaterEqual", idx, zero),
                                ctx.binary("LessEqual", idx, last))
            kept.append(ctx.select(inside, w, _filled(ctx, w, 0.0)))
        total = kept[0]
        for w in kept[1:]:
            total = ctx.binary("AddV2", total, w)
        total = ctx.select(ctx.binary("Equal", total, _f(ctx, 0.0)), _filled(ctx, total, 1.0), total)
        weights = [ctx.binary("RealDiv", w, total) for w in kept]
    return indices, weights, outside


def _runtime_coeffs(ctx: OnnxContext, spec: Spec, ratio: Value, is_int: Value) -> list[Value]:
    a = spec.cubic_a
    one = _f(ctx, 1.0)
    if spec.mode == "nearest":
        half = _f(ctx, 0.5)
        pick_high = {"round_prefer_floor": lambda: ctx.binary("Greater", ratio, half),
                     "round_prefer_ceil": lambda: ctx.binary("GreaterEqual", ratio, half),
                     "floor": lambda: ctx.binary("Greater", ratio, _f(ctx, 2.0)),
                     "ceil": lambda: ctx.binary("GreaterEqual", ratio, _f(ctx, -1.0))}.get(spec.nearest)
        if pick_high is None:
            raise ctx.refuse(f"nearest_mode {spec.nearest!r}")
        high = ctx.binary("LogicalOr", pick_high(), is_int)  # an integer coordinate reads itself
        high_f = ctx.cast(high, DType.FLOAT)
        return [ctx.binary("Sub", one, high_f), high_f]
    if spec.mode == "linear":
        return [ctx.binary("Sub", one, ratio), ratio]
    if spec.mode != "cubic":
        raise ctx.refuse(f"Resize mode {spec.mode!r}")

    def poly(t: Value, c3: float, c2: float, c1: float, c0: float) -> Value:
        out = ctx.binary("AddV2", ctx.binary("Mul", t, _f(ctx, c3)), _f(ctx, c2))
        out = ctx.binary("AddV2", ctx.binary("Mul", out, t), _f(ctx, c1))
        return ctx.binary("AddV2", ctx.binary("Mul", out, t), _f(ctx, c0))

    far = (a, -5 * a, 8 * a, -4 * a)  # |d| in [1, 2)
    near = (a + 2, -(a + 3), 0.0, 1.0)  # |d| < 1
    rest = ctx.binary("Sub", one, ratio)
    return [poly(ctx.binary("AddV2", ratio, one), *far), poly(ratio, *near), poly(rest, *near),
            poly(ctx.binary("AddV2", rest, one), *far)]


# --------------------------------------------------------------------------------- assembly


def _along(ctx: OnnxContext, data: Value, axis: int, indices: list[Value], weights: list[Value],
           outside: Optional[Value], extrapolation: float, out_dims: Optional[tuple]) -> Value:
    rank = ctx.rank(data)
    total: Optional[Value] = None
    shape = [1] * rank
    shape[axis] = -1
    for idx, w in zip(indices, weights):
        const_w = ctx.const_value(w)
        if const_w is not None and not np.any(const_w):
            continue
        attrs = {"Tparams": data.dtype, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0}
        taken = ctx.op("GatherV2", [data, idx, ctx.int_const([axis], "axis")], attrs, dtype=data.dtype)
        if const_w is None or not np.all(const_w == 1.0):
            taken = ctx.binary("Mul", taken, ctx.reshape(w, shape, "weight"))
        total = taken if total is None else ctx.binary("AddV2", total, taken)
    if total is None:
        raise ctx.refuse("Resize with all-zero interpolation weights")
    if outside is not None:
        mask = ctx.reshape(outside, shape, "outside")
        total = ctx.select(mask, ctx.scalar(extrapolation, total), total)
    total.shape = Shape.of(out_dims)
    return total


def resize_general(ctx: OnnxContext, node: OnnxNode, x: Value, scales: Optional[Value],
                   sizes: Optional[Value], roi: Optional[Value]) -> Value:
    spec = Spec.of(ctx, node)
    if spec.mode not in ("nearest", "linear", "cubic"):
        raise ctx.refuse(f"Resize mode {spec.mode!r}")
    if spec.antialias and spec.mode == "nearest":
        spec = Spec(**{**spec.__dict__, "antialias": False})
    rank = ctx.rank(x)
    axes = [normalize_axis(int(a), rank) for a in node.attr("axes", list(range(rank)))]
    dims = ctx.dims(x) or (None,) * rank
    scale_c = None if scales is None else ctx.const_value(scales)
    size_c = None if sizes is None else ctx.const_value(sizes)
    roi_c = None if roi is None else ctx.const_value(roi)
    static = all(dims[a] is not None for a in axes) and (scales is None or scale_c is not None) and \
        (sizes is None or size_c is not None) and (roi is None or roi_c is not None)
    work = ctx.cast(x, DType.FLOAT)
    out_dims = list(dims)
    if static:
        in_sizes = [int(dims[a]) for a in axes]  # type: ignore[arg-type]
        if size_c is not None and size_c.size:
            wanted = [int(v) for v in np.asarray(size_c).reshape(-1)]
            factors = [o / i for o, i in zip(wanted, in_sizes)]
            if spec.keep != "stretch":
                common = min(factors) if spec.keep == "not_larger" else max(factors)
                factors = [common] * len(axes)
                wanted = [int(common * i + 0.5) for i in in_sizes]
        elif scale_c is not None and scale_c.size:
            factors = [float(v) for v in np.asarray(scale_c, np.float64).reshape(-1)]
            wanted = [int(f * i) for f, i in zip(factors, in_sizes)]
        else:
            raise ctx.refuse("Resize needs scales or sizes")
        roi_v = None
        if roi_c is not None and np.asarray(roi_c).size:
            roi_v = np.asarray(roi_c, np.float64).reshape(-1)
        for k, axis in enumerate(axes):
            size_in, size_out, factor = in_sizes[k], wanted[k], factors[k]
            bounds = None
            if roi_v is not None:
                n_roi = len(roi_v) // 2
                pos = k if n_roi == len(axes) else axis
                bounds = (float(roi_v[pos]), float(roi_v[pos + n_roi]))
            trivial_roi = bounds is None or (math.isclose(bounds[0], 0.0) and math.isclose(bounds[1], 1.0))
            if math.isclose(factor, 1.0) and size_out == size_in and trivial_roi:
                continue
            index, weight, outside = static_taps(spec, factor, size_in, size_out, bounds)
            out_dims[axis] = size_out
            taps = [ctx.const(index[:, j], "taps") for j in range(index.shape[1])]
            weights = [ctx.const(weight[:, j].astype(np.float32), "weights") for j in range(weight.shape[1])]
            mask = None if outside is None or not outside.any() else ctx.const(outside, "outside")
            work = _along(ctx, work, axis, taps, weights, mask, spec.extrapolation, tuple(out_dims))
    else:
        work = _runtime_resize(ctx, spec, work, axes, scales, sizes, roi, out_dims)
    if x.dtype != DType.FLOAT and x.dtype is not None:
        if (x.dtype.numpy.kind in "iu"):
            work = ctx.unary("Round", work)
        work = ctx.cast(work, x.dtype)
    work.shape = Shape.of(ctx.out_dims(node, 0))
    return work


def _runtime_resize(ctx: OnnxContext, spec: Spec, work: Value, axes: list[int], scales: Optional[Value],
                    sizes: Optional[Value], roi: Optional[Value], out_dims: list) -> Value:
    rank = ctx.rank(work)
    count = len(axes)
    in_sizes = [dim_size(ctx, work, a) for a in axes]
    if sizes is not None and (ctx.dims(sizes) or (0,))[0] != 0:
        wanted = ctx.cast(sizes, DType.INT32)
        factors = [ctx.binary("RealDiv", ctx.cast(ctx.slice_1d(wanted, k, k + 1, shrink=True), DType.FLOAT),
                              ctx.cast(s, DType.FLOAT)) for k, s in enumerate(in_sizes)]
        outs = [ctx.slice_1d(wanted, k, k + 1, shrink=True) for k in range(count)]
        if spec.keep != "stretch":
            pick = "Minimum" if spec.keep == "not_larger" else "Maximum"
            common = factors[0]
            for f in factors[1:]:
                common = ctx.binary(pick, common, f)
            factors = [common] * count
            scaled = [ctx.binary("Mul", common, ctx.cast(s, DType.FLOAT)) for s in in_sizes]
            outs = [ctx.cast(ctx.unary("Floor", ctx.binary("AddV2", v, _f(ctx, 0.5))), DType.INT32)
                    for v in scaled]
    elif scales is not None:
        given = ctx.cast(scales, DType.FLOAT)
        factors = [ctx.slice_1d(given, k, k + 1, shrink=True) for k in range(count)]
        outs = [ctx.cast(ctx.unary("Floor", ctx.binary("Mul", f, ctx.cast(s, DType.FLOAT))), DType.INT32)
                for f, s in zip(factors, in_sizes)]
    else:
        raise ctx.refuse("Resize needs scales or sizes")
    roi_f = None if roi is None or (ctx.dims(roi) or (0,))[0] == 0 else ctx.cast(roi, DType.FLOAT)
    for k, axis in enumerate(axes):
        bounds = None
        if roi_f is not None:
            n_roi = ((ctx.dims(roi_f) or (2 * rank,))[0] or 2 * rank) // 2
            pos = k if n_roi == count else axis
            bounds = (ctx.slice_1d(roi_f, pos, pos + 1, shrink=True),
                      ctx.slice_1d(roi_f, pos + n_roi, pos + n_roi + 1, shrink=True))
        indices, weights, outside = runtime_taps(ctx, spec, factors[k], in_sizes[k], outs[k], bounds)
        out_dims[axis] = None
        work = _along(ctx, work, axis, indices, weights, outside, spec.extrapolation, tuple(out_dims))
    del rank
    return work
