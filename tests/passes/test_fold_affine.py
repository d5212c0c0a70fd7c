"""fold_affine: per-channel Mul/Add/Sub/RealDiv chains after a contraction fold into kernel + bias."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest
from ir.graph_factory import const, op, output, placeholder

from tfjsconv.ir.graph import Graph, Value
from tfjsconv.ir.interpret import interpret
from tfjsconv.ir.types import DType
from tfjsconv.ir.verify import verify
from tfjsconv.options import ConvertOptions
from tfjsconv.passes.base import PassContext
from tfjsconv.passes.fold_affine import FoldAffine
from tfjsconv.passes.pipeline import optimize

F = DType.FLOAT
T = {"T": F}
CONV = {"T": F, "strides": [1, 1, 1, 1], "padding": b"SAME", "data_format": b"NHWC",
        "dilations": [1, 1, 1, 1]}


def _r(*shape: int, seed: int = 0, low: float = -1.0) -> np.ndarray:
    return np.random.default_rng(seed + sum(shape)).uniform(low, 1.0, shape).astype(np.float32)


def _image(g: Graph, channels: int = 3) -> Value:
    return placeholder(g, "x", F, [None, 5, 5, channels])


def keras3_bn_after_conv(g: Graph) -> None:
    """Keras 3's batch norm after a conv: Conv2D -> Mul(gamma*rsqrt(var+eps)) -> AddV2(offset)."""
    y = op(g, "Conv2D", [_image(g), const(g, _r(3, 3, 3, 4), "w")], CONV, name="conv")
    y = op(g, "Mul", [y, const(g, _r(4, seed=1, low=0.5), "scale")], T, name="bn/mul")
    output(g, "y", op(g, "AddV2", [y, const(g, _r(4, seed=2), "offset")], T, name="bn/add"))


def onnx_bn_spelling(g: Graph) -> None:
    """(conv + b - mean) / sqrt(var + eps) * gamma + beta, constants shaped (1, 1, 1, C)."""
    y = op(g, "Conv2D", [_image(g), const(g, _r(3, 3, 3, 4), "w")], CONV, name="conv")
    y = op(g, "BiasAdd", [y, const(g, _r(4, seed=3), "b")], {**T, "data_format": b"NHWC"}, name="bias")
    y = op(g, "Sub", [y, const(g, _r(1, 1, 1, 4, seed=4), "mean")], T, name="sub")
    y = op(g, "RealDiv", [y, const(g, _r(1, 1, 1, 4, seed=5, low=0.5), "std")], T, name="div")
    y = op(g, "Mul", [const(g, _r(4, seed=6), "gamma"), y], T, name="mul")
    output(g, "y", op(g, "Add", [y, const(g, _r(4, seed=7), "beta")], T, name="add"))


def depthwise_multiplier(g: Graph) -> None:
    """Depthwise with channel multiplier 2: output channel c*2+m scales kernel[..., c, m]."""
    w = const(g, _r(3, 3, 3, 2), "dw")
    y = op(g, "DepthwiseConv2dNative", [_image(g), w], CONV, name="dw")
    y = op(g, "Mul", [y, const(g, _r(6, seed=8), "scale")], T, name="mul")
    output(g, "y", op(g, "AddV2", [const(g, _r(6, seed=9), "offset"), y], T, name="add"))


def matmul_transposed_reverse_sub(g: Graph) -> None:
    """MatMul(transpose_b) * scalar, then c - y (the sign flips into the kernel)."""
    x = placeholder(g, "x", F, [None, 3])
    y = op(g, "MatMul", [x, const(g, _r(5, 3), "w")], {**T, "transpose_a": False, "transpose_b": True},
           name="mm")
    y = op(g, "Mul", [y, const(g, np.float32(0.5), "half")], T, name="mul")
    output(g, "y", op(g, "Sub", [const(g, _r(5, seed=10), "c"), y], T, name="sub"))


def batch_matmul_rank3_kernel(g: Graph) -> None:
    x = placeholder(g, "x", F, [2, 4, 3])
    y = op(g, "BatchMatMulV2", [x, const(g, _r(2, 3, 6), "w")], {**T, "adj_x": False, "adj_y": False},
           name="bmm")
    output(g, "y", op(g, "Mul", [y, const(g, _r(1, 1, 6, seed=11), "scale")], T, name="mul"))


def fused_conv_with_bias(g: Graph) -> None:
    attrs = {**CONV, "fused_ops": [b"BiasAdd"], "num_args": 1, "epsilon": 0.0}
    y = op(g, "_FusedConv2D", [_image(g), const(g, _r(3, 3, 3, 4), "w"), const(g, _r(4, seed=12), "b")],
           attrs, name="fconv")
    output(g, "y", op(g, "Mul", [y, const(g, _r(4, seed=13), "s")], T, name="mul"))


FOLDED: dict[str, tuple[Callable[[Graph], None], dict[str, int]]] = {
    "keras3_bn": (keras3_bn_after_conv, {"Conv2D": 1, "BiasAdd": 1}),
    "onnx_bn": (onnx_bn_spelling, {"Conv2D": 1, "BiasAdd": 1}),
    "depthwise": (depthwise_multiplier, {"DepthwiseConv2dNative": 1, "BiasAdd": 1}),
    "matmul": (matmul_transposed_reverse_sub, {"MatMul": 1, "BiasAdd": 1}),
    "batch_matmul": (batch_matmul_rank3_kernel, {"BatchMatMulV2": 1}),
    "fused_conv": (fused_conv_with_bias, {"_FusedConv2D": 1}),
}


