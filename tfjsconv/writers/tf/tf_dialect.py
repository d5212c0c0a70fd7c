"""TF.js graph-model ops -> ops TensorFlow runs.

The graph-model dialect is TensorFlow's, except for ops that exist only in TF.js or only inside
TensorFlow's Grappler: those are split into the primitive ops they fuse, one registered rewrite per
op, so that the numbers are exactly what TensorFlow computes for the unfused graph:

* ``_FusedConv2D`` / ``FusedDepthwiseConv2dNative`` / ``_FusedMatMul`` -> the contraction, then
  ``BiasAdd``, then the activation (``Prelu`` as ``relu(x) - alpha * relu(-x)``, as Keras's PReLU);
  TensorFlow's own ``_FusedConv2D``/``_FusedMatMul`` kernels exist only for some dtype/activation
  combinations and are internal, so they are never kept;
* ``Prelu``, and the TF.js spellings ``Conv1D``, ``DepthwiseConv2d``, ``Ones``, ``Zeros``.

Ops TensorFlow does not register at all (TF-DF's ``SimpleML*``, custom ops) are reported together in
one error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Optional

import numpy as np

from ...errors import UnsupportedError
from ...ir.attrs import attr_text
from ...ir.graph import Graph, Node, Value
from ...ir.types import DType
from ...readers.tf.opdefs import OpDefs
from ...registry import Registry
from .op_table import op_spec

Rewrite = Callable[[Graph, Node], Value]
REWRITES: Registry[str, Rewrite] = Registry("TF.js-only op rewrite")
_CONV_ATTRS = ("T", "strides", "padding", "explicit_paddings", "data_format", "dilations")
_DEPTHWISE_ATTRS = ("T", "strides", "padding", "explicit_paddings", "data_format", "dilations")
_UNARY_ACTIVATIONS = frozenset({"Relu", "Relu6", "Elu", "Sigmoid", "Tanh", "Selu", "Softplus"})


def _add(graph: Graph, op: str, inputs: Sequence[Value], attrs: dict[str, Any], name: str,
         dtype: Optional[DType]) -> Value:
    node = graph.add_node(op, list(inputs), attrs, name=graph.unique_name(name))
    node.output(0).dtype = dtype
    return node.output(0)


def _const(graph: Graph, array: np.ndarray, name: str) -> Value:
    return graph.add_const(array, name=graph.unique_name(name)).output(0)


def _dtype(node: Node) -> DType:
    t = node.attrs.get("T")
    if isinstance(t, DType):
        return t
    found = node.inputs[0].dtype if node.inputs else None
    return found if isinstance(found, DType) else DType.FLOAT


def prelu(graph: Graph, x: Value, alpha: Value, name: str, dtype: DType) -> Value:
    """``relu(x) - alpha * relu(-x)``: exactly x for x >= 0 and alpha * x below (Keras's PReLU)."""
    positive = _add(graph, "Relu", [x], {"T": dtype}, f"{name}/positive", dtype)
    negated = _add(graph, "Neg", [x], {"T": dtype}, f"{name}/negated", dtype)
    negative = _add(graph, "Relu", [negated], {"T": dtype}, f"{name}/negative", dtype)
    scaled = _add(graph, "Mul", [alpha, negative], {"T": dtype}, f"{name}/scaled", dtype)
    return _add(graph, "Sub", [positive, scaled], {"T": dtype}, f"{name}/prelu", dtype)


def _activation(graph: Graph, node: Node, op: str, x: Value, extra: list[Value], dtype: DType) -> Value:
    name = node.name
    if op in _UNARY_ACTIVATIONS:
        return _add(graph, op, [x], {"T": dtype}, f"{name}/{op}", dtype)
    if op == "LeakyRelu":
        alpha = float(node.attrs.get("leakyrelu_alpha", 0.2))
        return _add(graph, "LeakyRelu", [x], {"T": dtype, "alpha": alpha}, f"{name}/LeakyRelu", dtype)
    if op == "Prelu":
        if not extra:
            raise UnsupportedError(f"node {name} ({node.op}) fuses Prelu but has no alpha argument")
        return prelu(graph, x, extra.pop(0), name, dtype)
    raise UnsupportedError(f"node {name} ({node.op}) fuses {op}, which has no TensorFlow op to split into")


def _split_fused(graph: Graph, node: Node, base_op: str, attr_names: Sequence[str]) -> Value:
    dtype = _dtype(node)
    x, w, *args = node.inputs
    ops = [attr_text(o) for o in node.attrs.get("fused_ops", [])]
    attrs = {k: node.attrs[k] for k in attr_names if k in node.attrs}
    attrs["T"] = dtype
    out = _add(graph, base_op, [x, w], attrs, f"{node.name}/{base_op}", dtype)
    if ops and ops[0] == "BiasAdd":
        if not args:
            raise UnsupportedError(f"node {node.name} ({node.op}) fuses BiasAdd but has no bias argument")
        data_format = node.attrs.get("data_format", b"NHWC") if base_op != "MatMul" else b"NHWC"
        out = _add(graph, "BiasAdd", [out, args.pop(0)], {"T": dtype, "data_format": data_format},
                   f"{node.name}/BiasAdd", dtype)
        ops = ops[1:]
    elif ops and ops[0] == "FusedBatchNorm":
        raise UnsupportedError(f"node {node.name} ({node.op}) fuses FusedBatchNorm, which neither TF.js nor "
                               "a plain TensorFlow graph runs fused")
    for op in ops:
        out = _activation(graph, node, op, out, args, dtype)
    return out


@REWRITES.register("_FusedConv2D")
def _fused_conv2d(graph: Graph, node: Node) -> Value:
    return _split_fused(graph, node, "Conv2D", _CONV_ATTRS)


@REWRITES.register("FusedDepthwiseConv2dNative")
def _fused_depthwise(graph: Graph, node: Node) -> Value:
    return _split_fused(graph, node, "DepthwiseConv2dNative", _DEPTHWISE_ATTRS)


@REWRITES.register("_FusedMatMul")
def _fused_matmul(graph: Graph, node: Node) -> Value:
    return _split_fused(graph, node, "MatMul", ("T", "transpose_a", "transpose_b"))


@REWRITES.register("Prelu")
def _prelu(graph: Graph, node: Node) -> Value:
    return prelu(graph, node.inputs[0], node.inputs[1], node.name, _dtype(node))


@REWRITES.register("DepthwiseConv2d")
def _depthwise(graph: Graph, node: Node) -> Value:
    attrs = {k: node.attrs[k] for k in _DEPTHWISE_ATTRS if k in node.attrs}
    attrs["T"] = _dtype(node)
    return _add(graph, "DepthwiseConv2dNative", node.inputs[:2], attrs, f"{node.name}/depthwise", attrs["T"])


@REWRITES.register("Conv1D")
def _conv1d(graph: Graph, node: Node) -> Value:
    """TF.js's 1-D convolution: a 2-D one over a height-1 image (what tf.nn.conv1d builds)."""
    dtype = _dtype(node)
    if attr_text(node.attrs.get("data_format", b"NWC")) != "NWC":
        raise UnsupportedError(f"node {node.name} (Conv1D) uses data_format NCW, which TensorFlow's CPU "
                               "convolution does not run")
    stride = int(node.attrs.get("stride", 1))
    dilation = int(node.attrs.get("dilation", 1))
    one = _const(graph, np.array(1, np.int32), f"{node.name}/axis1")
    zero = _const(graph, np.array(0, np.int32), f"{node.name}/axis0")
    x = _add(graph, "ExpandDims", [node.inputs[0], one], {"T": dtype, "Tdim": DType.INT32},
             f"{node.name}/expand_input", dtype)
    w = _add(graph, "ExpandDims", [node.inputs[1], zero], {"T": dtype, "Tdim": DType.INT32},
             f"{node.name}/expand_filter", dtype)
    attrs = {"T": dtype, "strides": [1, 1, stride, 1], "dilations": [1, 1, dilation, 1],
             "padding": node.attrs.get("padding", b"VALID"), "data_format": b"NHWC"}
    conv = _add(graph, "Conv2D", [x, w], attrs, f"{node.name}/conv", dtype)
    return _add(graph, "Squeeze", [conv], {"T": dtype, "squeeze_dims": [1]}, f"{node.name}/squeeze", dtype)


def _fill(graph: Graph, node: Node, scalar: int) -> Value:
    dtype = node.attrs.get("T") if isinstance(node.attrs.get("T"), DType) else DType.FLOAT
    value = _const(graph, np.array(scalar, dtype=dtype.numpy), f"{node.name}/value")
    shape = node.inputs[0]
    index = shape.dtype if shape.dtype in (DType.INT32, DType.INT64) else DType.INT32
    return _add(graph, "Fill", [shape, value], {"T": dtype, "index_type": index}, f"{node.name}/fill", dtype)


@REWRITES.register("Ones")
def _ones(graph: Graph, node: Node) -> Value:
    return _fill(graph, node, 1)


@REWRITES.register("Zeros")
def _zeros(graph: Graph, node: Node) -> Value:
    return _fill(graph, node, 0)


def _rewrite(graph: Graph, node: Node) -> None:
    rule = REWRITES.lookup(node.op)
    name = node.name
    out = rule(graph, node)
    graph.replace_uses(node.output(0), out)
    for other in graph.nodes:  # ordering edges follow the op that now produces the result
        if node in other.control_inputs:
            other.control_inputs = [out.producer if c is node else c for c in other.control_inputs]
    for extra in node.outputs[1:]:
        if extra.uses:
            raise UnsupportedError(f"node {name} ({node.op}): output {extra.index} is read, but the op "
                                   "has one")
    graph.remove_node(node)
    graph.rename(out.producer, name)  # the split keeps the fused node's name on its last op


def _unknown_ops(graph: Graph) -> dict[str, list[str]]:
    known = OpDefs()
    unknown: dict[str, list[str]] = {}
    for body in graph.all_graphs():
        for node in body.nodes:
            if node.op in REWRITES or op_spec(node.op) is not None:
                continue
            if not known.known(node.op) or node.op in ("FusedDepthwiseConv2dNative", "Prelu"):
                unknown.setdefault(node.op, []).append(node.name)
    return unknown


def to_tensorflow_ops(graph: Graph) -> None:
    """Rewrites every TF.js-only op of ``graph`` and its functions in place (see the module doc)."""
    unknown = _unknown_ops(graph)
    if unknown:
        listing = ", ".join(f"{op} ({len(names)} node{'s' if len(names) != 1 else ''})"
                            for op, names in sorted(unknown.items()))
        raise UnsupportedError(f"ops with no TensorFlow equivalent: {listing}")
    for body in graph.all_graphs():
        for node in list(body.nodes):
            if node.op in REWRITES:
                _rewrite(body, node)
