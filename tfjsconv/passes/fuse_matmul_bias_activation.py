"""MatMul + BiasAdd [+ activation] -> _FusedMatMul (attrs as TF.js's matrices executor reads them).

An Add/AddV2 of a 1-D Const bias of the output width counts as a BiasAdd.  Only constant biases are
fused (see the wasm note in ``rewrite``).  The fused node takes
the name of the last node it replaces.
"""

from __future__ import annotations

from typing import Optional

from ..ir.graph import Node
from .base import Editor, RewritePass, const_of, register_pass
from .fusion_util import CONV_MATMUL_ACTIVATIONS, as_bias_add, fused_attrs, is_float, sole_use


@register_pass
class FuseMatmulBiasActivation(RewritePass):
    name = "fuse_matmul_bias_activation"
    ops = frozenset({"BiasAdd", "Add", "AddV2"})

    def rewrite(self, ed: Editor, node: Node) -> bool:
        graph = ed.graph
        match = as_bias_add(graph, node, frozenset({"MatMul"}), ed.is_main)
        if match is None:
            return False
        matmul, bias = match
        if not is_float(matmul.outputs[0]):
            return False  # TF.js fused matMul is float only
        if const_of(bias) is None:
            # The wasm kernel insists on a rank-1 bias and, observed in Keras 3 GRU While bodies,
            # a computed bias (Squeeze of a Split) reaches it as rank 2 there; a Const is safe.
            return False
        activation: Optional[Node] = sole_use(graph, node.outputs[0], ed.is_main)
        if activation is None or activation.op not in CONV_MATMUL_ACTIVATIONS:
            activation = None
        last = activation or node
        ops = ["BiasAdd"] + ([activation.op] if activation is not None else [])
        attrs = {"transpose_a": bool(matmul.attrs.get("transpose_a", False)),
                 "transpose_b": bool(matmul.attrs.get("transpose_b", False))}
        attrs.update(fused_attrs(matmul, ops, 1, activation))
        if "T" in matmul.attrs:
            attrs["T"] = matmul.attrs["T"]
        fused = ed.replace_with(last, "_FusedMatMul", [matmul.inputs[0], matmul.inputs[1], bias], attrs,
                                device=matmul.device)
        if activation is not None:
            ed.replace(node, [fused], keep_controls=True)
        ed.replace(matmul, [fused], keep_controls=True)
        return True
