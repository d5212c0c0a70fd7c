"""legalize_fused_ops: which fused epilogues TF.js 4.22 runs on every backend (read from the
backends' own sources), and illegal fused nodes split back into ops that run everywhere."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ir.graph_factory import const, op, output, placeholder
from passes.equivalence import check_pass, ops_of, random_feeds

from tfjsconv.ir.graph import Graph
from tfjsconv.ir.interpret import interpret
from tfjsconv.ir.types import DType
from tfjsconv.options import ConvertOptions
from tfjsconv.passes.base import PassContext
from tfjsconv.passes.legalize_fused_ops import LEGAL_ACTIVATIONS, LegalizeFusedOps
from tfjsconv.passes.pipeline import optimize
from tfjsconv.writers.graph_model import write_graph_model

F = DType.FLOAT
TFJS = Path(__file__).resolve().parents[1] / "js" / "node_modules" / "@tensorflow"
RNG = np.random.default_rng(3)


def _source(package: str, path: str) -> str:
    return (TFJS / package / "dist" / path).read_text(encoding="utf-8")


def backend_activations() -> dict[str, set[str]]:
    """The activation names each backend's fused kernels accept, from the shipped JavaScript."""
    cpu = set(re.findall(r"activation === '(\w+)'", _source("tfjs-backend-cpu", "utils/fused_utils.js")))
    webgl_src = _source("tfjs-backend-webgl", "kernel_utils/kernel_funcs_utils.js")
    webgl_fn = webgl_src[webgl_src.index("function mapActivationToShaderProgram"):]
    webgl = set(re.findall(r"activation === '(\w+)'", webgl_fn.split("\n}\n")[0]))
    wasm = set(re.findall(r'FusableActivation\["(\w+)"\]', _source("tfjs-backend-wasm", "kernels/types.js")))
    return {"cpu": cpu, "webgl": webgl, "wasm": wasm}


def test_legal_activations_run_on_every_backend() -> None:
    found = backend_activations()
    assert all(found.values()), found  # the sources were parsed
    for op_name, activations in LEGAL_ACTIVATIONS.items():
        for backend, names in found.items():
            missing = {a for a in activations if a.lower() not in names}
            assert not missing, f"{op_name}: {missing} not fused by the {backend} backend"
    assert not any("tanh" in names for names in found.values())  # why a fused Tanh is split


def test_wasm_requires_rank_one_bias() -> None:
    for kernel in ("FusedConv2D", "FusedDepthwiseConv2D", "_FusedMatMul"):
        assert "only supports rank-1 bias" in _source("tfjs-backend-wasm", f"kernels/{kernel}.js"), kernel


CONV = {"T": F, "strides": [1, 1, 1, 1], "padding": b"SAME", "data_format": b"NHWC",
        "dilations": [1, 1, 1, 1]}


def _fused(g: Graph, op_type: str, fused_ops: list[str], args: list[Any], **extra: Any) -> None:
    rng = np.random.default_rng(7)  # the same weights each time the graph is built
    if op_type == "_FusedMatMul":
        x = placeholder(g, "x", F, [None, 4])
        w = const(g, rng.standard_normal((4, 3)).astype(np.float32), "w")
        attrs: dict[str, Any] = {"T": F, "transpose_a": False, "transpose_b": False}
    else:
        x = placeholder(g, "x", F, [None, 5, 5, 3])
        shape = (3, 3, 3, 3 if op_type == "_FusedConv2D" else 1)
        w = const(g, rng.standard_normal(shape).astype(np.float32), "w")
        attrs = dict(CONV)
    attrs.update({"fused_ops": [o.encode() for o in fused_ops], "num_args": len(args), "epsilon": 1e-3,
                  "leakyrelu_alpha": 0.2, **extra})
    inputs = [x, w] + [const(g, np.asarray(a, np.float32), f"arg{i}") for i, a in enumerate(args)]
    output(g, "y", op(g, op_type, inputs, attrs, name="fused"))


BIAS = np.linspace(-0.5, 0.5, 3).astype(np.float32)


@pytest.mark.parametrize("op_type, fused_ops, args, ops", [
    ("_FusedMatMul", ["BiasAdd", "Tanh"], [BIAS], {"MatMul": 1, "BiasAdd": 1, "Tanh": 1}),
    ("_FusedConv2D", ["BiasAdd", "Relu"], [BIAS.reshape(1, 1, 1, 3)], {"Conv2D": 1, "AddV2": 1, "Relu": 1}),
    ("FusedDepthwiseConv2dNative", ["BiasAdd", "LeakyRelu"], [BIAS],
     {"DepthwiseConv2dNative": 1, "BiasAdd": 1, "LeakyRelu": 1}),
])
def test_illegal_fused_node_is_split(op_type: str, fused_ops: list[str], args: list, ops: dict) -> None:
    g = check_pass(lambda g: _fused(g, op_type, fused_ops, args), LegalizeFusedOps(), ops)
    assert dict(g.outputs)["y"].producer.name == "fused"


