"""fold_batch_norm, fuse_conv_bias_activation, fuse_matmul_bias_activation, fuse_prelu."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
from ir.graph_factory import const, op, output, placeholder

from tfjsconv.ir.graph import Graph, Value
from tfjsconv.ir.interpret import interpret
from tfjsconv.ir.types import DType
from tfjsconv.ir.verify import verify
from tfjsconv.options import ConvertOptions
from tfjsconv.passes.base import PassContext
from tfjsconv.passes.fold_batch_norm import FoldBatchNorm
from tfjsconv.passes.fuse_conv_bias_activation import FuseConvBiasActivation
from tfjsconv.passes.fuse_matmul_bias_activation import FuseMatmulBiasActivation
from tfjsconv.passes.pipeline import optimize
from tfjsconv.writers.graph_model import write_graph_model

F = DType.FLOAT
T = {"T": F}
RNG = np.random.default_rng(11)


def _conv(g: Graph, x: Value, out_channels: int = 4, name: str = "conv", fmt: bytes = b"NHWC") -> Value:
    w = const(g, RNG.standard_normal((3, 3, 3, out_channels)).astype(np.float32), f"{name}/filter")
    strides = [1, 1, 1, 1]
    return op(
        g,
        "Conv2D",
        [x, w],
        {"T": F, "strides": strides, "padding": b"SAME", "data_format": fmt, "dilations": [1, 1, 1, 1]},
        name=name,
    )


def _bn(g: Graph, y: Value, channels: int, name: str = "bn") -> Value:
    params = [
        const(g, RNG.uniform(0.5, 1.5, channels).astype(np.float32), f"{name}/gamma"),
        const(g, RNG.standard_normal(channels).astype(np.float32), f"{name}/beta"),
        const(g, RNG.standard_normal(channels).astype(np.float32), f"{name}/mean"),
        const(g, RNG.uniform(0.5, 2.0, channels).astype(np.float32), f"{name}/var"),
    ]
    return op(
        g,
        "FusedBatchNormV3",
        [y, *params],
        {"T": F, "U": F, "epsilon": 0.001, "data_format": b"NHWC", "is_training": False},
        name=name,
        num_outputs=6,
    )


def _image(g: Graph) -> Value:
    return placeholder(g, "x", F, [None, 5, 5, 3])


def _same_numbers(g: Graph, run: Any, feeds: Optional[dict] = None) -> None:
    feeds = feeds or {"x": RNG.standard_normal((2, 5, 5, 3)).astype(np.float32)}
    before = interpret(g, feeds)
    run()
    verify(g)
    after = interpret(g, feeds)
    for key in before:
        np.testing.assert_allclose(after[key], before[key], rtol=1e-4, atol=1e-5)


def test_batch_norm_after_conv_and_bias_is_folded() -> None:
    g = Graph()
    y = _conv(g, _image(g))
    y = op(
        g,
        "BiasAdd",
        [y, const(g, RNG.standard_normal(4).astype(np.float32), "bias")],
        {"T": F, "data_format": b"NHWC"},
        name="biasadd",
    )
    output(g, "y", _bn(g, y, 4))
    ctx = PassContext()
    _same_numbers(g, lambda: FoldBatchNorm().run(g, ctx))
    g.prune()
    assert g.op_histogram() == {"BiasAdd": 1, "Const": 2, "Conv2D": 1, "Placeholder": 1}
    assert g.node("bn").op == "BiasAdd"
    assert sorted(n.name for n in g.find("Const")) == ["conv_bn_offset", "conv_weights"]
    assert ctx.warnings == []


def test_batch_norm_without_conv_stays_with_a_warning() -> None:
    g = Graph()
    x = _image(g)
    output(g, "y", _bn(g, op(g, "Relu", [x], T, name="relu"), 3))
    ctx = PassContext()
    assert not FoldBatchNorm().run(g, ctx)
    assert g.node("bn").op == "FusedBatchNormV3"
    assert ctx.warnings and "bn" in ctx.warnings[0]


def test_add_of_channel_bias_becomes_fused_conv() -> None:
    g = Graph()
    y = _conv(g, _image(g))
    y = op(g, "Add", [const(g, RNG.standard_normal(4).astype(np.float32), "bias"), y], T, name="add")
    output(g, "y", op(g, "LeakyRelu", [y], {"T": F, "alpha": 0.3}, name="leaky"))
    _same_numbers(g, lambda: FuseConvBiasActivation().run(g, PassContext()))
    g.prune()
    fused = g.node("leaky")
    assert fused.op == "_FusedConv2D"
    assert fused.attrs["fused_ops"] == [b"BiasAdd", b"LeakyRelu"] and fused.attrs["num_args"] == 1
    assert fused.attrs["leakyrelu_alpha"] == 0.3 and fused.attrs["padding"] == b"SAME"
    assert g.op_histogram() == {"Const": 2, "Placeholder": 1, "_FusedConv2D": 1}


def test_shared_intermediates_and_nchw_are_not_fused() -> None:
    g = Graph()
    x = _image(g)
    y = op(
        g,
        "BiasAdd",
        [_conv(g, x), const(g, np.ones(4, np.float32), "b")],
        {"T": F, "data_format": b"NHWC"},
        name="biasadd",
    )
    output(g, "relu", op(g, "Relu", [y], T, name="relu"))
    output(g, "pre_activation", y)  # the BiasAdd result is needed on its own: only conv+bias fuse
    nchw = _conv(g, placeholder(g, "x_nchw", F, [None, 3, 5, 5]), name="conv_nchw", fmt=b"NCHW")
    output(
        g,
        "nchw",
        op(
            g,
            "BiasAdd",
            [nchw, const(g, np.ones(4, np.float32), "b2")],
            {"T": F, "data_format": b"NCHW"},
            name="bias_nchw",
        ),
    )
    feeds = {
        "x": RNG.standard_normal((1, 5, 5, 3)).astype(np.float32),
        "x_nchw": RNG.standard_normal((1, 3, 5, 5)).astype(np.float32),
    }
    _same_numbers(g, lambda: FuseConvBiasActivation().run(g, PassContext()), feeds)
    g.prune()
    assert g.node("relu").op == "Relu"
    assert g.node("relu").inputs[0].producer.op == "_FusedConv2D"
    assert g.node("biasadd").attrs["fused_ops"] == [b"BiasAdd"]
    assert g.node("conv_nchw").op == "Conv2D" and g.node("bias_nchw").op == "BiasAdd"


def test_depthwise_does_not_take_leaky_relu() -> None:
    g = Graph()
    w = const(g, RNG.standard_normal((3, 3, 3, 1)).astype(np.float32), "dw")
    y = op(
        g,
        "DepthwiseConv2dNative",
        [_image(g), w],
        {"T": F, "strides": [1, 1, 1, 1], "padding": b"VALID", "data_format": b"NHWC"},
        name="dwconv",
    )
    y = op(
        g, "BiasAdd", [y, const(g, np.ones(3, np.float32), "b")], {"T": F, "data_format": b"NHWC"}, name="ba"
    )
    output(g, "y", op(g, "LeakyRelu", [y], {"T": F, "alpha": 0.2}, name="leaky"))
    _same_numbers(g, lambda: FuseConvBiasActivation().run(g, PassContext()))
    g.prune()
    assert g.op_histogram() == {"Const": 2, "FusedDepthwiseConv2dNative": 1, "LeakyRelu": 1, "Placeholder": 1}
    fused = g.node("ba")
    assert fused.attrs["fused_ops"] == [b"BiasAdd"] and "leakyrelu_alpha" not in fused.attrs


def test_matmul_with_add_bias_and_sigmoid() -> None:
    g = Graph()
    x = placeholder(g, "x", F, [None, 3])
    w = const(g, RNG.standard_normal((2, 3)).astype(np.float32), "w")
    m = op(g, "MatMul", [x, w], {"T": F, "transpose_a": False, "transpose_b": True}, name="mm")
    a = op(g, "AddV2", [m, const(g, np.float32([0.1, -0.2]), "b")], T, name="add")
    output(g, "y", op(g, "Sigmoid", [a], T, name="sig"))
    wrong = op(
        g,
        "AddV2",
        [
            op(g, "MatMul", [x, const(g, np.ones((3, 3), np.float32), "w3")], T, name="mm3"),
            const(g, np.ones(1, np.float32), "scalarish"),
        ],
        T,
        name="add3",
    )
    output(g, "z", wrong)
    feeds = {"x": RNG.standard_normal((4, 3)).astype(np.float32)}
    _same_numbers(g, lambda: FuseMatmulBiasActivation().run(g, PassContext()), feeds)
    g.prune()
    fused = g.node("sig")
    assert fused.op == "_FusedMatMul" and fused.attrs["transpose_b"] is True
    assert fused.attrs["fused_ops"] == [b"BiasAdd", b"Sigmoid"]
    assert g.node("add3").op == "AddV2"  # a 1-element bias is not a per-channel bias of width 3


def _prelu_conv_graph() -> Graph:
    """Keras-style PReLU after conv + bias: relu(y) + (-alpha) * relu(-y)."""
    g = Graph()
    y = _conv(g, _image(g))
    y = op(
        g,
        "BiasAdd",
        [y, const(g, RNG.standard_normal(4).astype(np.float32), "bias")],
        {"T": F, "data_format": b"NHWC"},
        name="biasadd",
    )
    alpha = RNG.uniform(0.05, 0.5, 4).astype(np.float32)
    pos = op(g, "Relu", [y], T, name="prelu/Relu")
    neg = op(g, "Relu", [op(g, "Neg", [y], T, name="prelu/Neg")], T, name="prelu/Relu_1")
    scaled = op(g, "Mul", [const(g, -alpha, "prelu/neg_alpha"), neg], T, name="prelu/mul")
    output(g, "y", op(g, "AddV2", [pos, scaled], T, name="prelu/add"))
    return g


def test_prelu_pattern_fuses_into_conv_and_runs_in_tfjs(tmp_path: Path, tfjs: Any) -> None:
    g = _prelu_conv_graph()
    x = RNG.standard_normal((2, 5, 5, 3)).astype(np.float32)
    expected = interpret(g, {"x": x})["y"]
    optimize(g, ConvertOptions(), checks=True)
    assert g.op_histogram() == {"Const": 3, "Placeholder": 1, "_FusedConv2D": 1}
    fused = g.node("prelu/add")
    assert fused.attrs["fused_ops"] == [b"BiasAdd", b"Prelu"] and fused.attrs["num_args"] == 2
    assert len(fused.inputs) == 4
    np.testing.assert_allclose(interpret(g, {"x": x})["y"], expected, rtol=1e-4, atol=1e-5)
    out = tmp_path / "prelu"
    out.mkdir()
    write_graph_model(g, out, ConvertOptions())
    (got,) = tfjs.run(out, "graph", [("x", x)])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_standalone_prelu_with_sub_form() -> None:
    g = Graph()
    x = placeholder(g, "x", F, [None, 2])
    pos = op(g, "Relu", [x], T, name="r")
    neg = op(g, "Relu", [op(g, "Neg", [x], T, name="n")], T, name="rn")
    scaled = op(g, "Mul", [neg, const(g, np.float32([0.1, 0.2]), "alpha")], T, name="m")
    output(g, "y", op(g, "Sub", [pos, scaled], T, name="prelu"))
    feeds = {"x": np.float32([[-1, 2], [3, -4]])}
    _same_numbers(g, lambda: optimize(g, ConvertOptions(), checks=True), feeds)
    assert g.op_histogram() == {"Const": 1, "Placeholder": 1, "Prelu": 1}
    np.testing.assert_allclose(interpret(g, feeds)["y"], [[-0.1, 2], [3, -0.8]], rtol=1e-6)


def _tensordot_graph(last_dim_const: int) -> Graph:
    """Dense on a 3-D input as Keras' Tensordot writes it: reshape, matmul, reshape back, bias."""
    g = Graph()
    i32 = DType.INT32
    x = placeholder(g, "x", F, [None, 5, 4])
    flat = op(g, "Reshape", [x, const(g, np.array([-1, 4], np.int32), "flat_shape")], T, name="flat")
    w = const(g, RNG.standard_normal((4, 3)).astype(np.float32), "kernel")
    m = op(g, "MatMul", [flat, w], {"T": F, "transpose_a": False, "transpose_b": False}, name="matmul")
    batch = op(
        g,
        "StridedSlice",
        [
            op(g, "Shape", [x], {"T": F, "out_type": i32}, name="shape", dtype=i32),
            const(g, np.array([0], np.int32), "b"),
            const(g, np.array([2], np.int32), "e"),
            const(g, np.array([1], np.int32), "s"),
        ],
        {"T": i32, "Index": i32},
        name="lead",
        dtype=i32,
    )
    target = op(
        g,
        "ConcatV2",
        [
            batch,
            const(g, np.array([last_dim_const], np.int32), "tail"),
            const(g, np.array(0, np.int32), "axis"),
        ],
        {"T": i32, "N": 2},
        name="target",
        dtype=i32,
    )
    back = op(g, "Reshape", [m, target], T, name="tensordot")
    output(
        g,
        "y",
        op(
            g,
            "BiasAdd",
            [back, const(g, np.float32([1, 2, 3]), "bias")],
            {"T": F, "data_format": b"NHWC"},
            name="biasadd",
        ),
    )
    return g