def _ops(g: Graph) -> dict[str, int]:
    return {k: v for k, v in g.op_histogram().items() if k not in ("Const", "Placeholder")}


def _feeds(g: Graph) -> dict[str, np.ndarray]:
    shape = [2 if d is None else d for d in g.inputs[0].outputs[0].shape.dims]
    return {"x": np.random.default_rng(5).standard_normal(shape).astype(np.float32)}


@pytest.mark.parametrize("case", sorted(FOLDED))
def test_chain_folds_into_kernel_and_bias(case: str) -> None:
    build, expected_ops = FOLDED[case]
    before, after = Graph(), Graph()
    build(before)
    build(after)
    assert FoldAffine().run(after, PassContext()) is True
    verify(after)
    assert _ops(after) == expected_ops
    out = dict(after.outputs)["y"].producer
    assert out.name == dict(before.outputs)["y"].producer.name  # the chain's last name survives
    feeds = _feeds(before)
    np.testing.assert_allclose(interpret(after, feeds)["y"], interpret(before, feeds)["y"],
                               rtol=1e-5, atol=1e-5)


def _conv_mul(g: Graph, scale: np.ndarray, data_format: bytes = b"NHWC", extra_use: bool = False) -> None:
    x = placeholder(g, "x", F, [None, 5, 5, 3] if data_format == b"NHWC" else [None, 3, 5, 5])
    y = op(g, "Conv2D", [x, const(g, _r(3, 3, 3, 4), "w")], {**CONV, "data_format": data_format}, name="conv")
    output(g, "y", op(g, "Mul", [y, const(g, scale, "s")], T, name="mul"))
    if extra_use:
        output(g, "raw", y)


@pytest.mark.parametrize("variant", ["spatial_const", "nchw", "shared_output", "lone_add"])
def test_chain_left_alone(variant: str) -> None:
    g = Graph()
    if variant == "spatial_const":  # varies along H, not along the channel axis
        _conv_mul(g, _r(1, 5, 1, 1))
    elif variant == "nchw":
        _conv_mul(g, _r(4), data_format=b"NCHW")
    elif variant == "shared_output":
        _conv_mul(g, _r(4), extra_use=True)
    else:
        y = op(g, "Conv2D", [_image(g), const(g, _r(3, 3, 3, 4), "w")], CONV, name="conv")
        output(g, "y", op(g, "AddV2", [y, const(g, _r(4), "b")], T, name="add"))
    before = g.op_histogram()
    assert FoldAffine().run(g, PassContext()) is False
    assert g.op_histogram() == before


def test_pipeline_makes_one_fused_conv_with_activation() -> None:
    """Conv2D -> Mul -> AddV2 -> Relu (Keras 3 conv + batch norm + relu) ends as one _FusedConv2D."""
    before, after = Graph(), Graph()
    for g in (before, after):
        keras3_bn_after_conv(g)
        key, value = g.outputs.pop()
        output(g, key, op(g, "Relu", [value], T, name="relu"))
    optimize(after, ConvertOptions(), checks=True)
    assert _ops(after) == {"_FusedConv2D": 1}
    fused = after.find("_FusedConv2D")[0]
    assert fused.name == "relu" and fused.attrs["fused_ops"] == [b"BiasAdd", b"Relu"]
    feeds = _feeds(before)
    np.testing.assert_allclose(interpret(after, feeds)["y"], interpret(before, feeds)["y"],
                               rtol=1e-5, atol=1e-5)


def test_large_shared_kernel_is_not_copied() -> None:
    """A tied weight read by two contractions would be duplicated by folding: left alone when big."""
    g = Graph()
    x = placeholder(g, "x", F, [None, 256])
    w = const(g, _r(256, 128), "tied")  # 128 KiB
    mm = {**T, "transpose_a": False, "transpose_b": False}
    for i in range(2):
        y = op(g, "MatMul", [x, w], mm, name=f"mm{i}")
        output(g, f"y{i}", op(g, "Mul", [y, const(g, np.float32(2 + i), f"s{i}")], T, name=f"mul{i}"))
    assert FoldAffine().run(g, PassContext()) is False


def test_offsets_only_keep_the_stored_kernel() -> None:
    """Conv2D -> BiasAdd(0) -> AddV2(c): the scale stays exactly 1, so the new kernel constant holds the
    stored values themselves (no scaled copy is computed when it is written), bit for bit."""
    before, after = Graph(), Graph()
    for g in (before, after):
        y = op(g, "Conv2D", [_image(g), const(g, _r(3, 3, 3, 4), "w")], CONV, name="conv")
        y = op(g, "BiasAdd", [y, const(g, np.zeros(4, np.float32), "b")], {**T, "data_format": b"NHWC"},
               name="bias")
        output(g, "y", op(g, "AddV2", [y, const(g, _r(4, seed=14), "c")], T, name="add"))
    stored = after.find("Conv2D")[0].inputs[1].producer.attrs["value"]
    assert FoldAffine().run(after, PassContext()) is True
    kernel = after.find("Conv2D")[0].inputs[1].producer
    assert kernel.name == "conv/folded_kernel"
    assert kernel.attrs["value"] is stored
    feeds = _feeds(before)
    np.testing.assert_array_equal(interpret(after, feeds)["y"], interpret(before, feeds)["y"])
