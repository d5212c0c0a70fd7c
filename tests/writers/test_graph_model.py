"""The graph-model writer: model.json form, weights, and real TF.js runs of hand-built IR graphs."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ir.graph_factory import const, op, output, placeholder

from tfjsconv.errors import UnsupportedOpsError
from tfjsconv.ir.graph import Graph
from tfjsconv.ir.interpret import interpret
from tfjsconv.ir.types import DType, FuncAttr, Shape
from tfjsconv.options import ConvertOptions
from tfjsconv.passes.pipeline import optimize
from tfjsconv.version import CONVERTED_BY
from tfjsconv.writers.graph_model import build_graph_model, write_graph_model

F = DType.FLOAT
RNG = np.random.default_rng(7)


def _write(graph: Graph, tmp_path: Path, name: str = "model", **options: Any) -> tuple[Path, dict]:
    out = tmp_path / name
    out.mkdir()
    model = write_graph_model(graph, out, ConvertOptions(**options), generated_by="2.21.0")
    return out, model


def _node(model: dict, name: str) -> dict:
    return next(n for n in model["modelTopology"]["node"] if n["name"] == name)


def _matmul_graph(with_identity: bool = True) -> Graph:
    g = Graph()
    x = placeholder(g, "x", F, [None, 4], key="features")
    w = const(g, RNG.standard_normal((4, 3)).astype(np.float32), "dense/kernel")
    b = const(g, RNG.standard_normal(3).astype(np.float32), "dense/bias")
    m = op(g, "MatMul", [x, w], {"T": F, "transpose_a": False, "transpose_b": False}, name="dense/MatMul")
    ba = op(g, "BiasAdd", [m, b], {"T": F, "data_format": b"NHWC"}, name="dense/BiasAdd")
    r = op(g, "Relu", [ba], {"T": F}, name="dense/Relu")
    if with_identity:
        r = op(g, "Identity", [r], {"T": F}, name="Identity")
    output(g, "scores", r)
    return g


# ----- model.json form ---------------------------------------------------------------------------------


def test_model_json_keys_and_proto3_mapping(tmp_path: Path) -> None:
    g = _matmul_graph()
    g.attrs["producer"] = 1994
    _, model = _write(g, tmp_path)
    assert list(model) == [
        "format",
        "generatedBy",
        "convertedBy",
        "signature",
        "modelTopology",
        "weightsManifest",
    ]
    assert model["format"] == "graph-model" and model["convertedBy"] == CONVERTED_BY
    assert model["generatedBy"] == "2.21.0"
    topo = model["modelTopology"]
    assert list(topo) == ["node", "library", "versions"]
    assert topo["library"] == {} and topo["versions"] == {"producer": 1994}
    kernel = _node(model, "dense/kernel")
    assert kernel == {
        "name": "dense/kernel",
        "op": "Const",
        "attr": {
            "value": {
                "tensor": {"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "4"}, {"size": "3"}]}}
            },
            "dtype": {"type": "DT_FLOAT"},
        },
    }
    bias_add = _node(model, "dense/BiasAdd")
    assert list(bias_add) == ["name", "op", "input", "attr"]
    assert bias_add["input"] == ["dense/MatMul", "dense/bias"]
    assert bias_add["attr"]["data_format"] == {"s": base64.b64encode(b"NHWC").decode()}
    assert _node(model, "dense/MatMul")["attr"]["transpose_a"] == {"b": False}
    assert model["signature"] == {
        "inputs": {
            "features": {
                "name": "x:0",
                "dtype": "DT_FLOAT",
                "tensorShape": {"dim": [{"size": "-1"}, {"size": "4"}]},
            }
        },
        "outputs": {"scores": {"name": "Identity:0", "dtype": "DT_FLOAT"}},
    }
    assert model["weightsManifest"][0]["weights"] == [
        {"name": "dense/kernel", "shape": [4, 3], "dtype": "float32"},
        {"name": "dense/bias", "shape": [3], "dtype": "float32"},
    ]


def test_attr_encodings() -> None:
    g = Graph()
    x = placeholder(g, "x", F, [])
    attrs = {
        "i": 3,
        "f": 0.25,
        "b": True,
        "s": b"SAME",
        "type": DType.INT64,
        "shape": Shape.of((2, None)),
        "ilist": [1, -1],
        "flist": [0.5, 1.0],
        "slist": [b"BiasAdd", b"Relu"],
        "tlist": [F, DType.INT32],
        "empty": [],
        "func": FuncAttr("body"),
        "_private": 1,
        "nan": float("nan"),
        "zero_dim": Shape.of((0,)),
    }
    op(g, "Identity", [x], attrs, name="n")
    output(g, "y", g.node("n").outputs[0])
    model, _ = build_graph_model(g, ConvertOptions())
    attr = _node(model, "n")["attr"]
    assert attr == {
        "i": {"i": "3"},
        "f": {"f": 0.25},
        "b": {"b": True},
        "s": {"s": "U0FNRQ=="},
        "type": {"type": "DT_INT64"},
        "shape": {"shape": {"dim": [{"size": "2"}, {"size": "-1"}]}},
        "ilist": {"list": {"i": ["1", "-1"]}},
        "flist": {"list": {"f": [0.5, 1.0]}},
        "slist": {"list": {"s": ["Qmlhc0FkZA==", "UmVsdQ=="]}},
        "tlist": {"list": {"type": ["DT_FLOAT", "DT_INT32"]}},
        "empty": {"list": {}},
        "func": {"func": {"name": "body"}},
        "nan": {"f": "NaN"},
        "zero_dim": {"shape": {"dim": [{"size": "0"}]}},
    }


def test_op_check_lists_every_unsupported_op_before_writing(tmp_path: Path) -> None:
    g = Graph()
    x = placeholder(g, "x", F, [2])
    a = op(g, "Erfc", [x], {"T": F}, name="erfc")
    b = op(g, "Assert", [x], name="check")
    body = Graph(name="f")
    arg = placeholder(body, "a", F, [2], function_arg=True)
    output(body, "out", op(body, "Digamma", [arg], {"T": F}, name="dg"))
    g.functions["f"] = body
    output(g, "y", a)
    del b
    out = tmp_path / "m"
    out.mkdir()
    with pytest.raises(UnsupportedOpsError) as info:
        write_graph_model(g, out, ConvertOptions())
    assert info.value.ops == {"Assert": ["check"], "Digamma": ["f/dg"], "Erfc": ["erfc"]}
    assert list(out.iterdir()) == []
    write_graph_model(g, out, ConvertOptions(skip_op_check=True))
    assert (out / "model.json").is_file()


# ----- real TF.js ----------------------------------------------------------------------------------------


def test_fused_matmul_runs_in_tfjs(tmp_path: Path, tfjs: Any) -> None:
    g = _matmul_graph()
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    expected = interpret(g, {"features": x})["scores"]
    optimize(g, ConvertOptions(), checks=True)
    # The output Identity is gone: the fused node took its name (the output's tensor name).
    assert g.op_histogram() == {"Const": 2, "Placeholder": 1, "_FusedMatMul": 1}
    out, model = _write(g, tmp_path)
    assert model["signature"]["outputs"]["scores"]["name"] == "Identity:0"
    fused = _node(model, "Identity")
    assert fused["input"] == ["x", "dense/kernel", "dense/bias"]
    assert fused["attr"]["fused_ops"] == {"list": {"s": ["Qmlhc0FkZA==", "UmVsdQ=="]}}
    assert fused["attr"]["num_args"] == {"i": "1"}
    (got,) = tfjs.run(out, "graph", [("features", x)])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert float(np.abs(expected).sum()) > 0


def _conv_graph(depthwise: bool, activation: str, batch_norm: bool = False) -> Graph:
    g = Graph()
    x = placeholder(g, "image", F, [None, 6, 6, 3])
    if depthwise:
        w = const(g, RNG.standard_normal((3, 3, 3, 2)).astype(np.float32), "dw/filter")
        conv_op, channels = "DepthwiseConv2dNative", 6
    else:
        w = const(g, RNG.standard_normal((3, 3, 3, 4)).astype(np.float32), "conv/filter")
        conv_op, channels = "Conv2D", 4
    attrs = {
        "T": F,
        "strides": [1, 2, 2, 1],
        "padding": b"SAME",
        "data_format": b"NHWC",
        "dilations": [1, 1, 1, 1],
    }
    y = op(g, conv_op, [x, w], attrs, name="conv")
    if batch_norm:
        params = [
            const(g, RNG.uniform(0.5, 1.5, channels).astype(np.float32), "bn/gamma"),
            const(g, RNG.standard_normal(channels).astype(np.float32), "bn/beta"),
            const(g, RNG.standard_normal(channels).astype(np.float32), "bn/mean"),
            const(g, RNG.uniform(0.5, 2.0, channels).astype(np.float32), "bn/var"),
        ]
        y = op(
            g,
            "FusedBatchNormV3",
            [y, *params],
            {"T": F, "U": F, "epsilon": 1e-3, "data_format": b"NHWC", "is_training": False},
            name="bn",
            num_outputs=6,
        )
    else:
        b = const(g, RNG.standard_normal(channels).astype(np.float32), "conv/bias")
        y = op(g, "AddV2", [y, b], {"T": F}, name="conv/add")
    y = op(g, activation, [y], {"T": F}, name="act")
    output(g, "features", y)
    return g


@pytest.mark.parametrize(
    ("depthwise", "activation", "batch_norm", "fused_op"),
    [
        (False, "Relu6", False, "_FusedConv2D"),
        (True, "Relu", False, "FusedDepthwiseConv2dNative"),
        (False, "Relu", True, "_FusedConv2D"),
        (True, "Relu6", True, "FusedDepthwiseConv2dNative"),
    ],
)
def test_fused_convolutions_run_in_tfjs(
    tmp_path: Path, tfjs: Any, depthwise: bool, activation: str, batch_norm: bool, fused_op: str
) -> None:
    g = _conv_graph(depthwise, activation, batch_norm)
    x = RNG.standard_normal((2, 6, 6, 3)).astype(np.float32)
    expected = interpret(g, {"image": x})["features"]
    optimize(g, ConvertOptions(), checks=True)
    assert g.op_histogram() == {"Const": 2, "Placeholder": 1, fused_op: 1}
    np.testing.assert_allclose(interpret(g, {"image": x})["features"], expected, rtol=1e-4, atol=1e-4)
    out, model = _write(g, tmp_path)
    fused = _node(model, "act")
    assert fused["op"] == fused_op
    act = base64.b64encode(activation.encode()).decode()
    assert fused["attr"]["fused_ops"] == {"list": {"s": ["Qmlhc0FkZA==", act]}}
    (got,) = tfjs.run(out, "graph", [("image", x)])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert got.shape == (2, 3, 3, 6 if depthwise else 4)


def _while_graph() -> Graph:
    """acc = x; for i in range(n): acc = acc * 2 + c; returns (i, acc) -- StatelessWhile with bodies."""
    i32 = DType.INT32
    cond = Graph(name="loop_cond")
    ci, cacc, cn = (
        placeholder(cond, n, t, [] if t == i32 else [3], function_arg=True)
        for n, t in (("i", i32), ("acc", F), ("n", i32))
    )
    output(cond, "cond", op(cond, "Less", [ci, cn], {"T": i32}, name="less", dtype=DType.BOOL))
    del cacc
    body = Graph(name="loop_body")
    bi, bacc, bn = (
        placeholder(body, n, t, [] if t == i32 else [3], function_arg=True)
        for n, t in (("i", i32), ("acc", F), ("n", i32))
    )
    one = const(body, np.array(1, np.int32), "one")
    two = const(body, np.array(2.0, np.float32), "two")
    c = const(body, np.array([0.5, -1.0, 2.0], np.float32), "c")
    next_i = op(body, "AddV2", [bi, one], {"T": i32}, name="next_i", dtype=i32)
    doubled = op(body, "Mul", [bacc, two], {"T": F}, name="doubled")
    next_acc = op(body, "AddV2", [doubled, c], {"T": F}, name="next_acc")
    for key, v in (("i", next_i), ("acc", next_acc), ("n", bn)):
        output(body, key, v)
    g = Graph()
    x = placeholder(g, "x", F, [3])
    n = placeholder(g, "n", i32, [])
    zero = const(g, np.array(0, np.int32), "zero")
    loop = g.add_node(
        "StatelessWhile",
        [zero, x, n],
        {
            "T": [i32, F, i32],
            "cond": FuncAttr("loop_cond"),
            "body": FuncAttr("loop_body"),
            "output_shapes": [Shape.of(()), Shape.of((3,)), Shape.of(())],
            "parallel_iterations": 10,
        },
        name="while",
        num_outputs=3,
    )
    for out_value, t in zip(loop.outputs, (i32, F, i32)):
        out_value.dtype = t
    g.functions = {"loop_cond": cond, "loop_body": body}
    output(g, "count", loop.outputs[0])
    output(g, "acc", loop.outputs[1])
    return g


def test_stateless_while_with_function_library_runs_in_tfjs(tmp_path: Path, tfjs: Any) -> None:
    g = _while_graph()
    x = np.array([1.0, 2.0, -3.0], np.float32)
    expected = interpret(g, {"x": x, "n": np.array(4, np.int32)})
    acc = x.copy()
    for _ in range(4):
        acc = acc * 2 + np.array([0.5, -1.0, 2.0], np.float32)
    np.testing.assert_allclose(expected["acc"], acc)
    optimize(g, ConvertOptions(), checks=True)
    out, model = _write(g, tmp_path)
    functions = {f["signature"]["name"]: f for f in model["modelTopology"]["library"]["function"]}
    assert set(functions) == {"loop_cond", "loop_body"}
    body = functions["loop_body"]
    assert body["signature"]["inputArg"] == [
        {"name": "i", "type": "DT_INT32"},
        {"name": "acc", "type": "DT_FLOAT"},
        {"name": "n", "type": "DT_INT32"},
    ]
    assert body["ret"] == {"i": "next_i", "acc": "next_acc", "n": "n"}
    body_consts = [n["name"] for n in body["nodeDef"] if n["op"] == "Const"]
    assert body_consts == ["loop_body/one", "loop_body/two", "loop_body/c"]
    names = [w["name"] for w in model["weightsManifest"][0]["weights"]]
    assert names == ["zero", "loop_body/one", "loop_body/two", "loop_body/c"]
    # Two outputs of one node: each signature key gets its own tensor.
    assert model["signature"]["outputs"]["count"]["name"] == "while:0"
    assert model["signature"]["outputs"]["acc"]["name"] == "acc:0"
    got = dict(tfjs.run_named(out, "graph", [("x", x), ("n", np.array(4, np.int32))]))
    np.testing.assert_allclose(got["acc"], expected["acc"], rtol=1e-6)
    assert int(got["count"]) == 4
    got_zero = tfjs.run(out, "graph", [("x", x), ("n", np.array(0, np.int32))], outputs=["acc"])
    np.testing.assert_allclose(got_zero[0], x)


def test_const_weights_round_trip_in_tfjs(tmp_path: Path, tfjs: Any) -> None:
    g = Graph()
    values = {
        "f": np.array([[1.5, -2.25], [3.0, 0.0]], np.float32),
        "i": np.array([7, -8, 2**31 - 1], np.int32),
        "b": np.array([True, False, True, True]),
        "s": np.array([b"hello", "w\u00f6rld".encode(), b""], dtype=object),
        "i64": np.array([[1, -2], [3, 2**31 - 1]], np.int64),
    }
    for key, value in values.items():
        c = const(g, value, f"c_{key}", DType.STRING if key == "s" else None)
        output(g, key, op(g, "Identity", [c], {}, name=f"out_{key}", dtype=c.dtype))
    out, model = _write(g, tmp_path)
    dtypes = {w["name"]: w["dtype"] for w in model["weightsManifest"][0]["weights"]}
    assert dtypes == {"c_f": "float32", "c_i": "int32", "c_b": "bool", "c_s": "string", "c_i64": "int32"}
    assert _node(model, "c_i64")["attr"]["dtype"] == {"type": "DT_INT64"}  # the graph keeps the TF dtype
    got = dict(tfjs.run_named(out, "graph", []))
    np.testing.assert_array_equal(got["f"], values["f"])
    np.testing.assert_array_equal(got["i"], values["i"])
    np.testing.assert_array_equal(got["b"], values["b"])
    assert [bytes(s) if not isinstance(s, str) else s.encode() for s in got["s"].reshape(-1)] == [
        b"hello",
        "w\u00f6rld".encode(),
        b"",
    ]
    np.testing.assert_array_equal(got["i64"], values["i64"].astype(np.int32))
    assert got["i64"].dtype == np.int32


def test_int64_input_and_cast_run_as_int32(tmp_path: Path, tfjs: Any) -> None:
    g = Graph()
    ids = placeholder(g, "ids", DType.INT64, [None])
    offset = const(g, np.array([10], np.int64), "offset")
    shifted = op(g, "AddV2", [ids, offset], {"T": DType.INT64}, name="shifted", dtype=DType.INT64)
    as_float = op(g, "Cast", [shifted], {"SrcT": DType.INT64, "DstT": F, "Truncate": False}, name="as_float")
    output(g, "shifted", shifted)
    output(g, "as_float", as_float)
    out, model = _write(g, tmp_path)
    assert model["signature"]["inputs"]["ids"]["dtype"] == "DT_INT64"  # truthful signature
    assert model["signature"]["outputs"]["shifted"]["dtype"] == "DT_INT64"
    got = dict(tfjs.run_named(out, "graph", [("ids", np.array([1, -5, 7], np.int32))]))
    np.testing.assert_array_equal(got["shifted"], [11, 5, 17])
    np.testing.assert_allclose(got["as_float"], [11.0, 5.0, 17.0])


def test_outputs_sharing_a_node_or_input_keep_their_keys(tmp_path: Path, tfjs: Any) -> None:
    g = Graph()
    x = placeholder(g, "x", F, [4])
    split = g.add_node(
        "Split",
        [const(g, np.array(0, np.int32), "axis"), x],
        {"T": F, "num_split": 2},
        name="split",
        num_outputs=2,
    )
    for v in split.outputs:
        v.dtype = F
    output(g, "first", split.outputs[0])
    output(g, "second", split.outputs[1])
    output(g, "echo", x)
    out, model = _write(g, tmp_path)
    sig = model["signature"]["outputs"]
    assert list(sig) == ["first", "second", "echo"]
    assert sig["first"]["name"] == "split:0"
    assert sig["second"]["name"] == "second:0" and sig["echo"]["name"] == "echo:0"
    x_val = np.array([1, 2, 3, 4], np.float32)
    got = tfjs.run_named(out, "graph", [("x", x_val)])
    assert [name for name, _ in got] == ["first", "second", "echo"]
    np.testing.assert_array_equal(got[0][1], [1, 2])
    np.testing.assert_array_equal(got[1][1], [3, 4])
    np.testing.assert_array_equal(got[2][1], x_val)


def _hash_table_parts() -> tuple[Graph, Graph]:
    init = Graph(name="initializer")
    table = init.add_node(
        "HashTableV2",
        [],
        {
            "container": b"",
            "shared_name": b"table_1",
            "use_node_name_sharing": False,
            "key_dtype": DType.STRING,
            "value_dtype": DType.INT32,
        },
        name="hash_table",
    )
    table.outputs[0].dtype = DType.RESOURCE
    keys = const(init, np.array([b"cat", b"dog", b"bird"], dtype=object), "keys", DType.STRING)
    vals = const(init, np.array([1, 2, 3], np.int32), "values")
    init.add_node(
        "LookupTableImportV2",
        [table.outputs[0], keys, vals],
        {"Tin": DType.STRING, "Tout": DType.INT32},
        name="import",
        num_outputs=0,
    )
    output(init, "table", table.outputs[0])
    g = Graph()
    words = placeholder(g, "words", DType.STRING, [None])
    handle = g.add_node(
        "Placeholder",
        attrs={"dtype": DType.RESOURCE, "shape": Shape.of(()), "_resource_key": "table"},
        name="table_handle",
    )
    handle.outputs[0].dtype = DType.RESOURCE
    g.inputs.append(handle)
    g.input_keys.append("table_handle")
    default = const(g, np.array(-1, np.int32), "default")
    found = op(
        g,
        "LookupTableFindV2",
        [handle.outputs[0], words, default],
        {"Tin": DType.STRING, "Tout": DType.INT32},
        name="lookup",
        dtype=DType.INT32,
    )
    output(g, "ids", found)
    del words
    return g, init


def test_hash_table_initializer_runs_in_tfjs(tmp_path: Path, tfjs: Any) -> None:
    g, init = _hash_table_parts()
    out = tmp_path / "table"
    out.mkdir()
    model = write_graph_model(g, out, ConvertOptions(), initializer=init)
    assert list(model)[-3:] == ["modelInitializer", "initializerSignature", "weightsManifest"]
    assert model["initializerSignature"] == {
        "outputs": {
            "hash_table/initialized:0": {
                "name": "hash_table/initialized:0",
                "dtype": "DT_RESOURCE",
                "tensorShape": {},
                "resourceId": 1,
            }
        }
    }
    ready = _node({"modelTopology": model["modelInitializer"]}, "hash_table/initialized")
    assert ready["input"] == ["hash_table", "^import"]
    assert model["signature"]["inputs"]["table_handle"]["resourceId"] == 1
    names = [w["name"] for w in model["weightsManifest"][0]["weights"]]
    assert names == ["default", "keys", "values"]
    got = tfjs.run(out, "graph", [("words", np.array([b"dog", b"fish", b"cat"], dtype=object))])
    np.testing.assert_array_equal(got[0], [2, -1, 1])


def test_model_json_is_what_was_returned(tmp_path: Path) -> None:
    out, model = _write(_matmul_graph(), tmp_path)
    assert json.loads((out / "model.json").read_text()) == model
    assert sorted(p.name for p in out.iterdir()) == ["group1-shard1of1.bin", "model.json"]
    assert (out / "group1-shard1of1.bin").stat().st_size == (12 + 3) * 4


def test_structured_outputs_are_sorted(tmp_path: Path) -> None:
    g = Graph()
    x = placeholder(g, "x", F, [2])
    output(g, "zeta", op(g, "Neg", [x], {"T": F}, name="neg"))
    output(g, "alpha", op(g, "Abs", [x], {"T": F}, name="abs"))
    model, _ = build_graph_model(g, ConvertOptions(use_structured_outputs_names=True, metadata={"a": 1}))
    assert list(model["signature"]["outputs"]) == ["alpha", "zeta"]
    assert model["userDefinedMetadata"] == {"a": 1, "structuredOutputKeys": ["alpha", "zeta"]}


def test_function_weight_names_never_collide(tmp_path: Path) -> None:
    g = _while_graph()
    const(g, np.array(5, np.int32), "loop_body/one")  # same name as the body's renamed const
    model, weights = build_graph_model(g, ConvertOptions())
    names = [w.name for w in weights]
    assert len(names) == len(set(names))
    library = model["modelTopology"]["library"]["function"]
    body = next(f for f in library if f["signature"]["name"] == "loop_body")
    renamed = next(n["name"] for n in body["nodeDef"] if n["op"] == "Const" and "one" in n["name"])
    assert renamed == "loop_body/one_1"
    assert next(n for n in body["nodeDef"] if n["name"] == "next_i")["input"] == ["i", renamed]


def test_tables_shared_by_name_without_initializer_signature(tmp_path: Path, tfjs: Any) -> None:
    def table(g: Graph) -> Any:
        node = g.add_node(
            "HashTableV2",
            [],
            {
                "container": b"",
                "shared_name": b"",
                "use_node_name_sharing": False,
                "key_dtype": DType.STRING,
                "value_dtype": DType.FLOAT,
            },
            name="table",
        )
        node.outputs[0].dtype = DType.RESOURCE
        return node.outputs[0]

    init = Graph(name="init")
    keys = const(init, np.array([b"a", b"b"], dtype=object), "Const", DType.STRING)  # name clash with main
    init.add_node(
        "LookupTableImportV2",
        [table(init), keys, const(init, np.float32([0.5, 1.5]), "Const_1")],
        {"Tin": DType.STRING, "Tout": DType.FLOAT},
        name="import",
        num_outputs=0,
    )
    g = Graph()
    words = placeholder(g, "words", DType.STRING, [None])
    found = op(
        g,
        "LookupTableFindV2",
        [table(g), words, const(g, np.float32(-1), "Const")],
        {"Tin": DType.STRING, "Tout": DType.FLOAT},
        name="find",
    )
    output(g, "scores", found)
    out = tmp_path / "tf1_table"
    out.mkdir()
    model = write_graph_model(g, out, ConvertOptions(), initializer=init)
    assert "initializerSignature" not in model
    init_nodes = {n["name"]: n for n in model["modelInitializer"]["node"]}
    assert set(init_nodes) == {"table", "Const_2", "Const_1", "import"}
    assert init_nodes["import"]["input"] == ["table", "Const_2", "Const_1"]
    assert [w["name"] for w in model["weightsManifest"][0]["weights"]] == ["Const", "Const_2", "Const_1"]
    got = tfjs.run(out, "graph", [("words", np.array([b"b", b"zzz", b"a"], dtype=object))])
    np.testing.assert_allclose(got[0], [1.5, -1.0, 0.5])


def test_function_returning_two_outputs_of_one_node_runs_in_tfjs(tmp_path: Path, tfjs: Any) -> None:
    def branch(name: str, swap: bool) -> Graph:
        body = Graph(name=name)
        pair = placeholder(body, "pair", F, [2], function_arg=True)
        unpack = body.add_node("Unpack", [pair], {"T": F, "num": 2, "axis": 0}, name="unpack", num_outputs=2)
        for v in unpack.outputs:
            v.dtype = F
        first, second = unpack.outputs[::-1] if swap else unpack.outputs
        output(body, "first", first)
        output(body, "second", second)
        return body

    g = Graph()
    flag = placeholder(g, "flag", DType.BOOL, [])
    pair = placeholder(g, "pair", F, [2])
    cond = g.add_node(
        "StatelessIf",
        [flag, pair],
        {
            "Tcond": DType.BOOL,
            "Tin": [F],
            "Tout": [F, F],
            "then_branch": FuncAttr("keep"),
            "else_branch": FuncAttr("swap"),
            "output_shapes": [Shape.of(()), Shape.of(())],
        },
        name="if",
        num_outputs=2,
    )
    for v in cond.outputs:
        v.dtype = F
    g.functions = {"keep": branch("keep", False), "swap": branch("swap", True)}
    output(g, "a", op(g, "Identity", [cond.outputs[0]], {"T": F}, name="a"))
    output(g, "b", op(g, "Identity", [cond.outputs[1]], {"T": F}, name="b"))
    out, model = _write(g, tmp_path)
    keep = next(f for f in model["modelTopology"]["library"]["function"] if f["signature"]["name"] == "keep")
    assert keep["ret"] == {"first": "unpack", "second": "second"}  # an Identity for the second output
    values = np.float32([3, 4])
    for flag_value, expected in ((True, [3, 4]), (False, [4, 3])):
        got = tfjs.run(out, "graph", [("flag", np.array(flag_value)), ("pair", values)])
        np.testing.assert_array_equal([float(got[0]), float(got[1])], expected)
        assert expected == [
            float(v) for v in interpret(g, {"flag": np.array(flag_value), "pair": values}).values()
        ]


def _strip_resource_ids(obj: Any) -> Any:
    # resourceId is TF.js's addition to TensorInfo, not a proto field.
    if isinstance(obj, dict):
        return {k: _strip_resource_ids(v) for k, v in obj.items() if k != "resourceId"}
    return obj


def test_topology_and_signature_are_valid_proto3_json(tmp_path: Path) -> None:
    from google.protobuf import json_format

    from tfjsconv._proto import graph_pb2, meta_graph_pb2

    cases = [_while_graph(), _matmul_graph(), _conv_graph(True, "Relu6")]
    g, init = _hash_table_parts()
    for graph in cases:
        optimize(graph, ConvertOptions())
    for graph, initializer in [(c, None) for c in cases] + [(g, init)]:
        model, _ = build_graph_model(graph, ConvertOptions(), initializer=initializer, producer=1994)
        topology = dict(model["modelTopology"])
        parsed = json_format.ParseDict(topology, graph_pb2.GraphDef())
        # The real proto classes print back exactly what was written.
        assert json_format.MessageToDict(parsed) == topology
        json_format.ParseDict(_strip_resource_ids(model["signature"]), meta_graph_pb2.SignatureDef())
        if initializer is not None:
            json_format.ParseDict(model["modelInitializer"], graph_pb2.GraphDef())
    while_model, _ = build_graph_model(cases[0], ConvertOptions())
    parsed = json_format.ParseDict(while_model["modelTopology"], graph_pb2.GraphDef())
    assert [f.signature.name for f in parsed.library.function] == ["loop_cond", "loop_body"]
    assert parsed.library.function[1].ret["acc"] == "next_acc"


def test_quantized_and_sharded_weights_load_in_tfjs(tmp_path: Path, tfjs: Any) -> None:
    g = _matmul_graph()
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    expected = interpret(g, {"features": x})["scores"]
    optimize(g, ConvertOptions())
    out, model = _write(g, tmp_path, quantize_float16=("dense/kernel",), weight_shard_size_bytes=16)
    group = model["weightsManifest"][0]
    assert group["paths"] == [f"group1-shard{i}of3.bin" for i in (1, 2, 3)]  # 24 + 12 bytes in 16s
    kernel = next(w for w in group["weights"] if w["name"] == "dense/kernel")
    assert kernel["quantization"] == {"dtype": "float16", "original_dtype": "float32"}
    (got,) = tfjs.run(out, "graph", [("features", x)])
    np.testing.assert_allclose(got, expected, rtol=2e-3, atol=2e-3)


def test_added_identity_never_takes_a_function_argument_name() -> None:
    body = Graph(name="f")
    a = placeholder(body, "second", F, [2], function_arg=True)
    pair = body.add_node("Unpack", [a], {"T": F, "num": 2, "axis": 0}, name="unpack", num_outputs=2)
    output(body, "first", pair.outputs[0])
    output(body, "second", pair.outputs[1])
    g = Graph()
    x = placeholder(g, "x", F, [2])
    call = g.add_node("StatelessIf", [const(g, np.array(True), "c"), x],
                      {"then_branch": FuncAttr("f"), "else_branch": FuncAttr("f")}, name="if", num_outputs=2)
    g.functions["f"] = body
    output(g, "y", call.outputs[0])
    model, _ = build_graph_model(g, ConvertOptions())
    fdef = model["modelTopology"]["library"]["function"][0]
    assert fdef["ret"] == {"first": "unpack", "second": "second_1"}
    assert [n["name"] for n in fdef["nodeDef"]] == ["unpack", "second_1"]
