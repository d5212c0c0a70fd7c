"""Shared matching helpers for the fusion passes (contraction + bias + activation)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..ir.attrs import attr_text
from ..ir.graph import Graph, Node, Value
from .base import const_of, const_shape, is_output, only_consumer

# Activation op -> name in fused_ops, per fused op TF.js 4.22 runs (fused_util.applyActivation and
# the executors: FusedDepthwiseConv2dNative reads no leakyrelu_alpha, so LeakyRelu is left out).
CONV_MATMUL_ACTIVATIONS = frozenset({"Relu", "Relu6", "Elu", "LeakyRelu", "Sigmoid"})
DEPTHWISE_ACTIVATIONS = frozenset({"Relu", "Relu6", "Elu"})


def sole_use(graph: Graph, value: Value, is_main: bool) -> Optional[Node]:
    """The only consumer of ``value`` when nothing else (not even a graph output) reads it."""
    if is_output(graph, value):
        return None
    return only_consumer(value)


def bias_length(contraction: Node) -> Optional[int]:
    """How many output channels a Conv2D / DepthwiseConv2dNative / MatMul has (from its Const filter)."""
    shape = const_shape(contraction.inputs[1]) if len(contraction.inputs) > 1 else None
    if shape is None:
        return None
    if contraction.op in ("Conv2D", "_FusedConv2D") and len(shape) == 4:
        return shape[3]
    if contraction.op in ("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative") and len(shape) == 4:
        return shape[2] * shape[3]
    if contraction.op == "MatMul" and len(shape) == 2:
        return shape[0] if contraction.attrs.get("transpose_b") else shape[1]
    return None


def as_bias_add(graph: Graph, node: Node, contraction_ops: frozenset[str], is_main: bool
                ) -> Optional[tuple[Node, Value]]:
    """(contraction, bias) when ``node`` adds a per-channel bias to a contraction's only output.

    BiasAdd qualifies directly; Add/AddV2 when the other operand is a 1-D Const of the channel count
    (the NHWC layout makes that exactly a BiasAdd).
    """
    if node.op == "BiasAdd":
        src = node.inputs[0].producer
        if src.op in contraction_ops and attr_text(node.attrs.get("data_format", b"NHWC")) == "NHWC":
            if sole_use(graph, node.inputs[0], is_main) is node:
                return src, node.inputs[1]
        return None
    if node.op not in ("Add", "AddV2"):
        return None
    for a, b in ((0, 1), (1, 0)):
        src = node.inputs[a].producer
        shape = const_shape(node.inputs[b])
        if src.op not in contraction_ops or shape is None or len(shape) != 1:
            continue
        if bias_length(src) != shape[0] or sole_use(graph, node.inputs[a], is_main) is not node:
            continue
        return src, node.inputs[b]
    return None


def fused_attrs(contraction: Node, ops: list[str], num_args: int,
                activation: Optional[Node]) -> dict[str, Any]:
    alpha = 0.2
    if activation is not None and activation.op == "LeakyRelu":
        alpha = float(activation.attrs.get("alpha", 0.2))
    return {"fused_ops": [o.encode() for o in ops], "num_args": num_args, "epsilon": 0.0,
            "leakyrelu_alpha": alpha}


def is_float(value: Value) -> bool:
    if value.dtype is None:
        return True
    try:
        return value.dtype.numpy.kind == "f"
    except ValueError:  # quantized and other types numpy lacks are not float
        return False


def channel_vector(value: Value) -> Optional[np.ndarray]:
    shape = const_shape(value)  # checked first: a large weight is not read just to be refused
    return None if shape is None or len(shape) != 1 else const_of(value)
