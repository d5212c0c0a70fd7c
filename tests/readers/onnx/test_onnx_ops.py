"""ONNX op lowerings, checked with numpy references through the IR interpreter (no onnxruntime)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx_builders import convert_ir, helper, run_model, save_model, value_info

from tfjsconv.ir.interpret import interpret
from tfjsconv.readers.onnx.model import load_onnx_graph, tf_name
from tfjsconv.readers.onnx.ops import lookup
from tfjsconv.readers.onnx.problems import UnsupportedNodesError

RNG = np.random.default_rng(7)


def randn(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def test_handler_lookup_takes_the_highest_version_not_above_the_opset() -> None:
    # Clip reads min/max attributes before opset 11 and inputs from 11 on.
    assert lookup("Clip", 6) is not lookup("Clip", 11)
    assert lookup("Clip", 12) is lookup("Clip", 11)
    assert lookup("Resize", 9) is None and lookup("Resize", 10) is not None
    assert lookup("LayerNormalization", 16) is None and lookup("LayerNormalization", 17) is not None
    assert lookup("NoSuchOp", 17) is None


def test_handlers_refuse_duplicate_registration() -> None:
    from tfjsconv.readers.onnx.ops import onnx_op
    from tfjsconv.registry import DuplicateRegistrationError

    with pytest.raises(DuplicateRegistrationError, match=r"ONNX handler \('Clip', 11\) registered twice"):
        onnx_op("Clip", since=11)(lookup("Clip", 11))
    assert lookup("Clip", 11) is lookup("Clip", 12)  # the table is unchanged


def test_eager_folding_leaves_what_no_kernel_can_compute() -> None:
    from tfjsconv.ir.graph import Graph
    from tfjsconv.ir.types import DType
    from tfjsconv.readers.onnx.ops import OnnxContext

    ctx = OnnxContext(Graph(), 17)
    two = ctx.const(np.float32([2.0]), "two")
    doubled = ctx.binary("AddV2", two, two)
    assert doubled.producer.op == "Const" and ctx.const_value(doubled).tolist() == [4.0]
    # No numpy bfloat16: the kernel declines (NotComputable) and the Cast stays a node.
    cast = ctx.cast(two, DType.BFLOAT16)
    assert cast.producer.op == "Cast" and cast.dtype == DType.BFLOAT16 and cast.producer.inputs == [two]


def test_tf_names_are_valid_node_names() -> None:
    assert tf_name("input:0") == "input_0"
    assert tf_name("_hidden") == "t_hidden"
    assert tf_name("/layer/out") == "layer/out"
    assert tf_name("") == "t"


def test_slice_steps_negative_and_huge_ends(tmp_path: Path) -> None:
    x = randn(4, 9)
    nodes = [helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"])]
    inits = {
        "starts": np.array([-1, 1], np.int64),
        "ends": np.array([-(2**62), 2**62], np.int64),
        "axes": np.array([0, 1], np.int64),
        "steps": np.array([-1, 3], np.int64),
    }
    out = run_model(tmp_path, nodes, {"x": x}, ["y"], inits)
    np.testing.assert_array_equal(out["y"], x[::-1, 1::3])


def test_reshape_zero_copies_and_minus_one(tmp_path: Path) -> None:
    x = randn(2, 3, 4)
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["y"])]
    out = run_model(tmp_path, nodes, {"x": x}, ["y"], {"shape": np.array([0, -1], np.int64)})
    np.testing.assert_array_equal(out["y"], x.reshape(2, 12))


@pytest.mark.parametrize("opset, expected_axes", [(11, (1, 2)), (13, (1,))])
def test_softmax_axis_semantics_change_at_opset_13(tmp_path: Path, opset: int, expected_axes: tuple) -> None:
    x = randn(2, 3, 4)
    nodes = [helper.make_node("Softmax", ["x"], ["y"], axis=1)]
    out = run_model(tmp_path, nodes, {"x": x}, ["y"], opset=opset)
    e = np.exp(x - x.max(axis=expected_axes, keepdims=True))
    np.testing.assert_allclose(out["y"], e / e.sum(axis=expected_axes, keepdims=True), rtol=1e-5, atol=1e-6)


def test_gather_negative_indices_and_squeeze_unsqueeze_by_opset(tmp_path: Path) -> None:
    x = randn(3, 5)
    nodes = [
        helper.make_node("Gather", ["x", "idx"], ["g"], axis=1),
        helper.make_node("Unsqueeze", ["g"], ["u"], axes=[0]),
        helper.make_node("Squeeze", ["u"], ["y"], axes=[0]),
    ]
    out = run_model(tmp_path, nodes, {"x": x}, ["y"], {"idx": np.array([-1, 0], np.int64)}, opset=11)
    np.testing.assert_array_equal(out["y"], x[:, [4, 0]])


def _conv_reference(x: np.ndarray, w: np.ndarray, pads: tuple, group: int) -> np.ndarray:
    top, left, bottom, right = pads
    xp = np.pad(x, [(0, 0), (0, 0), (top, bottom), (left, right)])
    n, c, h, wd = xp.shape
    m, cg, kh, kw = w.shape
    out = np.zeros((n, m, h - kh + 1, wd - kw + 1), np.float64)
    per = m // group
    for o in range(m):
        g = o // per
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, g * cg : (g + 1) * cg, i : i + out.shape[2], j : j + out.shape[3]]
                out[:, o] += np.einsum("nchw,c->nhw", patch, w[o, :, i, j])
    return out.astype(np.float32)


@pytest.mark.parametrize(
    "group, cg, pads", [(1, 4, (1, 0, 2, 1)), (4, 1, (1, 1, 1, 1)), (2, 2, (0, 0, 0, 0))]
)
def test_conv_groups_and_asymmetric_pads(tmp_path: Path, group: int, cg: int, pads: tuple) -> None:
    x, w = randn(2, 4, 6, 7), randn(8, cg, 3, 3)
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], group=group, pads=list(pads))]
    out = run_model(tmp_path, nodes, {"x": x}, ["y"], {"w": w})
    np.testing.assert_allclose(out["y"], _conv_reference(x, w, pads, group), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "mode, np_mode", [("edge", "edge"), ("reflect", "reflect"), ("constant", "constant")]
)
def test_pad_modes(tmp_path: Path, mode: str, np_mode: str) -> None:
    x = randn(1, 2, 4, 5)
    nodes = [helper.make_node("Pad", ["x", "pads"], ["y"], mode=mode)]
    pads = np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)
    out = run_model(tmp_path, nodes, {"x": x}, ["y"], {"pads": pads})
    np.testing.assert_array_equal(out["y"], np.pad(x, [(0, 0), (0, 0), (1, 2), (2, 1)], mode=np_mode))


def test_batchnorm_folds_into_conv_and_matches(tmp_path: Path) -> None:
    x, w = randn(1, 3, 5, 5), randn(4, 3, 3, 3)
    scale, bias, mean, var = randn(4), randn(4), randn(4), np.abs(randn(4)) + 0.5
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["y"], epsilon=1e-3),
    ]
    out = run_model(tmp_path, nodes, {"x": x}, ["y"], {"w": w, "s": scale, "b": bias, "m": mean, "v": var})
    conv = _conv_reference(x, w, (1, 1, 1, 1), 1)
    shape = (1, -1, 1, 1)
    want = (conv - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + 1e-3) * scale.reshape(shape)
    np.testing.assert_allclose(out["y"], want + bias.reshape(shape), rtol=1e-4, atol=1e-4)


def test_gemm_alpha_beta_transposes(tmp_path: Path) -> None:
    a, b, c = randn(5, 3), randn(4, 5), randn(4)
    nodes = [helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=1, transB=1, alpha=0.5, beta=2.0)]
    out = run_model(tmp_path, nodes, {"a": a}, ["y"], {"b": b, "c": c})
    np.testing.assert_allclose(out["y"], 0.5 * a.T @ b.T + 2.0 * c, rtol=1e-5, atol=1e-5)


def test_layer_norm_and_reductions(tmp_path: Path) -> None:
    x = randn(2, 3, 6)
    nodes = [
        helper.make_node("LayerNormalization", ["x", "g"], ["ln"], axis=-1, epsilon=1e-5),
        helper.make_node("ReduceSum", ["ln", "axes"], ["y"], keepdims=0),
    ]
    g = randn(6)
    out = run_model(tmp_path, nodes, {"x": x}, ["y"], {"g": g, "axes": np.array([0, 2], np.int64)}, opset=17)
    norm = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * g
    np.testing.assert_allclose(out["y"], norm.sum(axis=(0, 2)), rtol=1e-4, atol=1e-4)


def test_shape_arithmetic_folds_to_constants(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "one"], ["d1"]),
        helper.make_node("Unsqueeze", ["d1", "zero"], ["d1v"]),
        helper.make_node("Concat", ["minus_one", "d1v"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    path = save_model(
        tmp_path / "m.onnx",
        nodes,
        [value_info("x", ["batch", 6, 2])],
        [value_info("y", None)],
        {
            "one": np.array(1, np.int64),
            "zero": np.array([0], np.int64),
            "minus_one": np.array([-1], np.int64),
        },
    )
    graph = convert_ir(path)
    reshape = graph.find("Reshape")[0]
    # The batch is dynamic but dim 1 is static: the target shape is a Const, no Shape op runs.
    assert reshape.inputs[1].producer.op == "Const"
    assert graph.find("Shape") == []


def test_folded_comparison_stays_boolean(tmp_path: Path) -> None:
    x = randn(2, 3)
    nodes = [
        helper.make_node("Equal", ["k", "zero"], ["mask"]),
        helper.make_node("Where", ["mask", "x", "minus"], ["y"]),
    ]
    inits = {"k": np.array([0, 1, 0], np.int64), "zero": np.array(0, np.int64), "minus": np.float32(-1.0)}
    out = run_model(tmp_path, nodes, {"x": x}, ["y"], inits)
    np.testing.assert_array_equal(out["y"], np.where([True, False, True], x, -1.0).astype(np.float32))
    graph = convert_ir(tmp_path / "model.onnx")
    masks = [n for n in graph.nodes if n.op == "Const" and n.attrs["value"].dtype == np.bool_]
    assert len(masks) == 1 and masks[0].outputs[0].dtype.name == "BOOL"


def test_unsupported_ops_are_listed_together(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Det", ["x"], ["d"]),
        helper.make_node("Unique", ["x"], ["u"]),
        helper.make_node("Det", ["x"], ["d2"]),
        helper.make_node("Relu", ["x"], ["y"]),
    ]
    path = save_model(
        tmp_path / "m.onnx",
        nodes,
        [value_info("x", [2, 2])],
        [value_info("d", None), value_info("u", None), value_info("d2", None), value_info("y", None)],
    )
    with pytest.raises(UnsupportedNodesError) as info:
        load_onnx_graph(path)
    assert [(p.op, p.node) for p in info.value.problems] == [("Det", "node_0"), ("Unique", "node_1"),
                                                             ("Det", "node_2")]
    assert "Det (2 nodes: 'node_0', 'node_2'), Unique (1 node: 'node_1')" in str(info.value)


@pytest.mark.parametrize(
    "attrs",
    [
        {"mode": "cubic"},
        {"mode": "cubic", "exclude_outside": 1, "cubic_coeff_a": -0.5},
        {"mode": "nearest", "coordinate_transformation_mode": "align_corners", "nearest_mode": "floor"},
        {"mode": "linear", "antialias": 1},
    ],
)
def test_resize_modes_tfjs_lacks_become_gathers_with_onnx_numbers(tmp_path: Path, attrs: dict) -> None:
    from onnx.reference import ReferenceEvaluator

    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["y"], **attrs)]
    scales = np.array([1, 1, 2.5, 0.6], np.float32)
    path = save_model(tmp_path / "m.onnx", nodes, [value_info("x", [1, 2, 3, 5])], [value_info("y", None)],
                      {"scales": scales}, opset=19)
    x = randn(1, 2, 3, 5)
    graph = convert_ir(path)
    assert not graph.find("ResizeBilinear") and not graph.find("ResizeNearestNeighbor")
    expected = ReferenceEvaluator(str(path)).run(None, {"x": x})[0]
    np.testing.assert_allclose(interpret(graph, {"x": x})["y"], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "op, attrs",
    [
        ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
        ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 0, 2, 1], "count_include_pad": 0}),
        ("MaxPool", {"kernel_shape": [2, 3], "dilations": [2, 1], "strides": [1, 2]}),
        ("LpPool", {"kernel_shape": [2, 2], "p": 3}),
    ],
)
def test_pooling_tfjs_lacks_is_strided_slices_with_onnx_numbers(tmp_path: Path, op: str, attrs: dict) -> None:
    from onnx.reference import ReferenceEvaluator

    nodes = [helper.make_node(op, ["x"], ["y"], **attrs)]
    path = save_model(tmp_path / "m.onnx", nodes, [value_info("x", [1, 2, 5, 6])], [value_info("y", None)],
                      opset=19)
    x = randn(1, 2, 5, 6)
    graph = convert_ir(path)
    assert not graph.find("AvgPool") and not graph.find("MaxPool")
    expected = ReferenceEvaluator(str(path)).run(None, {"x": x})[0]
    np.testing.assert_allclose(interpret(graph, {"x": x})["y"], expected, rtol=1e-5, atol=1e-5)


def test_external_data_is_read_lazily(tmp_path: Path) -> None:
    import onnx

    w = randn(3, 4)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]
    path = save_model(
        tmp_path / "m.onnx", nodes, [value_info("x", [2, 3])], [value_info("y", None)], {"w": w}
    )
    model = onnx.load(str(path))
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    graph = load_onnx_graph(path)
    const = [n for n in graph.nodes if n.op == "Const" and n.name == "w"][0]
    from tfjsconv.ir.graph import LazyArray

    assert isinstance(const.attrs["value"], LazyArray)
    np.testing.assert_array_equal(const.attrs["value"].materialize(), w)
    (tmp_path / "weights.bin").unlink()
    from tfjsconv.errors import InputError

    with pytest.raises(InputError, match="weights.bin"):
        load_onnx_graph(path)


def test_conv_1d_runs_as_height_one_2d(tmp_path: Path) -> None:
    x, w = randn(2, 3, 9), randn(4, 3, 3)
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3], pads=[2, 1])]
    out = run_model(tmp_path, nodes, {"x": x}, ["y"], {"w": w})
    want = _conv_reference(x[:, :, None, :], w[:, :, None, :], (0, 2, 0, 1), 1)[:, :, 0, :]
    np.testing.assert_allclose(out["y"], want, rtol=1e-4, atol=1e-4)
