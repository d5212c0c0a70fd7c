"""Fused ops every TF.js 4.22 backend runs, or none: an illegal one is split back into its parts.

A frozen graph from TF's grappler (or a graph model from another converter) can hold fused nodes
TF.js cannot run on some backend; the official converter even writes some itself.  Checked against
the backends' sources (tfjs-backend-cpu ``fused_utils.applyActivation``, tfjs-backend-wasm
``FusableActivation`` and its rank-1 bias checks, tfjs-backend-webgl ``mapActivationToShaderProgram``,
tfjs-converter's executors), a fused node stays only when:

* ``fused_ops`` is ``[BiasAdd]`` or ``[BiasAdd, activation]`` (TF.js refuses a fused FusedBatchNorm),
  the activation is one all three backends fuse (``fusion_util``'s tables: no Tanh, GELU...);
* the bias is rank 1 (wasm throws on any other rank) and ``num_args`` matches the inputs;
* a fused convolution is NHWC; a _FusedMatMul multiplies matrices (TF.js's wasm kernel returns
  wrong numbers, without an error, for operands of rank 3 or more).

Otherwise the node becomes the plain contraction + BiasAdd (or FusedBatchNormV3) + the activation as
its own op(s), the last one taking the fused node's name; batch-norm folding and the fusion passes
then rebuild whatever legal fused form exists.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np

from ..ir.attrs import attr_text
from ..ir.graph import Graph, Node, Value
from ..ir.types import DType
from .base import Editor, RewritePass, add, add_const, register_pass
from .fusion_util import CONV_MATMUL_ACTIVATIONS, DEPTHWISE_ACTIVATIONS

PLAIN = {"_FusedConv2D": "Conv2D", "FusedDepthwiseConv2dNative": "DepthwiseConv2dNative",
         "_FusedMatMul": "MatMul"}
LEGAL_ACTIVATIONS = {
    "_FusedConv2D": CONV_MATMUL_ACTIVATIONS | {"Prelu"},
    "_FusedMatMul": CONV_MATMUL_ACTIVATIONS | {"Prelu"},
    "FusedDepthwiseConv2dNative": DEPTHWISE_ACTIVATIONS | {"Prelu"},
}
_FUSED_ATTRS = ("fused_ops", "num_args", "epsilon", "leakyrelu_alpha")


def _rank(value: Value) -> Optional[int]:
    return None if value.shape is None else value.shape.rank


def is_legal(node: Node) -> bool:
    ops = [attr_text(o) for o in node.attrs.get("fused_ops", [])]
    if not ops or ops[0] != "BiasAdd" or len(ops) > 2:
        return False
    extra = 1 + int(ops[-1] == "Prelu")
    if int(node.attrs.get("num_args", extra)) != extra or len(node.inputs) != 2 + extra:
        return False
    if len(ops) == 2 and ops[1] not in LEGAL_ACTIVATIONS[node.op]:
        return False
    if node.op != "_FusedMatMul" and attr_text(node.attrs.get("data_format", b"NHWC")) != "NHWC":
        return False
    if node.op == "_FusedMatMul" and any(_rank(v) not in (2, None) for v in node.inputs[:2]):
        return False  # wasm computes a batched _FusedMatMul wrongly (no error; measured on 4.22)
    # TF defines the fused bias as 1-D, so an unknown rank is 1; a known other rank (a [1, 1, 1, C]
    # bias some converters write) fails on wasm.
    return _rank(node.inputs[2]) in (1, None)


Unary = Callable[[Graph, Value, str, DType], Value]


class _Ops:
    """Element-wise nodes shaped like ``like``, named under ``name``."""

    def __init__(self, graph: Graph, name: str, dtype: DType, like: Value) -> None:
        self.graph, self.name, self.dtype, self.like = graph, name, dtype, like

    def __call__(self, op: str, *inputs: Value) -> Value:
        name = self.graph.unique_name(f"{self.name}/{op}")
        return add(self.graph, op, list(inputs), {"T": self.dtype}, name=name, like=self.like)

    def c(self, value: float) -> Value:
        return add_const(self.graph, np.array(value, self.dtype.numpy), f"{self.name}/c")


def _gelu_exact(graph: Graph, y: Value, name: str, dtype: DType) -> Value:
    """0.5 * y * (1 + erf(y / sqrt(2)))."""
    f = _Ops(graph, name, dtype, y)
    return f("Mul", f("Mul", y, f.c(0.5)), f("AddV2", f("Erf", f("Mul", y, f.c(1 / math.sqrt(2)))), f.c(1.0)))


def _gelu_tanh(graph: Graph, y: Value, name: str, dtype: DType) -> Value:
    """0.5 * y * (1 + tanh(sqrt(2/pi) * (y + 0.044715 * y^3)))."""
    f = _Ops(graph, name, dtype, y)
    inner = f("AddV2", y, f("Mul", f("Mul", f("Square", y), y), f.c(0.044715)))
    return f("Mul", f("Mul", y, f.c(0.5)), f("AddV2", f("Tanh", f("Mul", inner, f.c(math.sqrt(2 / math.pi)))),
                                                 f.c(1.0)))


_EXPANDED: dict[str, Unary] = {"GeluExact": _gelu_exact, "GeluApproximate": _gelu_tanh}
_UNARY = frozenset({"Relu", "Relu6", "Elu", "Sigmoid", "Tanh", "Selu", "Softplus"})


def unfuse(ed: Editor, node: Node) -> bool:
    graph = ed.graph
    ops = [attr_text(o) for o in node.attrs.get("fused_ops", [])]
    if not ops or len(node.inputs) < 2:
        return False
    head, activations = ops[0], ops[1:]
    known = _UNARY | set(_EXPANDED) | {"LeakyRelu", "Prelu"}
    if head not in ("BiasAdd", "FusedBatchNorm") or len(activations) > 1 or not set(activations) <= known:
        return False  # an epilogue this pass cannot spell out: left for the op check to report
    args = list(node.inputs[2:])
    need = {"BiasAdd": 1, "FusedBatchNorm": 4}[head] + int(activations == ["Prelu"])
    if len(args) != need:
        return False
    dtype: DType = node.attrs.get("T", DType.FLOAT)
    t = {"T": dtype}
    out = node.outputs[0]
    base_attrs = {k: v for k, v in node.attrs.items() if k not in _FUSED_ATTRS}
    base_op = PLAIN[node.op]
    if base_op == "MatMul" and any((_rank(v) or 2) > 2 for v in node.inputs[:2]):
        base_op = "BatchMatMulV2"  # a batched product: MatMul is 2-D in TF
        base_attrs = {"T": dtype, "adj_x": bool(node.attrs.get("transpose_a", False)),
                      "adj_y": bool(node.attrs.get("transpose_b", False))}
    y = add(graph, base_op, list(node.inputs[:2]), base_attrs,
            name=graph.unique_name(f"{node.name}/base"), like=out, device=node.device)
    fmt = node.attrs.get("data_format", b"NHWC") if node.op != "_FusedMatMul" else b"NHWC"
    if head == "BiasAdd":
        bias = args.pop(0)
        op = "BiasAdd" if _rank(bias) == 1 or attr_text(fmt) != "NHWC" else "AddV2"
        attrs = {**t, "data_format": fmt} if op == "BiasAdd" else t
        y = add(graph, op, [y, bias], attrs, name=graph.unique_name(f"{node.name}/bias"), like=out)
    else:
        bn_args = [args.pop(0) for _ in range(4)]
        bn = graph.add_node("FusedBatchNormV3", [y, *bn_args],
                            {**t, "U": dtype, "epsilon": float(node.attrs.get("epsilon", 1e-4)),
                             "data_format": fmt, "is_training": False},
                            name=graph.unique_name(f"{node.name}/batch_norm"), num_outputs=6)
        bn.outputs[0].dtype, bn.outputs[0].shape = out.dtype, out.shape
        y = bn.outputs[0]
    for act in activations:
        name = graph.unique_name(f"{node.name}/{act}")
        if act in _EXPANDED:
            y = _EXPANDED[act](graph, y, name, dtype)
        elif act == "LeakyRelu":
            alpha = float(node.attrs.get("leakyrelu_alpha", 0.2))
            y = add(graph, act, [y], {**t, "alpha": alpha}, name=name, like=out)
        elif act == "Prelu":
            y = add(graph, act, [y, args.pop(0)], t, name=name, like=out)
        else:
            y = add(graph, act, [y], t, name=name, like=out)
    name = node.name
    ed.replace(node, [y], keep_controls=True)
    graph.rename(node, graph.unique_name(f"{name}/replaced"))
    graph.rename(y.producer, name)
    return True


@register_pass
class LegalizeFusedOps(RewritePass):
    name = "legalize_fused_ops"
    ops = frozenset(PLAIN)

    def rewrite(self, ed: Editor, node: Node) -> bool:
        return not is_legal(node) and unfuse(ed, node)
