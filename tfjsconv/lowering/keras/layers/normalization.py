"""Normalization layers at inference: BatchNormalization, LayerNormalization (incl. Keras 3's
rms_scaling), GroupNormalization and UnitNormalization."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from ....ir.graph import ArrayLike, Value
from ....ir.types import DType
from ...builder import Builder
from ..registry import LayerCall, Refusal, lower_layer, static_dims
from .core import scalar


def axes_of(call: LayerCall, rank: int, default: Any = -1) -> list[int]:
    axis = call.config.get("axis", default)
    if axis is None:
        axis = default
    values = [axis] if isinstance(axis, int) else [int(a) for a in axis]
    out = sorted({a % rank for a in values})
    if any(a == 0 for a in out):
        raise Refusal("normalising over the batch axis is not supported")
    return out


def _param_shape(shape: Sequence[Optional[int]], axes: list[int], call: LayerCall) -> tuple[int, ...]:
    dims = [shape[a] for a in axes]
    if any(d is None for d in dims):
        raise Refusal("needs static sizes along its normalisation axes")
    return tuple(int(d) for d in dims)  # type: ignore[arg-type]


def _broadcast_shape(shape: Sequence[Optional[int]], axes: list[int]) -> list[int]:
    return [int(shape[i]) if i in axes else 1 for i in range(len(shape))]  # type: ignore[arg-type]


def _broadcastable(b: Builder, array: np.ndarray, shape: Sequence[Optional[int]],
                   axes: list[int]) -> np.ndarray:
    """A per-axes parameter reshaped to broadcast against the input (no-op for the last axis)."""
    if axes == [len(shape) - 1]:
        return array.reshape(-1)
    return array.reshape(_broadcast_shape(shape, axes)[1:])


@lower_layer("BatchNormalization", "SyncBatchNormalization", mask="keep")
def batch_norm(call: LayerCall) -> Value:
    b, x = call.builder, call.input
    shape = static_dims(call, x)
    rank = len(shape)
    axes = axes_of(call, rank)
    params = _param_shape(shape, axes, call)
    epsilon = float(call.get("epsilon", 1e-3))
    gamma = call.weight_array("gamma", shape=params) if call.get("scale", True) else None
    beta = call.weight_array("beta", shape=params) if call.get("center", True) else None
    mean = call.weight_array("moving_mean", shape=params)
    variance = call.weight_array("moving_variance", shape=params)
    for extra in ("renorm_mean", "renorm_stddev", "renorm_mean_weight", "renorm_stddev_weight"):
        call.ignore_weight(extra)  # batch renormalisation only changes training; inference uses moving stats
    if rank == 4 and axes == [3]:
        # The op tf-keras's fused path emits; fold_batch_norm folds it into a preceding convolution.
        channels = params[0]
        scale_v = (b.weight(gamma, f"{call.name}/gamma") if gamma is not None
                   else b.const(np.ones(channels, np.float32), "ones"))
        offset_v = (b.weight(beta, f"{call.name}/beta") if beta is not None
                    else b.const(np.zeros(channels, np.float32), "zeros"))
        ins = [x, scale_v, offset_v, b.weight(mean, f"{call.name}/moving_mean"),
               b.weight(variance, f"{call.name}/moving_variance")]
        attrs = {"epsilon": epsilon, "data_format": b"NHWC", "is_training": False,
                 "exponential_avg_factor": 1.0, "U": DType.FLOAT}
        return b.op("FusedBatchNormV3", ins, attrs, num_outputs=6)
    # x * s + (beta - mean * s) with s = gamma / sqrt(var + eps): two ops, constants computed once.
    sources: list[ArrayLike] = [mean, variance] + [w for w in (gamma, beta) if w is not None]
    has_gamma, has_beta = gamma is not None, beta is not None

    def factors(m: np.ndarray, v: np.ndarray, *rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g = rest[0] if has_gamma else np.ones_like(m)
        o = rest[-1] if has_beta else np.zeros_like(m)
        s = g.astype(np.float32) / np.sqrt(v.astype(np.float32) + np.float32(epsilon))
        return s.astype(np.float32), (o - m * s).astype(np.float32)

    scale = b.derived_weight(sources, "bn_scale", lambda *a: _broadcastable(b, factors(*a)[0], shape, axes),
                             f"{call.name}/scale")
    offset = b.derived_weight(sources, "bn_offset", lambda *a: _broadcastable(b, factors(*a)[1], shape, axes),
                              f"{call.name}/offset")
    return b.binary("AddV2", b.binary("Mul", x, scale, "mul"), offset, "add")


def _moments(b: Builder, x: Value, axes: list[int]) -> tuple[Value, Value]:
    mean = b.reduce("Mean", x, axes, keep_dims=True, name="moments/mean")
    variance = b.reduce("Mean", b.binary("SquaredDifference", x, mean), axes, keep_dims=True,
                        name="moments/variance")
    return mean, variance


def _scale_shift(call: LayerCall, b: Builder, x: Value, mean: Value, inv: Value, gamma: Optional[Value],
                 beta: Optional[Value]) -> Value:
    """x * inv * gamma + (beta - mean * inv * gamma), as Keras computes it."""
    if gamma is not None:
        inv = b.binary("Mul", inv, gamma)
    res = b.binary("Mul", b.unary("Neg", mean), inv)
    if beta is not None:
        res = b.binary("AddV2", res, beta)
    return b.binary("AddV2", b.binary("Mul", x, inv), res)


@lower_layer("LayerNormalization", mask="keep")
def layer_norm(call: LayerCall) -> Value:
    b, x = call.builder, call.input
    shape = static_dims(call, x)
    axes = axes_of(call, len(shape))
    params = _param_shape(shape, axes, call)
    epsilon = float(call.get("epsilon", 1e-3))

    rms = bool(call.get("rms_scaling", False))

    def param(name: str, flag: str) -> Optional[Value]:
        if not call.get(flag, True) and not (rms and name == "gamma"):  # rms_scaling always has gamma
            return None
        array = call.weight_array(name, shape=params)
        if axes == [len(shape) - 1]:
            return b.weight(array, f"{call.name}/{name}")
        return b.derived_weight(array, "broadcast", lambda a: _broadcastable(b, a, shape, axes),
                                f"{call.name}/{name}")

    mean, variance = _moments(b, x, axes)
    inv = b.unary("Rsqrt", b.binary("AddV2", variance, scalar(b, x, epsilon)))
    if rms:
        # Keras 3's (deprecated) rms_scaling divides by the square root of the VARIANCE and has no beta.
        gamma = param("gamma", "scale")
        out = b.binary("Mul", x, inv)
        return b.binary("Mul", out, gamma) if gamma is not None else out
    return _scale_shift(call, b, x, mean, inv, param("gamma", "scale"), param("beta", "center"))


@lower_layer("GroupNormalization", mask="keep")
def group_norm(call: LayerCall) -> Value:
    b, x = call.builder, call.input
    shape = static_dims(call, x)
    rank = len(shape)
    axis = int(call.get("axis", -1)) % rank
    channels = shape[axis]
    if channels is None or any(d is None for d in shape[1:]):
        raise Refusal("needs static input dimensions (besides the batch)")
    groups = int(call.get("groups", 32))
    if groups == -1:
        groups = channels
    if channels % groups:
        raise Refusal(f"groups={groups} does not divide {channels} channels")
    grouped = list(shape[1:])
    grouped[axis - 1] = channels // groups
    grouped.insert(axis - 1, groups)
    y = b.reshape(x, [-1, *grouped], "group/Reshape")
    reduce_axes = [i for i in range(1, rank + 1) if i != axis]  # all but batch and the group axis
    epsilon = float(call.get("epsilon", 1e-3))
    mean, variance = _moments(b, y, reduce_axes)
    inv = b.unary("Rsqrt", b.binary("AddV2", variance, scalar(b, x, epsilon)))
    broadcast = [1] * (rank + 1)
    broadcast[axis] = groups
    broadcast[axis + 1] = channels // groups

    rms = bool(call.get("rms_scaling", False))

    def param(name: str, flag: str) -> Optional[Value]:
        if not call.get(flag, True) and not (rms and name == "gamma"):  # rms_scaling always has gamma
            return None
        array = call.weight_array(name, shape=(channels,))
        return b.derived_weight(array, "grouped", lambda a: a.reshape(broadcast[1:]), f"{call.name}/{name}")

    out = _scale_shift(call, b, y, mean, inv, param("gamma", "scale"), param("beta", "center"))
    return b.reshape(out, [-1, *shape[1:]], "Reshape")


@lower_layer("UnitNormalization", mask="keep")
def unit_norm(call: LayerCall) -> Value:
    b, x = call.builder, call.input
    rank = len(static_dims(call, x))
    axes = axes_of(call, rank)
    total = b.reduce("Sum", b.unary("Square", x), axes, keep_dims=True)
    return b.binary("Mul", x, b.unary("Rsqrt", b.binary("Maximum", total, scalar(b, x, 1e-12))))
