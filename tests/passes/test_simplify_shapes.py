"""simplify_shapes: no-op Reshape/Transpose/Cast go, chains shorten, a zero Pad moves into a conv's
explicit padding (tiny graphs, numpy oracle; the padded conv also in real TF.js)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ir.graph_factory import const, op, output, placeholder
from passes.equivalence import check_pass, ops_of

from tfjsconv.ir.graph import Graph, Value
from tfjsconv.ir.interpret import interpret
from tfjsconv.ir.types import DType
from tfjsconv.options import ConvertOptions
from tfjsconv.passes.pipeline import optimize
from tfjsconv.passes.simplify_shapes import SimplifyShapes
from tfjsconv.writers.graph_model import write_graph_model

F, INT = DType.FLOAT, DType.INT32
T = {"T": F}


def _reshape(g: Graph, x: Value, shape: list[int], name: str) -> Value:
    return op(g, "Reshape", [x, const(g, np.array(shape, np.int32), f"{name}/shape")], {**T, "Tshape": INT},
              name=name)


def _transpose(g: Graph, x: Value, perm: list[int], name: str) -> Value:
    return op(g, "Transpose", [x, const(g, np.array(perm, np.int32), f"{name}/perm")], {**T, "Tperm": INT},
              name=name)


def _relu_out(g: Graph, y: Value) -> None:
    output(g, "y", op(g, "Relu", [y], T, name="relu"))


def test_reshape_to_own_shape_goes() -> None:
    check_pass(lambda g: _relu_out(g, _reshape(g, placeholder(g, "x", F, [None, 3, 4]), [-1, 3, 4], "r")),
               SimplifyShapes(), {"Relu": 1})


@pytest.mark.parametrize("shape, target", [([None, 12], [-1, 3, 4]), ([None, None, 4], [-1, 2, 4])])
def test_reshape_that_may_change_shape_stays(shape: list, target: list) -> None:
    check_pass(lambda g: _relu_out(g, _reshape(g, placeholder(g, "x", F, shape), target, "r")),
               SimplifyShapes(), {"Reshape": 1, "Relu": 1}, changed=False)


def test_double_reshape_reads_the_first_input() -> None:
    def build(g: Graph) -> None:
        x = placeholder(g, "x", F, [2, 12])
        y = op(g, "ExpandDims", [x, const(g, np.int32(0), "axis")], {**T, "Tdim": INT}, name="expand")
        _relu_out(g, _reshape(g, _reshape(g, y, [4, 6], "r1"), [3, 8], "r2"))

    g = check_pass(build, SimplifyShapes(), {"Reshape": 1, "Relu": 1})
    assert g.node("r2").inputs[0].producer.op == "Placeholder"


def test_transposes_merge_or_cancel() -> None:
    def build(g: Graph) -> None:
        x = placeholder(g, "x", F, [2, 3, 4])
        a = _transpose(g, _transpose(g, x, [0, 2, 1], "t1"), [2, 0, 1], "t2")
        output(g, "a", op(g, "Relu", [a], T, name="relu_a"))
        b = _transpose(g, _transpose(g, x, [1, 2, 0], "t3"), [2, 0, 1], "t4")  # inverse perms
        output(g, "b", op(g, "Relu", [b], T, name="relu_b"))
        output(g, "c", op(g, "Relu", [_transpose(g, x, [0, 1, 2], "t5")], T, name="relu_c"))

    g = check_pass(build, SimplifyShapes(), {"Transpose": 1, "Relu": 3})
    assert g.node("relu_b").inputs[0].producer.op == "Placeholder"
    assert g.node("relu_c").inputs[0].producer.op == "Placeholder"
    assert g.node("t2").inputs[0].producer.op == "Placeholder"


def test_cast_to_same_dtype_goes_other_cast_stays() -> None:
    def build(g: Graph) -> None:
        x = placeholder(g, "x", F, [3])
        same = op(g, "Cast", [x], {"SrcT": F, "DstT": F}, name="same")
        output(g, "y", op(g, "Relu", [same], T, name="relu"))
        output(g, "n", op(g, "Cast", [x], {"SrcT": F, "DstT": INT}, name="to_int", dtype=INT))

    check_pass(build, SimplifyShapes(), {"Relu": 1, "Cast": 1})


CONV = {"T": F, "strides": [1, 1, 1, 1], "data_format": b"NHWC", "dilations": [1, 1, 1, 1]}


def _padded_conv(g: Graph) -> None:
    x = placeholder(g, "x", F, [None, 6, 5, 3])
    pads = const(g, np.array([[0, 0], [1, 2], [0, 1], [0, 0]], np.int32), "pads")
    padded = op(g, "PadV2", [x, pads, const(g, np.float32(0), "value")], {**T, "Tpaddings": INT}, name="pad")
    w = const(g, np.random.default_rng(1).standard_normal((3, 3, 3, 4)).astype(np.float32), "w")
    output(g, "y", op(g, "Conv2D", [padded, w], dict(CONV, padding=b"VALID"), name="conv"))


def test_pad_before_a_valid_conv_stays() -> None:
    """The official converter's Pad + VALID form is kept (the EXPLICIT fold measured slower on cpu)."""
    check_pass(_padded_conv, SimplifyShapes(), {"PadV2": 1, "Conv2D": 1}, changed=False)


@pytest.mark.parametrize("backend", ["cpu", "wasm"])
def test_explicit_padding_runs_in_tfjs(tmp_path: Path, tfjs: Any, backend: str) -> None:
    """EXPLICIT Conv2D -> BiasAdd -> Relu ends as one _FusedConv2D with explicit padding in TF.js."""
    g = Graph()
    x = placeholder(g, "x", F, [None, 6, 5, 3])
    w = const(g, np.random.default_rng(1).standard_normal((3, 3, 3, 4)).astype(np.float32), "w")
    attrs = dict(CONV, padding=b"EXPLICIT", explicit_paddings=[0, 0, 1, 2, 0, 1, 0, 0])
    key, y = "y", op(g, "Conv2D", [x, w], attrs, name="conv")
    b = const(g, np.linspace(-1, 1, 4).astype(np.float32), "b")
    y = op(g, "BiasAdd", [y, b], {**T, "data_format": b"NHWC"}, name="bias")
    output(g, key, op(g, "Relu", [y], T, name="relu"))
    feed = np.random.default_rng(2).standard_normal((2, 6, 5, 3)).astype(np.float32)
    want = interpret(g, {"x": feed})["y"]
    optimize(g, ConvertOptions(), checks=True)
    assert ops_of(g) == {"_FusedConv2D": 1}
    assert g.find("_FusedConv2D")[0].attrs["padding"] == b"EXPLICIT"
    out = tmp_path / "model"
    out.mkdir()
    write_graph_model(g, out, ConvertOptions())
    (got,) = tfjs.run(out, "graph", [("x", feed)], backend=backend)
    assert got.shape == (2, 7, 4, 4)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
