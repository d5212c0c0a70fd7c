"""Neural-network kernels: matmuls, convolutions (plain and fused), batch norm, softmax, Prelu."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ...ir.attrs import attr_text
from .math import _UNARY
from .registry import NotComputable, kernel


def _matmul(a: np.ndarray, b: np.ndarray, ta: bool, tb: bool) -> np.ndarray:
    if ta:
        a = np.swapaxes(a, -1, -2)
    if tb:
        b = np.swapaxes(b, -1, -2)
    return np.matmul(a, b).astype(a.dtype)


@kernel("MatMul")
def matmul(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (_matmul(inputs[0], inputs[1], bool(attrs.get("transpose_a", False)),
                    bool(attrs.get("transpose_b", False))),)


@kernel("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
def batch_matmul(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (_matmul(inputs[0], inputs[1], bool(attrs.get("adj_x", False)), bool(attrs.get("adj_y", False))),)


def _nhwc(x: np.ndarray, attrs: dict[str, Any]) -> bool:
    fmt = attr_text(attrs.get("data_format", b"NHWC"))
    if fmt not in ("NHWC", "NCHW"):
        raise NotComputable(f"data_format {fmt}")
    return fmt == "NHWC"


def _pads(size: int, k: int, stride: int, dilation: int, padding: str,
          explicit: Optional[tuple[int, int]]) -> tuple[int, int, int]:
    """(pad_before, pad_after, out_size) for one spatial dim, as TF computes them."""
    eff = (k - 1) * dilation + 1
    if padding == "VALID":
        return 0, 0, (size - eff) // stride + 1
    if padding == "SAME":
        out = -(-size // stride)
        total = max((out - 1) * stride + eff - size, 0)
        return total // 2, total - total // 2, out
    if padding == "EXPLICIT" and explicit is not None:
        before, after = explicit
        return before, after, (size + before + after - eff) // stride + 1
    raise NotComputable(f"padding {padding}")


def _windows(x: np.ndarray, kh: int, kw: int, attrs: dict[str, Any]):
    """Yields (i, j, window) where window[n, oh, ow, c] = padded x at kernel tap (i, j)."""
    strides = [int(s) for s in attrs.get("strides", [1, 1, 1, 1])]
    dilations = [int(d) for d in attrs.get("dilations", [1, 1, 1, 1]) or [1, 1, 1, 1]]
    padding = attr_text(attrs.get("padding", b"VALID"))
    explicit = [int(p) for p in attrs.get("explicit_paddings", []) or []]
    ex_h = (explicit[2], explicit[3]) if len(explicit) == 8 else None
    ex_w = (explicit[4], explicit[5]) if len(explicit) == 8 else None
    sh, sw, dh, dw = strides[1], strides[2], dilations[1], dilations[2]
    top, bottom, oh = _pads(x.shape[1], kh, sh, dh, padding, ex_h)
    left, right, ow = _pads(x.shape[2], kw, sw, dw, padding, ex_w)
    xp = np.pad(x, [(0, 0), (top, bottom), (left, right), (0, 0)])
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
            yield i, j, xp[:, rows, cols, :]


def _conv2d(x: np.ndarray, w: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
    nhwc = _nhwc(x, attrs)
    if not nhwc:
        x, attrs = _from_nchw(x, attrs)
    kh, kw = w.shape[0], w.shape[1]
    out = None
    for i, j, win in _windows(x.astype(np.float64), kh, kw, attrs):
        term = win @ w[i, j].astype(np.float64)
        out = term if out is None else out + term
    out = out.astype(x.dtype)
    return out if nhwc else np.transpose(out, (0, 3, 1, 2))


def _from_nchw(x: np.ndarray, attrs: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    moved = {key: _to_nhwc(attrs.get(key)) for key in ("strides", "dilations")}
    return np.transpose(x, (0, 2, 3, 1)), {**attrs, **moved}


def _to_nhwc(values: Any) -> Any:
    if values is None or len(values) != 4:
        return values
    return [values[0], values[2], values[3], values[1]]


def _depthwise(x: np.ndarray, w: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
    nhwc = _nhwc(x, attrs)
    if not nhwc:
        x, attrs = _from_nchw(x, attrs)
    kh, kw, c, m = w.shape
    out = None
    for i, j, win in _windows(x.astype(np.float64), kh, kw, attrs):
        term = (win[..., :, None] * w[i, j].astype(np.float64)).reshape(win.shape[:3] + (c * m,))
        out = term if out is None else out + term
    out = out.astype(x.dtype)
    return out if nhwc else np.transpose(out, (0, 3, 1, 2))


@kernel("Conv2D")
def conv2d(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (_conv2d(inputs[0], inputs[1], attrs),)


@kernel("DepthwiseConv2dNative")
def depthwise(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (_depthwise(inputs[0], inputs[1], attrs),)


def _prelu(x: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, x * alpha).astype(x.dtype)


def _activate(y: np.ndarray, name: str, attrs: dict[str, Any], alpha: Optional[np.ndarray]) -> np.ndarray:
    if name == "Prelu":
        if alpha is None:
            raise NotComputable("Prelu without alpha")
        return _prelu(y, alpha)
    if name == "LeakyRelu":
        a = float(attrs.get("leakyrelu_alpha", 0.2))
        return np.where(y > 0, y, y * a).astype(y.dtype)
    if name in ("Relu", "Relu6", "Elu", "Sigmoid", "Tanh"):
        return np.asarray(_UNARY[name](y)).astype(y.dtype)
    raise NotComputable(f"fused activation {name}")


def _fused_epilogue(y: np.ndarray, args: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    ops = [attr_text(o) for o in attrs.get("fused_ops", [])]
    if len(args) != int(attrs.get("num_args", len(args))):
        raise NotComputable("num_args does not match the inputs")
    rest = list(args)
    if ops and ops[0] == "BiasAdd":
        bias = rest.pop(0)
        y = (y + bias.reshape((-1,) + (1,) * (y.ndim - 2)) if not _nhwc(y, attrs) and y.ndim == 4
             else y + bias).astype(y.dtype)
        ops = ops[1:]
    elif ops and ops[0] == "NoOp":
        ops = ops[1:]
    for name in ops:
        y = _activate(y, name, attrs, rest.pop(0) if name == "Prelu" else None)
    return y


@kernel("_FusedConv2D")
def fused_conv2d(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (_fused_epilogue(_conv2d(inputs[0], inputs[1], attrs), inputs[2:], attrs),)


@kernel("FusedDepthwiseConv2dNative")
def fused_depthwise(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (_fused_epilogue(_depthwise(inputs[0], inputs[1], attrs), inputs[2:], attrs),)


@kernel("_FusedMatMul")
def fused_matmul(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    ta, tb = bool(attrs.get("transpose_a", False)), bool(attrs.get("transpose_b", False))
    y = _matmul(inputs[0], inputs[1], ta, tb)
    return (_fused_epilogue(y, inputs[2:], {**attrs, "data_format": b"NHWC"}),)


@kernel("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
def fused_batch_norm(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    x, scale, offset, mean, var = inputs[:5]
    if bool(attrs.get("is_training", False)):
        raise NotComputable("training-mode batch norm")
    eps = float(attrs.get("epsilon", 1e-4))
    shape = (-1,) if _nhwc(x, attrs) else ((-1,) + (1,) * (x.ndim - 2))
    factor = (scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)).reshape(shape)
    y = (x.astype(np.float64) - mean.reshape(shape)) * factor + offset.reshape(shape)
    return (y.astype(x.dtype), mean, var, mean, var, np.zeros((0,), np.float32))


@kernel("Prelu")
def prelu(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    return (_prelu(inputs[0], inputs[1]),)


@kernel("Softmax")
def softmax(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    x = inputs[0]
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return ((e / np.sum(e, axis=-1, keepdims=True)).astype(x.dtype),)


@kernel("LogSoftmax")
def log_softmax(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    x = inputs[0]
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return ((shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))).astype(x.dtype),)




@kernel("Einsum")
def einsum(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    equation = attr_text(attrs.get("equation", b""))
    return (np.asarray(np.einsum(equation, *inputs)).astype(inputs[0].dtype),)


@kernel("MatrixBandPart")
def matrix_band_part(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    x, lower, upper = inputs[0], int(inputs[1]), int(inputs[2])
    rows, cols = x.shape[-2:]
    i = np.arange(rows)[:, None]
    j = np.arange(cols)[None, :]
    keep = ((lower < 0) | (i - j <= lower)) & ((upper < 0) | (j - i <= upper))
    return (np.where(keep, x, np.zeros((), x.dtype)).astype(x.dtype),)


def _max_pool(x: np.ndarray, ksize: list[int], strides: list[int], padding: str) -> np.ndarray:
    """Channels-last max pool over the spatial axes 1..n-2 (TF semantics: padding never wins)."""
    spatial = range(1, x.ndim - 1)
    pads = [(0, 0)] * x.ndim
    for axis in spatial:
        size, k, s = x.shape[axis], int(ksize[axis]), int(strides[axis])
        if padding == "SAME":
            out = -(-size // s)
            total = max((out - 1) * s + k - size, 0)
            pads[axis] = (total // 2, total - total // 2)
        elif padding != "VALID":
            raise NotComputable(f"padding {padding}")
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    padded = np.pad(x, pads, constant_values=low)
    result = padded
    for axis in spatial:
        k, s = int(ksize[axis]), int(strides[axis])
        windows = np.lib.stride_tricks.sliding_window_view(result, k, axis=axis)
        result = windows.max(axis=-1).take(range(0, windows.shape[axis], s), axis=axis)
    return result.astype(x.dtype)


@kernel("MaxPool", "MaxPool3D")
def max_pool(inputs: list[np.ndarray], attrs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    fmt = attr_text(attrs.get("data_format", b"NHWC"))
    if fmt not in ("NHWC", "NDHWC"):
        raise NotComputable(f"data_format {fmt}")
    return (_max_pool(inputs[0], list(attrs["ksize"]), list(attrs["strides"]), attr_text(attrs["padding"])),)
