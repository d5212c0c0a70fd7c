"""Folds per-channel affine constants into the contraction before them: ``(x (*) W) * s + o``
becomes ``BiasAdd(x (*) (W * s), o)``.

A contraction is Conv2D / DepthwiseConv2dNative (NHWC), MatMul or BatchMatMul with a Const
kernel, or one of their fused forms whose only fused op is a BiasAdd.  The chain after it is any
run of ``Mul`` / ``RealDiv`` / ``Add`` / ``AddV2`` / ``BiasAdd`` / ``Sub`` by constants that vary
along the output channel (the last axis) only, each node read only by the next one.  That is how
batch norm reaches a graph when it is not a FusedBatchNorm op: Keras 3 exports
``x * (gamma * rsqrt(var + eps)) + (beta - mean * ...)``, ONNX exporters spell it
``(x - mean) / sqrt(var + eps) * gamma + beta``, and after constant folding each is a Mul/Add chain.

Writing the chain as ``y -> y * s + o`` (s, o per channel) it composes exactly; the kernel's output
channels are scaled by ``s`` (in float64, then cast back), ``o`` becomes the bias, and the fusion
passes then make one fused op of contraction + bias + activation.  The result takes the name of
the chain's last node.  Rewritten only when that removes nodes.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir.attrs import attr_text
from ..ir.derived import derive
from ..ir.graph import Graph, Node, Value, const_shape
from ..ir.types import DType
from .base import Editor, RewritePass, add, add_const, const_of, register_pass
from .fusion_util import CONV_MATMUL_ACTIVATIONS, sole_use

_PLAIN = frozenset({"Conv2D", "DepthwiseConv2dNative", "MatMul", "BatchMatMul", "BatchMatMulV2",
                    "BatchMatMulV3"})
_FUSED = frozenset({"_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedMatMul"})
_CONVS = frozenset({"Conv2D", "DepthwiseConv2dNative", "_FusedConv2D", "FusedDepthwiseConv2dNative"})
_CHAIN = frozenset({"Mul", "RealDiv", "Add", "AddV2", "BiasAdd", "Sub"})
_SHARED_KERNEL_BYTES = 64 * 1024


def _out_rank(node: Node, kernel: np.ndarray) -> int:
    """The contraction's output rank, or a lower bound of it (a chain keeps it: see ``_channel_const``)."""
    out = node.outputs[0].shape
    if out is not None and out.rank is not None:
        return out.rank
    if node.op in _CONVS:
        return 4
    if node.op in ("MatMul", "_FusedMatMul"):
        return 2
    x = node.inputs[0].shape
    return max(kernel.ndim, x.rank if x is not None and x.rank is not None else 0)


def _kernel_axes(node: Node, kernel: np.ndarray) -> Optional[tuple[int, ...]]:
    """The kernel axes that make up the output channel (several for a depthwise multiplier)."""
    if node.op in _CONVS:
        if attr_text(node.attrs.get("data_format", b"NHWC")) != "NHWC" or kernel.ndim != 4:
            return None
        return (2, 3) if "Depthwise" in node.op else (3,)
    if kernel.ndim < 2:
        return None
    if node.op in ("MatMul", "_FusedMatMul"):
        return (0,) if node.attrs.get("transpose_b") else (1,)
    return (kernel.ndim - 2,) if node.attrs.get("adj_y") else (kernel.ndim - 1,)


def _channel_const(value: Value, channels: int, rank: int) -> Optional[np.ndarray]:
    """A float constant varying along the last axis only, broadcast over ``channels`` -> 1-D."""
    c = const_of(value)
    if c is None or c.dtype.kind != "f":
        return None
    if c.ndim > rank:
        return None  # broadcasting would add axes to the result
    if c.size == 1:
        return np.full(channels, c.reshape(()), np.float64)
    if c.shape[-1] != channels or c.size != channels:
        return None
    return c.reshape(-1).astype(np.float64)


class _Affine:
    """``y -> y * scale + offset`` accumulated along the chain."""

    def __init__(self, channels: int, rank: int, offset: Optional[np.ndarray]) -> None:
        self.channels, self.rank = channels, rank
        self.scale = np.ones(channels, np.float64)
        self.offset = np.zeros(channels, np.float64) if offset is None else offset.astype(np.float64)

    def step(self, node: Node, cur: Value) -> bool:
        """Composes ``node`` (reading ``cur``) when its other operand is a channel constant."""
        if len(node.inputs) != 2 or node.outputs[0].dtype not in (None, cur.dtype):
            return False
        position = 0 if node.inputs[0] is cur else 1
        if node.inputs[1 - position] is cur:
            return False  # x * x
        c = _channel_const(node.inputs[1 - position], self.channels, self.rank)
        if c is None:
            return False
        op = node.op
        if op == "BiasAdd":
            if position != 0 or attr_text(node.attrs.get("data_format", b"NHWC")) != "NHWC":
                return False
            self.offset = self.offset + c
        elif op in ("Add", "AddV2"):
            self.offset = self.offset + c
        elif op == "Mul":
            self.scale, self.offset = self.scale * c, self.offset * c
        elif op == "RealDiv" and position == 0:
            self.scale, self.offset = self.scale / c, self.offset / c
        elif op == "Sub":
            if position == 0:
                self.offset = self.offset - c
            else:
                self.scale, self.offset = -self.scale, c - self.offset
        else:
            return False
        return True


