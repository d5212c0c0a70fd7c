"""MatMul + BiasAdd [+ activation] -> _FusedMatMul (attrs as TF.js's matrices executor reads them).

An Add/AddV2 of a 1-D Const bias of the output width counts as a BiasAdd.  Only constant biases are
fused (see the wasm note in ``run_body``).  The fused node takes
the name of the last node it replaces.
"""

from __future__ import annotations

from typing import Optional

from ..ir.graph import Graph, Node
from .base import Editor, GraphPass, PassContext, add, const_of, register_pass, take_name
from .fusion_util import CONV_MATMUL_ACTIVATIONS, as_bias_add, fused_attrs, is_float, sole_use


@register_pass
class FuseMatmulBiasActivation(GraphPass):
    name = "fuse_matmul_bias_activation"

    def run_body(self, graph: Graph, ctx: PassContext, *, is_main: bool) -> bool:
        changed = False
        ed = Editor(graph)
        for node in list(graph.nodes):
            if not ed.alive(node):
                continue
            match = as_bias_add(graph, node, frozenset({"MatMul"}), is_main)
            if match is None:
                continue
            matmul, bias = match
            if not is_float(matmul.outputs[0]):
                continue  # TF.js fused matMul is float only
            if const_of(bias) is None:
                # The wasm kernel insists on a rank-1 bias and, observed in Keras 3 GRU While bodies,
                # a computed bias (Squeeze of a Split) reaches it as rank 2 there; a Const is safe.
                continue
            activation: Optional[Node] = sole_use(graph, node.outputs[0], is_main)
            if activation is None or activation.op not in CONV_MATMUL_ACTIVATIONS:
                activation = None
            last = activation or node
            ops = ["BiasAdd"] + ([activation.op] if activation is not None else [])
            attrs = {"transpose_a": bool(matmul.attrs.get("transpose_a", False)),
                     "transpose_b": bool(matmul.attrs.get("transpose_b", False))}
            attrs.update(fused_attrs(matmul, ops, 1, activation))
            if "T" in matmul.attrs:
                attrs["T"] = matmul.attrs["T"]
            out = last.outputs[0]
            name = take_name(graph, last)
            fused = add(graph, "_FusedMatMul", [matmul.inputs[0], matmul.inputs[1], bias], attrs, name=name,
                        like=out, device=matmul.device)
            ed.replace(last, [fused], keep_controls=True)
            if activation is not None:
                ed.replace(node, [fused], keep_controls=True)
            ed.replace(matmul, [fused], keep_controls=True)
            changed = True
        return ed.finish() or changed