@pytest.mark.parametrize("op_type, fused_ops, args", [
    ("_FusedMatMul", ["BiasAdd", "Relu6"], [BIAS]),
    ("_FusedConv2D", ["BiasAdd", "Prelu"], [BIAS, np.full(3, 0.1)]),
    ("FusedDepthwiseConv2dNative", ["BiasAdd", "Elu"], [BIAS]),
])
def test_legal_fused_node_stays(op_type: str, fused_ops: list[str], args: list) -> None:
    check_pass(lambda g: _fused(g, op_type, fused_ops, args), LegalizeFusedOps(), {op_type: 1}, changed=False)


def _gelu(x: np.ndarray, exact: bool) -> np.ndarray:
    if exact:
        return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


@pytest.mark.parametrize("epilogue", ["GeluExact", "GeluApproximate", "FusedBatchNorm"])
def test_grappler_epilogues_spelled_out(epilogue: str) -> None:
    """Epilogues TF's remapper writes that TF.js has no fused form for (no interpreter kernel either:
    checked against numpy)."""
    g = Graph()
    if epilogue == "FusedBatchNorm":
        params = [np.full(3, 1.5), BIAS, np.full(3, 0.25), np.full(3, 4.0)]  # scale, offset, mean, variance
        _fused(g, "_FusedConv2D", ["FusedBatchNorm", "Relu"], params)
    else:
        _fused(g, "_FusedMatMul", ["BiasAdd", epilogue], [BIAS])
    feeds = random_feeds(g)
    node = g.node("fused")
    w = node.inputs[1].producer.attrs["value"]
    assert LegalizeFusedOps().run(g, PassContext())
    if epilogue == "FusedBatchNorm":
        assert ops_of(g) == {"Conv2D": 1, "FusedBatchNormV3": 1, "Relu": 1}
        conv = interpret(g, feeds)  # the plain Conv2D and batch norm have kernels
        conv_only = g.find("Conv2D")[0].outputs[0]
        g.outputs.append(("conv", conv_only))
        raw = interpret(g, feeds)["conv"]
        want = np.maximum((raw - 0.25) * 1.5 / np.sqrt(4.0 + 1e-3) + BIAS, 0)
        np.testing.assert_allclose(conv["y"], want, rtol=1e-5, atol=1e-5)
    else:
        assert "_FusedMatMul" not in ops_of(g) and ops_of(g)["MatMul"] == 1
        want = _gelu(feeds["x"] @ w + BIAS, exact=epilogue == "GeluExact")
        np.testing.assert_allclose(interpret(g, feeds)["y"], want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", ["cpu", "wasm"])
def test_official_tanh_fusion_runs_after_legalizing(tmp_path: Path, tfjs: Any, backend: str) -> None:
    """The official converter writes _FusedMatMul [BiasAdd, Tanh] (tf_hub_module): TF.js refuses it
    on every backend; after the pipeline it runs and matches."""
    g = Graph()
    _fused(g, "_FusedMatMul", ["BiasAdd", "Tanh"], [BIAS])
    feed = RNG.standard_normal((2, 4)).astype(np.float32)
    want = interpret(g, {"x": feed})["y"]
    optimize(g, ConvertOptions(), checks=True)
    assert ops_of(g) == {"_FusedMatMul": 1, "Tanh": 1}  # the bias re-fuses, the Tanh stays apart
    out = tmp_path / "model"
    out.mkdir()
    write_graph_model(g, out, ConvertOptions())
    (got,) = tfjs.run(out, "graph", [("x", feed)], backend=backend)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", ["cpu", "wasm"])
def test_batched_fused_matmul_is_split(tmp_path: Path, tfjs: Any, backend: str) -> None:
    """TF.js 4.22's wasm _FusedMatMul returns wrong numbers for rank-3 operands (no error):
    split, the BatchMatMulV2 + bias + Relu it stands for runs right everywhere."""
    g = Graph()
    x = placeholder(g, "x", F, [None, 3, 4])
    w = const(g, RNG.standard_normal((4, 3)).astype(np.float32), "w")
    attrs = {"T": F, "transpose_a": False, "transpose_b": False, "fused_ops": [b"BiasAdd", b"Relu"],
             "num_args": 1, "epsilon": 0.0, "leakyrelu_alpha": 0.2}
    output(g, "y", op(g, "_FusedMatMul", [x, w, const(g, BIAS, "b")], attrs, name="fused"))
    feed = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    want = interpret(g, {"x": feed})["y"]
    assert LegalizeFusedOps().run(g, PassContext())
    assert ops_of(g) == {"BatchMatMulV2": 1, "BiasAdd": 1, "Relu": 1}
    out = tmp_path / "model"
    out.mkdir()
    write_graph_model(g, out, ConvertOptions())
    (got,) = tfjs.run(out, "graph", [("x", feed)], backend=backend)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