def _scaled_kernel(kernel: np.ndarray, axes: tuple[int, ...], scale: np.ndarray) -> np.ndarray:
    """``kernel * scale`` computed in float64 and cast back: the folded kernel is computed again while
    it is written (``derive``), and a float64 copy of all of it would triple the memory a large weight
    needs, so numpy casts each buffer of the product back as it goes (the same rounding as ``astype``)."""
    shape = [1] * kernel.ndim
    for axis in axes:
        shape[axis] = kernel.shape[axis]
    out = np.empty(kernel.shape, kernel.dtype)
    np.multiply(kernel, scale.reshape(shape), out=out, dtype=np.float64, casting="unsafe")
    return out


def _fused_bias_only(node: Node) -> bool:
    ops = [attr_text(o) for o in node.attrs.get("fused_ops", [])]
    return ops == ["BiasAdd"] and len(node.inputs) == 3


def fold_chain(ed: Editor, node: Node) -> bool:
    graph: Graph = ed.graph
    if node.op in _FUSED and not _fused_bias_only(node):
        return False
    if len(node.inputs) < 2:
        return False
    shape = const_shape(node.inputs[1])  # the kernel is read only when the folded one is written
    if shape is None or const_shape(node.inputs[0]) is not None:
        return False
    stored = node.inputs[1].producer.attrs["value"]
    if np.dtype(stored.dtype).kind != "f":
        return False
    kernel = np.broadcast_to(np.zeros((), stored.dtype), shape)  # shape and dtype only, no memory
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(stored.dtype).itemsize
    if len({id(n) for n, _ in node.inputs[1].uses}) > 1 and nbytes > _SHARED_KERNEL_BYTES:
        return False  # a scaled copy of a shared (tied) weight would grow the model
    axes = _kernel_axes(node, kernel)
    if axes is None:
        return False
    channels = int(np.prod([kernel.shape[a] for a in axes]))
    bias = None
    if node.op in _FUSED:
        bias = const_of(node.inputs[2])
        # kind "f": found by fuzzing, a string bias constant (float64 conversion raised ValueError)
        if bias is None or bias.ndim != 1 or bias.shape[0] != channels or bias.dtype.kind != "f":
            return False
    affine = _Affine(channels, _out_rank(node, kernel), bias)
    chain: list[Node] = []
    cur = node.outputs[0]
    while True:
        nxt = sole_use(graph, cur, ed.is_main)
        if nxt is None or nxt.op not in _CHAIN or not affine.step(nxt, cur):
            break
        chain.append(nxt)
        cur = nxt.outputs[0]
    if not chain:
        return False
    follower = sole_use(graph, chain[-1].outputs[0], ed.is_main)
    # A zero bias is kept before an activation: TF.js fused ops start with BiasAdd, so without it
    # contraction and activation would stay two nodes.
    needs_bias = node.op not in _FUSED and (bool(np.any(affine.offset != 0)) or (
        follower is not None and follower.op in CONV_MATMUL_ACTIVATIONS))
    if 1 + int(needs_bias) >= 1 + len(chain):
        return False  # nothing saved (a lone bias add is the fusion passes' job)
    last = chain[-1]
    dtype: DType = node.attrs.get("T", DType.FLOAT)
    scale = affine.scale
    # Only offsets folded (e.g. a zero bias dropped after a batch norm fold): ``k * 1.0`` is ``k`` bit
    # for bit, so the stored values are reused instead of being scaled again when they are written.
    folded = stored if np.all(scale == 1) else \
        derive(lambda k: _scaled_kernel(k, axes, scale), (stored,), dtype=kernel.dtype, shape=shape)
    new_kernel = add_const(graph, folded, f"{node.name}/folded_kernel", dtype)
    inputs = [node.inputs[0], new_kernel]
    if node.op in _FUSED:
        inputs.append(add_const(graph, affine.offset.astype(kernel.dtype), f"{node.name}/folded_bias", dtype))
    if needs_bias:
        name = graph.unique_name(f"{node.name}/folded")
        contraction = add(graph, node.op, inputs, dict(node.attrs), name=name, like=node.outputs[0],
                          device=node.device)
        offset = add_const(graph, affine.offset.astype(kernel.dtype), f"{node.name}/folded_bias", dtype)
        result = ed.replace_with(last, "BiasAdd", [contraction, offset], {"T": dtype, "data_format": b"NHWC"})
    else:
        result = ed.replace_with(last, node.op, inputs, dict(node.attrs), device=node.device)
    for done in reversed([node, *chain[:-1]]):  # each is unread by now: only control edges move
        ed.replace(done, [result], keep_controls=True)
    return True


@register_pass
class FoldAffine(RewritePass):
    name = "fold_affine"
    ops = _PLAIN | _FUSED

    def rewrite(self, ed: Editor, node: Node) -> bool:
        return fold_chain(ed, node)