def test_bias_after_tensordot_reshape_is_hoisted_and_fused() -> None:
    g = _tensordot_graph(3)
    feeds = {"x": RNG.standard_normal((2, 5, 4)).astype(np.float32)}
    _same_numbers(g, lambda: optimize(g, ConvertOptions(), checks=True), feeds)
    hist = g.op_histogram()
    assert hist["_FusedMatMul"] == 1 and "BiasAdd" not in hist and "MatMul" not in hist
    assert g.node("biasadd").op == "Reshape"  # the output keeps its name
    g2 = _tensordot_graph(-1)  # the last dim is not known to be the bias width: left alone
    _same_numbers(g2, lambda: optimize(g2, ConvertOptions(), checks=True), feeds)
    assert g2.node("biasadd").op == "BiasAdd" and "MatMul" in g2.op_histogram()


def test_identity_transpose_and_same_type_cast_are_removed() -> None:
    g = Graph()
    x = placeholder(g, "x", F, [2, 3])
    t = op(g, "Transpose", [x, const(g, np.array([0, 1], np.int32), "perm")], T, name="t")
    c = op(g, "Cast", [t], {"SrcT": F, "DstT": F, "Truncate": False}, name="c")
    real = op(g, "Transpose", [c, const(g, np.array([1, 0], np.int32), "perm2")], T, name="real")
    output(g, "y", real)
    _same_numbers(
        g, lambda: optimize(g, ConvertOptions(), checks=True), {"x": np.float32([[1, 2, 3], [4, 5, 6]])}
    )
    assert g.op_histogram() == {"Const": 1, "Placeholder": 1, "Transpose": 1}


def test_fused_node_keeps_the_control_inputs_of_what_it_replaces() -> None:
    g = Graph()
    x = placeholder(g, "x", F, [None, 3])
    gate = placeholder(g, "gate", F, [])
    m = op(g, "MatMul", [x, const(g, np.ones((3, 2), np.float32), "w")], {"T": F}, name="mm")
    g.node("mm").control_inputs.append(gate.producer)
    y = op(
        g, "BiasAdd", [m, const(g, np.ones(2, np.float32), "b")], {"T": F, "data_format": b"NHWC"}, name="ba"
    )
    output(g, "y", y)
    assert FuseMatmulBiasActivation().run(g, PassContext())
    assert [c.name for c in g.node("ba").control_inputs] == ["gate"]
