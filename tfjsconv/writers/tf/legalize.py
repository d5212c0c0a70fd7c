"""TensorFlow ops in forms TF.js runs but TensorFlow's CPU kernels do not.

* Operands TensorFlow wants as scalars, given as one-element vectors.  TF.js reads ``axis``-like
  operands with ``dataSync()[0]`` and accepts a shape-[1] tensor where
TensorFlow's shape functions insist on rank 0 (the ONNX route, for one, writes axes that way).  A
one-element ``Const`` in such a position is replaced by a scalar ``Const`` of the same value;
anything else is left to TensorFlow to judge.
* ``DepthwiseConv2dNative`` with dilations: TF.js runs it, TensorFlow's CPU kernel does not
  (``tf.nn.depthwise_conv2d`` goes through space-to-batch instead).  A dilated convolution is the
  plain convolution with the zero-filled dilated filter, so a constant filter is dilated once here.
"""

from __future__ import annotations

import numpy as np

from ...errors import UnsupportedError
from ...ir.graph import Graph, Node, const_of

# op -> input positions that must be scalars (negative: counted from the end, for variadic ops).
SCALAR_OPERANDS: dict[str, tuple[int, ...]] = {
    "Split": (0,), "SplitV": (2,), "ConcatV2": (-1,), "GatherV2": (2,), "Cumsum": (1,), "Cumprod": (1,),
    "ArgMax": (1,), "ArgMin": (1,), "OneHot": (1, 2, 3), "Fill": (1,), "Range": (0, 1, 2), "TopKV2": (1,),
    "LinSpace": (0, 1, 2), "PadV2": (2,), "TensorListGetItem": (1,),
    "TensorListSetItem": (1,), "TensorListReserve": (1,), "ExpandDims": (1,),
}


def scalarize_operands(graph: Graph) -> int:
    """Rewrites one-element Const operands of ``SCALAR_OPERANDS`` positions; returns how many."""
    count = 0
    for body in graph.all_graphs():
        for node in list(body.nodes):
            for position in SCALAR_OPERANDS.get(node.op, ()):
                index = position if position >= 0 else len(node.inputs) + position
                if not 0 <= index < len(node.inputs):
                    continue
                value = node.inputs[index]
                producer = value.producer
                shape = tuple(producer.attrs["value"].shape) if producer.op == "Const" else ()
                if not shape or int(np.prod(shape)) != 1:
                    continue
                scalar = const_of(value).reshape(())  # type: ignore[union-attr]  (a Const: checked above)
                const = body.add_const(scalar, name=body.unique_name(producer.name + "/scalar"),
                                       dtype=producer.attrs["dtype"])
                body.set_input(node, index, const.output(0))
                count += 1
    return count


def _dilate(filter_: np.ndarray, rate_h: int, rate_w: int) -> np.ndarray:
    kh, kw = filter_.shape[:2]
    out = np.zeros(((kh - 1) * rate_h + 1, (kw - 1) * rate_w + 1) + filter_.shape[2:], dtype=filter_.dtype)
    out[::rate_h, ::rate_w] = filter_
    return out


def _undilate(graph: Graph, node: Node) -> bool:
    dilations = [int(d) for d in node.attrs.get("dilations", [1, 1, 1, 1])]
    nchw = node.attrs.get("data_format", b"NHWC") in (b"NCHW", "NCHW")
    rate_h, rate_w = (dilations[2], dilations[3]) if nchw else (dilations[1], dilations[2])
    if rate_h == 1 and rate_w == 1:
        return False
    producer = node.inputs[1].producer
    if producer.op != "Const":
        raise UnsupportedError(f"node {node.name}: a dilated DepthwiseConv2dNative needs a constant filter "
                               "to run on TensorFlow's CPU kernel")
    dilated = _dilate(const_of(node.inputs[1]), rate_h, rate_w)  # type: ignore[arg-type]
    const = graph.add_const(dilated, name=graph.unique_name(producer.name + "/dilated"),
                            dtype=producer.attrs["dtype"])
    graph.set_input(node, 1, const.output(0))
    node.attrs["dilations"] = [1, 1, 1, 1]
    return True


def undilate_depthwise(graph: Graph) -> int:
    """Gives every dilated DepthwiseConv2dNative its dilated filter instead; returns how many."""
    return sum(_undilate(body, node) for body in graph.all_graphs() for node in list(body.nodes)
               if node.op == "DepthwiseConv2dNative")
