"""TF.js-only ops split into TensorFlow ops, and the legalizations TensorFlow's kernels need: the numpy
kernels (the IR's test oracle) give the same numbers before and after, and no TF.js-only op is left."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tfjsconv.errors import UnsupportedError
from tfjsconv.ir.graph import Graph, Value
from tfjsconv.ir.interpret import interpret
from tfjsconv.ir.types import DType
from tfjsconv.writers.tf.frames import enter_loop_invariants
from tfjsconv.writers.tf.legalize import scalarize_operands, undilate_depthwise
from tfjsconv.writers.tf.tf_dialect import REWRITES, to_tensorflow_ops

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from ir.graph_factory import const, op, output, placeholder  # noqa: E402

RNG = np.random.default_rng(7)
F = DType.FLOAT
CONV = {"T": F, "strides": [1, 1, 1, 1], "padding": b"SAME", "data_format": b"NHWC",
        "dilations": [1, 1, 1, 1]}


def _image(g: Graph) -> Value:
    return placeholder(g, "x", shape=[2, 5, 5, 3])


def fused_conv(ops: list[bytes]) -> Callable[[Graph], Value]:
    def build(g: Graph) -> Value:
        args = [const(g, RNG.standard_normal(4).astype(np.float32), "bias")]
        if b"Prelu" in ops:
            args.append(const(g, RNG.uniform(0.1, 0.5, 4).astype(np.float32), "alpha"))
        w = const(g, RNG.standard_normal((3, 3, 3, 4)).astype(np.float32), "w")
        attrs = dict(CONV, fused_ops=ops, num_args=len(args), epsilon=0.0, leakyrelu_alpha=0.3)
        return op(g, "_FusedConv2D", [_image(g), w, *args], attrs, name="fused")
    return build


def fused_depthwise(g: Graph) -> Value:
    w = const(g, RNG.standard_normal((3, 3, 3, 2)).astype(np.float32), "w")
    bias = const(g, RNG.standard_normal(6).astype(np.float32), "bias")
    attrs = dict(CONV, fused_ops=[b"BiasAdd", b"Relu6"], num_args=1)
    return op(g, "FusedDepthwiseConv2dNative", [_image(g), w, bias], attrs, name="fused")


def fused_matmul(g: Graph) -> Value:
    a = placeholder(g, "a", shape=[3, 4])
    b = const(g, RNG.standard_normal((5, 4)).astype(np.float32), "b")
    bias = const(g, RNG.standard_normal(5).astype(np.float32), "bias")
    attrs = {"T": F, "transpose_a": False, "transpose_b": True, "fused_ops": [b"BiasAdd", b"Elu"],
             "num_args": 1}
    return op(g, "_FusedMatMul", [a, b, bias], attrs, name="fused")


def prelu(g: Graph) -> Value:
    x = placeholder(g, "x", shape=[4, 6])
    return op(g, "Prelu", [x, const(g, np.linspace(0.1, 0.6, 6).astype(np.float32), "alpha")], {"T": F})


DEPTHWISE_W = RNG.standard_normal((2, 2, 3, 1)).astype(np.float32)


def depthwise_spelling(g: Graph) -> Value:
    attrs = {k: v for k, v in CONV.items() if k != "T"}
    return op(g, "DepthwiseConv2d", [_image(g), const(g, DEPTHWISE_W, "w")], attrs)


def _native_depthwise(feeds: dict[str, np.ndarray]) -> np.ndarray:
    g = Graph()
    output(g, "y", op(g, "DepthwiseConv2dNative", [_image(g), const(g, DEPTHWISE_W, "w")], CONV))
    return interpret(g, feeds)["y"]


def ones(g: Graph) -> Value:
    return op(g, "Ones", [const(g, np.array([2, 3], np.int32), "shape")], {"T": F})


CASES: dict[str, Callable[[Graph], Value]] = {
    "conv_bias": fused_conv([b"BiasAdd"]),
    "conv_relu": fused_conv([b"BiasAdd", b"Relu"]),
    "conv_leaky": fused_conv([b"BiasAdd", b"LeakyRelu"]),
    "conv_prelu": fused_conv([b"BiasAdd", b"Prelu"]),
    "conv_sigmoid": fused_conv([b"BiasAdd", b"Sigmoid"]),
    "depthwise_relu6": fused_depthwise,
    "matmul_elu": fused_matmul,
    "prelu": prelu,
    "depthwise_spelling": depthwise_spelling,
    "ones": ones,
}
# TF.js spellings the numpy kernels do not know: the reference is the TensorFlow op's result.
REFERENCE: dict[str, Callable[[dict[str, np.ndarray]], np.ndarray]] = {
    "depthwise_spelling": _native_depthwise,
    "ones": lambda feeds: np.ones((2, 3), np.float32),
}


def _feeds(g: Graph) -> dict[str, np.ndarray]:
    return {n.name: RNG.standard_normal(tuple(n.attrs["shape"].dims)).astype(np.float32) for n in g.inputs}


@pytest.mark.parametrize("name", sorted(CASES))
def test_split_ops_compute_the_same(name: str) -> None:
    g = Graph()
    out = CASES[name](g)
    output(g, "y", out)
    feeds = _feeds(g)
    before = REFERENCE[name](feeds) if name in REFERENCE else interpret(g, feeds)["y"]
    to_tensorflow_ops(g)
    assert not {n.op for n in g.nodes} & set(REWRITES.keys())
    assert g.outputs[0][1].producer.name == out.producer.name  # the result keeps the op's name
    np.testing.assert_allclose(interpret(g, feeds)["y"], before, rtol=1e-6, atol=1e-6)


def test_prelu_is_exact_on_both_sides_of_zero() -> None:
    g = Graph()
    x = placeholder(g, "x", shape=[5])
    output(g, "y", op(g, "Prelu", [x, const(g, np.float32(0.25), "alpha")], {"T": F}))
    to_tensorflow_ops(g)
    values = np.array([-4.0, -0.5, 0.0, 0.5, 3.0], np.float32)
    expected = np.where(values < 0, values * 0.25, values)
    np.testing.assert_array_equal(interpret(g, {"x": values})["y"], expected)


def test_unknown_ops_are_listed_together() -> None:
    g = Graph()
    x = placeholder(g, "x", shape=[2])
    output(g, "a", op(g, "SimpleMLInferenceOpWithHandle", [x]))
    output(g, "b", op(g, "MyCustomOp", [x], name="c1"))
    output(g, "c", op(g, "MyCustomOp", [x], name="c2"))
    with pytest.raises(UnsupportedError) as caught:
        to_tensorflow_ops(g)
    assert str(caught.value) == ("ops with no TensorFlow equivalent: MyCustomOp (2 nodes), "
                                 "SimpleMLInferenceOpWithHandle (1 node)")


def test_fused_batch_norm_is_refused() -> None:
    g = Graph()
    output(g, "y", fused_conv([b"FusedBatchNorm"])(g))
    with pytest.raises(UnsupportedError, match="FusedBatchNorm"):
        to_tensorflow_ops(g)


# ----- legalizations ------------------------------------------------------------------------------------

def test_one_element_axes_become_scalars() -> None:
    g = Graph()
    x = placeholder(g, "x", shape=[2, 6])
    axis = const(g, np.array([1], np.int32), "axis")
    parts = op(g, "Split", [axis, x], {"T": F, "num_split": 2}, num_outputs=2)
    output(g, "y", op(g, "ConcatV2", [parts.producer.output(1), parts, axis], {"T": F, "N": 2}))
    feeds = _feeds(g)
    before = interpret(g, feeds)["y"]
    assert scalarize_operands(g) == 2
    split = g.find("Split")[0]
    assert split.inputs[0].producer.attrs["value"].shape == ()
    assert g.find("ConcatV2")[0].inputs[-1].producer.attrs["value"].shape == ()
    np.testing.assert_array_equal(interpret(g, feeds)["y"], before)


def test_dilated_depthwise_gets_a_dilated_filter() -> None:
    g = Graph()
    w = const(g, RNG.standard_normal((3, 3, 3, 2)).astype(np.float32), "w")
    attrs = dict(CONV, dilations=[1, 2, 2, 1], padding=b"VALID")
    output(g, "y", op(g, "DepthwiseConv2dNative", [placeholder(g, "x", shape=[1, 9, 9, 3]), w], attrs))
    feeds = _feeds(g)
    before = interpret(g, feeds)["y"]
    assert undilate_depthwise(g) == 1
    node = g.find("DepthwiseConv2dNative")[0]
    assert node.attrs["dilations"] == [1, 1, 1, 1]
    assert node.inputs[1].producer.attrs["value"].shape == (5, 5, 3, 2)
    np.testing.assert_allclose(interpret(g, feeds)["y"], before, rtol=1e-5, atol=1e-5)


def test_loop_invariants_enter_the_frame() -> None:
    """A v1 loop whose body reads a constant shared with the outer graph (as CSE leaves it)."""
    g = Graph()
    x = placeholder(g, "x", shape=[])
    step = const(g, np.float32(2.0), "step")
    loop: dict[str, Any] = {"frame_name": b"loop", "is_constant": False, "parallel_iterations": 10, "T": F}
    enter = op(g, "Enter", [x], loop, name="enter")
    merge = op(g, "Merge", [enter, enter], {"T": F, "N": 2}, name="merge", num_outputs=2)
    body = op(g, "Mul", [merge, step], {"T": F}, name="body")
    following = op(g, "NextIteration", [body], {"T": F}, name="next")
    g.set_input(merge.producer, 1, following)
    exit_ = op(g, "Exit", [body], {"T": F}, name="exit")
    output(g, "y", op(g, "AddV2", [exit_, step], {"T": F}, name="after"))
    assert enter_loop_invariants(g) == 1
    entered = g.node("body").inputs[1].producer
    assert entered.op == "Enter" and entered.inputs[0].producer.name == "step"
    assert entered.attrs["frame_name"] == b"loop" and entered.attrs["is_constant"] is True
    assert g.node("after").inputs[1].producer.name == "step"  # outside the loop: unchanged
