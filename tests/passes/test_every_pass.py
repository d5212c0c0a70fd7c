"""Every registered pass on a tiny graph it rewrites: the op histogram after it, and the same numbers
before and after on random inputs (``passes/equivalence.py``).  A new pass without a case here fails
``test_every_registered_pass_has_a_case``; the pass's own test module goes into the details."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable

import numpy as np
import pytest
from ir.graph_factory import const, op, output, placeholder
from passes.equivalence import check_pass

import tfjsconv.passes as package
from tfjsconv.ir.graph import Graph, Value
from tfjsconv.ir.types import DType
from tfjsconv.options import ConvertOptions
from tfjsconv.passes.base import PASSES, PassContext, get_pass

# Every module of the package, not only those the pipeline imports: a pass registered by a module
# nothing imports yet must have a case here too.
for _module in pkgutil.iter_modules(package.__path__):
    importlib.import_module(f"tfjsconv.passes.{_module.name}")

F, INT = DType.FLOAT, DType.INT32
T = {"T": F}
CONV = {"T": F, "strides": [1, 1, 1, 1], "padding": b"SAME", "data_format": b"NHWC",
        "dilations": [1, 1, 1, 1]}


def _w(g: Graph, shape: tuple[int, ...], name: str, seed: int = 0) -> Value:
    return const(g, np.random.default_rng(seed).standard_normal(shape).astype(np.float32), name)


def _image(g: Graph) -> Value:
    return placeholder(g, "x", F, [None, 4, 4, 3])


def _conv(g: Graph) -> Value:
    return op(g, "Conv2D", [_image(g), _w(g, (3, 3, 3, 2), "w")], CONV, name="conv")


MM = {**T, "transpose_a": False, "transpose_b": False}


def _matmul(g: Graph) -> Value:
    return op(g, "MatMul", [placeholder(g, "x", F, [None, 3]), _w(g, (3, 2), "w")], MM, name="mm")


def _bias(g: Graph, y: Value, name: str = "bias") -> Value:
    return op(g, "BiasAdd", [y, const(g, np.array([0.5, -0.5], np.float32), f"{name}/b")],
              {**T, "data_format": b"NHWC"}, name=name)


def cse(g: Graph) -> None:
    x = placeholder(g, "x", F, [3])
    r1, r2 = op(g, "Relu", [x], T, name="r1"), op(g, "Relu", [x], T, name="r2")
    output(g, "y", op(g, "AddV2", [r1, r2], T, name="sum"))


def two_matmuls(g: Graph) -> None:
    y = _bias(g, _matmul(g))
    output(g, "y", op(g, "MatMul", [y, _w(g, (2, 2), "w2", 2)], MM, name="mm2"))


def dead_code(g: Graph) -> None:
    x = placeholder(g, "x", F, [3])
    op(g, "Exp", [x], T, name="unused")
    output(g, "y", op(g, "Relu", [x], T, name="relu"))


def affine(g: Graph) -> None:
    y = op(g, "Mul", [_conv(g), const(g, np.array([2.0, 3.0], np.float32), "s")], T, name="mul")
    output(g, "y", op(g, "AddV2", [y, const(g, np.array([1.0, -1.0], np.float32), "o")], T, name="add"))


def batch_norm(g: Graph) -> None:
    params = [const(g, np.array(v, np.float32), f"bn/{i}")
              for i, v in enumerate(([1.5, 0.5], [0.1, 0.2], [0.3, -0.3], [2.0, 0.5]))]
    attrs = {**T, "U": F, "epsilon": 1e-3, "data_format": b"NHWC", "is_training": False}
    bn = op(g, "FusedBatchNormV3", [_conv(g), *params], attrs, name="bn", num_outputs=6)
    output(g, "y", bn)


def constants(g: Graph) -> None:
    x = placeholder(g, "x", F, [2])
    a, b = const(g, np.array([2.0, 3.0], np.float32), "a"), const(g, np.float32(4.0), "b")
    k = op(g, "Mul", [a, b], T, name="k")
    output(g, "y", op(g, "AddV2", [x, k], T, name="add"))


def output_identity(g: Graph) -> None:
    x = placeholder(g, "x", F, [2])
    output(g, "y", op(g, "Identity", [op(g, "Relu", [x], T, name="relu")], T, name="Identity"))


def conv_bias_relu(g: Graph) -> None:
    output(g, "y", op(g, "Relu", [_bias(g, _conv(g))], T, name="relu"))


def matmul_bias_relu(g: Graph) -> None:
    output(g, "y", op(g, "Relu", [_bias(g, _matmul(g))], T, name="relu"))


def prelu(g: Graph) -> None:
    x = placeholder(g, "x", F, [None, 2])
    neg = op(g, "Relu", [op(g, "Neg", [x], T, name="neg")], T, name="relu_neg")
    neg_alpha = const(g, np.array([-0.1, -0.2], np.float32), "neg_alpha")
    scaled = op(g, "Mul", [neg_alpha, neg], T, name="scaled")
    output(g, "y", op(g, "AddV2", [op(g, "Relu", [x], T, name="relu_pos"), scaled], T, name="prelu"))


def hoist(g: Graph) -> None:
    x = placeholder(g, "x", F, [None, 4, 3])
    rs = {**T, "Tshape": INT}
    flat = op(g, "Reshape", [x, const(g, np.array([-1, 3], np.int32), "flat")], rs, name="flat")
    mm = op(g, "MatMul", [flat, _w(g, (3, 2), "w")], MM, name="mm")
    back = op(g, "Reshape", [mm, const(g, np.array([-1, 4, 2], np.int32), "back")], rs, name="back")
    output(g, "y", _bias(g, back))


def fused_tanh(g: Graph) -> None:
    x = placeholder(g, "x", F, [None, 3])
    attrs = {**MM, "fused_ops": [b"BiasAdd", b"Tanh"], "num_args": 1}
    output(g, "y", op(g, "_FusedMatMul", [x, _w(g, (3, 2), "w"), _w(g, (2,), "b", 1)], attrs, name="fused"))


def identity(g: Graph) -> None:
    x = placeholder(g, "x", F, [3])
    output(g, "y", op(g, "Relu", [op(g, "Identity", [x], T, name="id")], T, name="relu"))


def einsum(g: Graph) -> None:
    a, b = placeholder(g, "a", F, [2, 3]), placeholder(g, "b", F, [3, 4])
    output(g, "y", op(g, "Einsum", [a, b], {**T, "N": 2, "equation": b"ij,jk->ik"}, name="einsum"))


def softsign(g: Graph) -> None:
    output(g, "y", op(g, "Softsign", [placeholder(g, "x", F, [3])], T, name="softsign"))


def erfc(g: Graph) -> None:
    output(g, "y", op(g, "Erfc", [placeholder(g, "x", F, [3])], T, name="erfc"))


def nchw_bias(g: Graph) -> None:
    x = placeholder(g, "x", F, [None, 2, 3, 3])
    b = const(g, np.array([1.0, -1.0], np.float32), "b")
    output(g, "y", op(g, "BiasAdd", [x, b], {**T, "data_format": b"NCHW"}, name="bias"))


def times_one(g: Graph) -> None:
    x = placeholder(g, "x", F, [3])
    mul = op(g, "Mul", [x, const(g, np.float32(1), "one")], T, name="mul")
    output(g, "y", op(g, "Relu", [mul], T, name="relu"))


def _transpose(g: Graph, x: Value, perm: list[int], name: str) -> Value:
    return op(g, "Transpose", [x, const(g, np.array(perm, np.int32), f"{name}/perm")], {**T, "Tperm": INT},
              name=name)


def double_transpose(g: Graph) -> None:
    x = placeholder(g, "x", F, [2, 3, 4])
    t2 = _transpose(g, _transpose(g, x, [2, 0, 1], "t1"), [0, 2, 1], "t2")
    output(g, "y", op(g, "Relu", [t2], T, name="relu"))


def transposed_relu(g: Graph) -> None:
    x = placeholder(g, "x", F, [2, 3, 4, 5])
    r = op(g, "Relu", [_transpose(g, x, [0, 3, 1, 2], "t1")], T, name="relu")
    output(g, "y", op(g, "Exp", [_transpose(g, r, [0, 2, 3, 1], "t2")], T, name="exp"))


def debug_ops(g: Graph) -> None:
    x = placeholder(g, "x", F, [3])
    checked = op(g, "CheckNumerics", [x], {**T, "message": b"nan"}, name="check")
    output(g, "y", op(g, "Relu", [checked], T, name="relu"))


Case = tuple[Callable[[Graph], None], dict[str, int]]
CASES: dict[str, Case] = {
    "compose_contractions": (two_matmuls, {"MatMul": 1, "BiasAdd": 1}),
    "eliminate_common_subexpressions": (cse, {"Relu": 1, "AddV2": 1}),
    "eliminate_dead_code": (dead_code, {"Relu": 1}),
    "fold_affine": (affine, {"Conv2D": 1, "BiasAdd": 1}),
    "fold_batch_norm": (batch_norm, {"Conv2D": 1, "BiasAdd": 1}),
    "fold_constants": (constants, {"AddV2": 1}),
    "fold_output_identity": (output_identity, {"Relu": 1}),
    "fuse_conv_bias_activation": (conv_bias_relu, {"_FusedConv2D": 1}),
    "fuse_matmul_bias_activation": (matmul_bias_relu, {"_FusedMatMul": 1}),
    "fuse_prelu": (prelu, {"Prelu": 1}),
    "hoist_bias_add": (hoist, {"Reshape": 2, "MatMul": 1, "BiasAdd": 1}),
    "legalize_fused_ops": (fused_tanh, {"MatMul": 1, "BiasAdd": 1, "Tanh": 1}),
    "remove_identity": (identity, {"Relu": 1}),
    "rewrite_einsum": (einsum, {"MatMul": 1}),
    "rewrite_equivalents": (softsign, {"Abs": 1, "AddV2": 1, "RealDiv": 1}),
    "rewrite_erfc": (erfc, {"Erf": 1, "Sub": 1}),
    "rewrite_tfjs_gaps": (nchw_bias, {"AddV2": 1, "Reshape": 1}),
    "simplify_arithmetic": (times_one, {"Relu": 1}),
    "simplify_shapes": (double_transpose, {"Transpose": 1, "Relu": 1}),
    "sink_transposes": (transposed_relu, {"Relu": 1, "Exp": 1}),
    "strip_debug_ops": (debug_ops, {"Relu": 1}),
}


def test_every_registered_pass_has_a_case() -> None:
    assert set(PASSES.keys()) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_pass_keeps_the_numbers(name: str) -> None:
    build, ops = CASES[name]
    ctx = PassContext(options=ConvertOptions(strip_debug_ops=True))
    check_pass(build, get_pass(name), ops, ctx=ctx, rtol=1e-5, atol=1e-5)
