"""EinsumDense as MatMul / BatchMatMulV2, Transpose and Reshape (no Einsum op: TF.js's wasm backend has
no Einsum kernel, and its cpu kernel is a broadcast multiply-and-sum).

The equation ``<input>,<kernel>-><output>`` sorts every label into one role:

* batch: in the input, the kernel and the output (a BatchMatMul batch axis);
* contracted: in the input and the kernel, not the output (summed by the product);
* free input / free kernel: in the output and only one operand (the product's rows / columns);
* summed input: only in the input (reduced with Sum first; the kernel has no labels of its own).

The input is transposed to ``[batch, free input, contracted]`` and reshaped to rank 2 (no batch
labels) or 3; the kernel is rearranged the same way once, as a derived constant; the product is
reshaped to the labels' sizes and transposed into the output order.  When the output order is
``free input + free kernel`` and the bias only spans free kernel labels, the bias is a BiasAdd on
the rank-2 product and the activation follows it there, so both fuse into ``_FusedMatMul``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from ....ir.graph import ArrayLike, Value
from ...builder import Builder, dims
from ..activations import activation_name, apply_activation
from ..registry import LayerCall, Refusal, lower_layer, static_dims
from .core import refuse_options

_ELEMENTWISE_EXCLUDED = ("softmax", "log_softmax", "glu", "sparsemax")


def expand_ellipsis(equation: str, input_rank: int) -> tuple[str, str, str]:
    """(input, kernel, output) label strings with ``...`` replaced by fresh labels."""
    match = re.fullmatch(r"([a-zA-Z.]+),([a-zA-Z.]+)->([a-zA-Z.]+)", equation.replace(" ", ""))
    if not match:
        raise Refusal(f"equation {equation!r} is not of the form 'input,kernel->output'")
    inp, ker, out = match.groups()
    if "..." in ker:
        raise Refusal(f"equation {equation!r} has an ellipsis in the kernel")
    if "..." in inp:
        count = input_rank - (len(inp) - 3)
        if count < 0:
            raise Refusal(f"equation {equation!r} does not fit an input of rank {input_rank}")
        used = set(inp + ker + out)
        fresh = "".join([c for c in string.ascii_letters if c not in used][:count])
        inp, out = inp.replace("...", fresh), out.replace("...", fresh)
    elif "..." in out:
        raise Refusal(f"equation {equation!r} has an ellipsis only in the output")
    if len(inp) != input_rank:
        raise Refusal(f"equation {equation!r} does not fit an input of rank {input_rank}")
    for labels in (inp, ker, out):
        if len(set(labels)) != len(labels):
            raise Refusal(f"equation {equation!r} repeats a label within one operand")
    if set(ker) - set(inp) - set(out):
        raise Refusal(f"equation {equation!r} has kernel labels in neither the input nor the output")
    return inp, ker, out


def _product(sizes: Sequence[Optional[int]]) -> Optional[int]:
    total = 1
    for size in sizes:
        if size is None:
            return None
        total *= size
    return total


def einsum_dense(b: Builder, x: Value, equation: str, kernel: ArrayLike, bias: Optional[ArrayLike],
                 activation: Any, keras3: bool, label: str) -> Value:
    """``activation(einsum(equation, x, kernel) + bias)`` without an Einsum op."""
    shape = dims(x)
    if shape is None:
        raise Refusal("needs the rank of its input, which is unknown")
    inp, ker, out = expand_ellipsis(equation, len(shape))
    size = {c: d for c, d in zip(inp, shape)}
    size.update({c: int(d) for c, d in zip(ker, kernel.shape)})
    batch = [c for c in out if c in inp and c in ker]
    free_in = [c for c in out if c in inp and c not in ker]
    free_k = [c for c in out if c in ker and c not in inp]
    contracted = [c for c in inp if c in ker and c not in out]
    summed = [c for c in inp if c not in ker and c not in out]
    if sum(1 for c in batch + free_in + contracted if size.get(c) is None) > 1:
        raise Refusal(f"equation {equation!r} leaves more than one unknown dimension")

    if summed:
        x = b.reduce("Sum", x, [inp.index(c) for c in summed], name="sum_input_only")
        inp = "".join(c for c in inp if c not in summed)
    if not contracted:
        return _broadcast_product(b, x, inp, kernel, ker, out, size, bias, activation, keras3, label,
                                  equation)
    order = batch + free_in + contracted
    perm = [inp.index(c) for c in order]
    if perm != list(range(len(perm))):
        x = b.transpose(x, perm, "input_layout")
    rows = _product([size[c] for c in free_in])
    depth = _product([size[c] for c in contracted])
    cols = _product([size[c] for c in free_k])
    kernel_order = batch + contracted + free_k
    kernel_perm = [ker.index(c) for c in kernel_order]
    nb = _product([size[c] for c in batch]) if batch else None
    kernel_shape = ([nb] if batch else []) + [depth, cols]

    def arrange(k: np.ndarray) -> np.ndarray:
        return np.transpose(k, kernel_perm).reshape(kernel_shape)

    w = b.derived_weight(kernel, f"einsum:{equation}", arrange, f"{label}/kernel")
    act_name = activation_name(activation)
    elementwise = act_name not in _ELEMENTWISE_EXCLUDED
    flat_bias = out == "".join(free_in + free_k) and bias is not None and not batch and \
        _bias_spans_only(out, free_k, bias)

    if batch:
        lhs = reshape(b, x, [nb, -1 if rows is None else rows, depth], "input_rows")
        y = b.op("BatchMatMulV2", [lhs, w], {"adj_x": False, "adj_y": False}, name="product")
    elif len(free_in) == 1:
        # Rank-2 product: MatMul, so that BiasAdd and the activation fuse into _FusedMatMul.
        rows_dim = -1 if rows is None else rows
        lhs = x if len(contracted) == 1 else reshape(b, x, [rows_dim, depth], "input_rows")
        y = b.op("MatMul", [lhs, w], {"transpose_a": False, "transpose_b": False}, name="product")
    else:
        # (..., depth) @ (depth, cols): BatchMatMulV2 broadcasts the kernel over the leading axes, so
        # the input keeps its shape (TF.js runs this on cpu and wasm).
        lead = [-1 if size[c] is None else size[c] for c in free_in]
        lhs = x if len(contracted) == 1 else reshape(b, x, [*lead, depth], "input_rows")
        y = b.op("BatchMatMulV2", [lhs, w], {"adj_x": False, "adj_y": False}, name="product")
    done_act = False
    if flat_bias:
        n_out = len(out)

        def flatten_bias(v: np.ndarray) -> np.ndarray:
            full = np.broadcast_to(v.reshape((1,) * (n_out - v.ndim) + v.shape),
                                   (1,) * len(free_in) + tuple(size[c] for c in free_k))
            return np.ascontiguousarray(full).reshape(-1)

        flat = b.derived_weight(bias, "flat", flatten_bias, f"{label}/bias")
        if y.producer.op == "MatMul":
            y = b.op("BiasAdd", [y, flat], {"data_format": b"NHWC"}, name="bias")
        else:
            y = b.binary("AddV2", y, flat, "bias")
        if elementwise:
            y = apply_activation(b, y, activation, keras3)
            done_act = True
    labels = batch + free_in + free_k
    natural = [size[c] for c in labels]
    if sum(1 for d in natural if d is None) <= 1 and dims(y) != tuple(natural):
        y = reshape(b, y, [-1 if d is None else d for d in natural], "output_labels")
    perm_out = [labels.index(c) for c in out]
    if perm_out != list(range(len(perm_out))):
        y = b.transpose(y, perm_out, "output_layout")
    if bias is not None and not flat_bias:
        y = b.binary("AddV2", y, b.weight(bias, f"{label}/bias"), "bias")
    if not done_act:
        y = apply_activation(b, y, activation, keras3)
    return y


def reshape(b: Builder, x: Value, shape: Sequence[int], name: str) -> Value:
    """Reshape that reads through a Reshape producer (a reshape of a reshape is one reshape)."""
    if x.producer.op == "Reshape":
        x = x.producer.inputs[0]
    if dims(x) == tuple(None if d == -1 else d for d in shape) and list(shape).count(-1) <= 1:
        return x
    return b.reshape(x, list(shape), name)


def _broadcast_product(b: Builder, x: Value, inp: str, kernel: ArrayLike, ker: str, out: str,
                       size: dict[str,
                                  Optional[int]], bias: Optional[ArrayLike], activation: Any, keras3: bool,
                       label: str, equation: str) -> Value:
    """Nothing is contracted: the result is a broadcast product of the input and the kernel, each laid
    out in output order with size-1 axes where the other operand has its labels."""
    in_order = [c for c in out if c in inp]
    perm = [inp.index(c) for c in in_order]
    if perm != list(range(len(perm))):
        x = b.transpose(x, perm, "input_layout")
    if len(in_order) != len(out):
        layout = [(-1 if size[c] is None else size[c]) if c in inp else 1 for c in out]
        if layout.count(-1) > 1:
            raise Refusal(f"equation {equation!r} leaves more than one unknown dimension")
        x = reshape(b, x, layout, "input_axes")
    k_order = [c for c in out if c in ker]
    k_perm = [ker.index(c) for c in k_order]
    k_shape = [int(kernel.shape[ker.index(c)]) if c in ker else 1 for c in out]
    w = b.derived_weight(kernel, f"einsum:{equation}", lambda k: np.transpose(k, k_perm).reshape(k_shape),
                         f"{label}/kernel")
    y = b.binary("Mul", x, w, "product")
    if bias is not None:
        y = b.binary("AddV2", y, b.weight(bias, f"{label}/bias"), "bias")
    return apply_activation(b, y, activation, keras3)


def _bias_spans_only(out: str, free_k: Sequence[str], bias: ArrayLike) -> bool:
    """Whether the bias (shaped like the trailing output axes) varies only along free kernel labels."""
    trailing = out[len(out) - len(bias.shape):]
    return all(c in free_k or int(d) == 1 for c, d in zip(trailing, bias.shape))


@lower_layer("EinsumDense", mask="keep")
def einsum_dense_layer(call: LayerCall) -> Value:
    refuse_options(call)
    x = call.input
    shape = static_dims(call, x)
    equation = str(call.config.get("equation", ""))
    inp, ker, out = expand_ellipsis(equation, len(shape))
    known = {c: d for c, d in zip(inp, shape)}
    kernel_shape = [known.get(c) for c in ker]
    kernel = call.weight_array("kernel", shape=kernel_shape)
    bias = None
    if call.config.get("bias_axes"):
        bias = call.weight_array("bias")
    return einsum_dense(call.builder, x, equation, kernel, bias, call.config.get("activation"), call.keras3,
                        call.name)
