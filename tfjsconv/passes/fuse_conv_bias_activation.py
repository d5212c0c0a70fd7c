"""Conv2D / DepthwiseConv2dNative + BiasAdd [+ activation] -> _FusedConv2D / FusedDepthwiseConv2dNative.

The fused node reads ``(x, filter, bias)`` and carries the attrs TF.js's executors read:
``fused_ops`` (``[BiasAdd, activation]`` as bytes, base64 in model.json), ``num_args`` 1,
``epsilon`` and ``leakyrelu_alpha``.  An Add/AddV2 of a 1-D Const bias counts as a BiasAdd.
The fused node takes the name of the last node it replaces, so output names survive.
"""

from __future__ import annotations

from typing import Optional

from ..ir.attrs import attr_text
from ..ir.graph import Node
from .base import Editor, RewritePass, register_pass
from .fusion_util import CONV_MATMUL_ACTIVATIONS, DEPTHWISE_ACTIVATIONS, as_bias_add, fused_attrs, sole_use

_FUSED = {"Conv2D": "_FusedConv2D", "DepthwiseConv2dNative": "FusedDepthwiseConv2dNative"}
_CONV_ATTRS = ("T", "strides", "padding", "explicit_paddings", "data_format", "dilations", "use_cudnn_on_gpu")


@register_pass
class FuseConvBiasActivation(RewritePass):
    name = "fuse_conv_bias_activation"
    ops = frozenset({"BiasAdd", "Add", "AddV2"})

    def rewrite(self, ed: Editor, node: Node) -> bool:
        graph = ed.graph
        match = as_bias_add(graph, node, frozenset(_FUSED), ed.is_main)
        if match is None:
            return False
        conv, bias = match
        if attr_text(conv.attrs.get("data_format", b"NHWC")) != "NHWC":
            return False  # TF.js runs fused convolutions in NHWC only
        allowed = CONV_MATMUL_ACTIVATIONS if conv.op == "Conv2D" else DEPTHWISE_ACTIVATIONS
        activation: Optional[Node] = sole_use(graph, node.outputs[0], ed.is_main)
        if activation is None or activation.op not in allowed:
            activation = None
        last = activation or node
        ops = ["BiasAdd"] + ([activation.op] if activation is not None else [])
        attrs = {k: conv.attrs[k] for k in _CONV_ATTRS if k in conv.attrs}
        attrs.update(fused_attrs(conv, ops, 1, activation))
        if conv.op == "DepthwiseConv2dNative":
            del attrs["epsilon"], attrs["leakyrelu_alpha"]
        fused = ed.replace_with(last, _FUSED[conv.op], [conv.inputs[0], conv.inputs[1], bias], attrs,
                                device=conv.device)
        if activation is not None:
            ed.replace(node, [fused], keep_controls=True)
        ed.replace(conv, [fused], keep_controls=True)
        return True
