"""Variable binding and freezing pieces: slice specs, the object-graph walk, resource rewrites."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tfjsconv._proto import saved_object_graph_pb2, trackable_object_graph_pb2
from tfjsconv.errors import UnsupportedError
from tfjsconv.ir.graph import Graph
from tfjsconv.ir.interpret import interpret
from tfjsconv.ir.types import DType, FuncAttr, Shape
from tfjsconv.readers.tf.freeze import (
    ResourceFreezer,
    _checkpoint_keys_by_object_id,
    copy_graph,
    expand_training_batch_norms,
    parse_slice_spec,
    replace_with_const,
)


def test_parse_slice_spec() -> None:
    assert parse_slice_spec("") is None
    full, cuts = parse_slice_spec("4 2 2,2:0,2")  # type: ignore[misc]
    assert full == (4, 2)
    assert cuts == (slice(2, 4), slice(0, 2))
    _, whole = parse_slice_spec("6 4 0,2:-")  # type: ignore[misc]
    assert whole == (slice(0, 2), slice(0, 4))
    _, to_end = parse_slice_spec("6 4 2,-1:-")  # type: ignore[misc]
    assert to_end == (slice(2, 6), slice(0, 4))


@pytest.mark.parametrize("spec", [
    "4 2 2\x00,2:0,2",  # a NUL byte in an extent (found by fuzzing)
    "4 2 2,2",           # one extent for a rank-2 tensor
    "4 2 2,3:0,2",       # runs past the end: numpy would clip it to 2 rows
    "4 2 5,0:-",         # starts past the end
    "4 x 0,2:-",         # a full shape that is not a number
    "4 2 0,-2:-",        # a negative length other than -1
])
def test_parse_slice_spec_refuses_what_tensorflow_refuses(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_slice_spec(spec)


def test_object_graph_walk_matches_local_names_not_ids() -> None:
    saved = saved_object_graph_pb2.SavedObjectGraph()
    root = saved.nodes.add()
    root.children.add(node_id=1, local_name="layer")
    root.children.add(node_id=2, local_name="only_in_saved_model")
    layer = saved.nodes.add()
    layer.children.add(node_id=3, local_name="kernel")
    saved.nodes.add()
    saved.nodes.add().variable.dtype = int(DType.FLOAT)
    # The checkpoint numbers its nodes differently: the walk must follow names.
    ckpt = trackable_object_graph_pb2.TrackableObjectGraph()
    ck_root = ckpt.nodes.add()
    ck_root.children.add(node_id=2, local_name="layer")
    ckpt.nodes.add()
    ck_layer = ckpt.nodes.add()
    ck_layer.children.add(node_id=1, local_name="kernel")
    key = "layer/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    ckpt.nodes[1].attributes.add(name="VARIABLE_VALUE", checkpoint_key=key)
    assert _checkpoint_keys_by_object_id(saved, ckpt) == {3: "layer/kernel/.ATTRIBUTES/VARIABLE_VALUE"}


def _body_reading_arg(name: str) -> Graph:
    """A While body: loop vars (i, acc, var); acc += read(var); i += 1."""
    body = Graph(name=name)
    i = body.add_node("Placeholder", attrs={"dtype": DType.INT32}, name="i")
    acc = body.add_node("Placeholder", attrs={"dtype": DType.FLOAT}, name="acc")
    var = body.add_node("Placeholder", attrs={"dtype": DType.RESOURCE}, name="var")
    read = body.add_node("ReadVariableOp", [var.output(0)], {"dtype": DType.FLOAT}, name="read")
    add = body.add_node("AddV2", [acc.output(0), read.output(0)], {"T": DType.FLOAT}, name="add")
    one = body.add_const(np.array(1, dtype=np.int32), name="one")
    inc = body.add_node("AddV2", [i.output(0), one.output(0)], {"T": DType.INT32}, name="inc")
    body.inputs = [i, acc, var]
    body.outputs = [("i_out", inc.output(0)), ("acc_out", add.output(0)), ("var_out", var.output(0))]
    return body


def _cond(name: str) -> Graph:
    cond = Graph(name=name)
    i = cond.add_node("Placeholder", attrs={"dtype": DType.INT32}, name="i")
    acc = cond.add_node("Placeholder", attrs={"dtype": DType.FLOAT}, name="acc")
    var = cond.add_node("Placeholder", attrs={"dtype": DType.RESOURCE}, name="var")
    limit = cond.add_const(np.array(3, dtype=np.int32), name="limit")
    less = cond.add_node("Less", [i.output(0), limit.output(0)], {"T": DType.INT32}, name="less")
    cond.inputs = [i, acc, var]
    cond.outputs = [("out", less.output(0))]
    del acc, var
    return cond


def test_while_receiving_a_variable_gets_a_value_typed_body_copy() -> None:
    main = Graph(name="main")
    main.functions["body"] = _body_reading_arg("body")
    main.functions["cond"] = _cond("cond")
    x = main.add_node("Placeholder", attrs={"dtype": DType.FLOAT, "shape": Shape.of((2,))}, name="x")
    var = main.add_node("VarHandleOp", attrs={"dtype": DType.FLOAT}, name="v")
    zero = main.add_const(np.array(0, dtype=np.int32), name="zero")
    loop = main.add_node("While", [zero.output(0), x.output(0), var.output(0)],
                         {"T": [DType.INT32, DType.FLOAT, DType.RESOURCE], "cond": FuncAttr("cond"),
                          "body": FuncAttr("body")}, name="loop", num_outputs=3)
    main.inputs, main.input_keys = [x], ["x"]
    main.outputs = [("y", loop.output(1))]
    value = np.array([0.5, -1.0], dtype=np.float32)
    const = replace_with_const(main, var, value, DType.FLOAT)
    ResourceFreezer(main).freeze(main, const.output(0), const.output(0), DType.FLOAT, Shape.of((2,)))
    assert loop.attrs["T"] == [DType.INT32, DType.FLOAT, DType.FLOAT]
    assert loop.attrs["body"].name == "body_frozen" and loop.attrs["cond"].name == "cond_frozen"
    frozen = main.functions["body_frozen"]
    assert "ReadVariableOp" not in {n.op for n in frozen.nodes}
    assert frozen.inputs[2].attrs["dtype"] == DType.FLOAT
    # The original (resource-typed) bodies are untouched copies' sources.
    assert main.functions["body"].inputs[2].attrs["dtype"] == DType.RESOURCE
    result = interpret(main, {"x": np.array([1.0, 2.0], dtype=np.float32)})
    np.testing.assert_allclose(result["y"], [2.5, -1.0])


def test_resource_ops_tfjs_cannot_freeze_are_reported() -> None:
    main = Graph(name="main")
    var = main.add_node("VarHandleOp", attrs={"dtype": DType.FLOAT}, name="v")
    odd = main.add_node("ResourceScatterAdd", [var.output(0)], name="scatter")
    main.outputs = [("o", odd.output(0))]
    const = replace_with_const(main, var, np.zeros(2, np.float32), DType.FLOAT)
    with pytest.raises(UnsupportedError, match="ResourceScatterAdd"):
        ResourceFreezer(main).freeze(main, const.output(0), const.output(0), DType.FLOAT, None)


def test_copy_graph_is_deep() -> None:
    body = _body_reading_arg("b")
    copy = copy_graph(body, "c")
    copy.node("add").attrs["T"] = DType.HALF
    assert body.node("add").attrs["T"] == DType.FLOAT
    assert [k for k, _ in copy.outputs] == ["i_out", "acc_out", "var_out"]
    assert copy.outputs[2][1].producer is copy.inputs[2]


def test_shape_initialized_gather_nd_and_if_are_rewritten() -> None:
    main = Graph(name="main")
    branch = Graph(name="then")
    arg = branch.add_node("Placeholder", attrs={"dtype": DType.RESOURCE}, name="res")
    read = branch.add_node("ReadVariableOp", [arg.output(0)], {"dtype": DType.FLOAT}, name="read")
    neg = branch.add_node("Neg", [read.output(0)], {"T": DType.FLOAT}, name="neg")
    branch.inputs, branch.outputs = [arg], [("out", neg.output(0))]
    main.functions["then"] = branch
    var = main.add_node("VarHandleOp", attrs={"dtype": DType.FLOAT}, name="v")
    idx = main.add_node("Placeholder", attrs={"dtype": DType.INT32}, name="idx")
    flag = main.add_node("Placeholder", attrs={"dtype": DType.BOOL}, name="flag")
    shape = main.add_node("VariableShape", [var.output(0)], {"out_type": DType.INT32}, name="shape")
    init = main.add_node("VarIsInitializedOp", [var.output(0)], name="init")
    gnd = main.add_node("ResourceGatherNd", [var.output(0), idx.output(0)],
                        {"dtype": DType.FLOAT, "Tindices": DType.INT32}, name="gnd")
    cond = main.add_node("If", [flag.output(0), var.output(0)],
                         {"Tin": [DType.RESOURCE], "Tout": [DType.FLOAT], "then_branch": FuncAttr("then"),
                          "else_branch": FuncAttr("then")}, name="cond")
    assign = main.add_node("AssignVariableOp", [var.output(0), gnd.output(0)], name="assign", num_outputs=0)
    main.inputs, main.input_keys = [idx, flag], ["idx", "flag"]
    main.outputs = [("shape", shape.output(0)), ("init", init.output(0)), ("gnd", gnd.output(0)),
                    ("cond", cond.output(0))]
    value = np.arange(6, dtype=np.float32).reshape(2, 3)
    const = replace_with_const(main, var, value, DType.FLOAT)
    ResourceFreezer(main).freeze(main, const.output(0), const.output(0), DType.FLOAT, Shape.of((2, 3)))
    ops = main.op_histogram()
    assert not {"VariableShape", "VarIsInitializedOp", "ResourceGatherNd", "AssignVariableOp"} & set(ops)
    assert assign not in main.nodes
    assert cond.attrs["Tin"] == [DType.FLOAT] and cond.attrs["then_branch"].name == "then_frozen"
    gather = dict(main.outputs)["gnd"].producer
    assert gather.op == "GatherNd" and gather.inputs[0].producer is const and gather.inputs[1].producer is idx
    assert gather.attrs["Tparams"] == DType.FLOAT
    main.outputs = [(k, v) for k, v in main.outputs if k != "gnd"]  # the oracle has no GatherNd kernel
    result = interpret(main, {"idx": np.array([[1, 2]], dtype=np.int32), "flag": np.array(True)})
    assert result["shape"].tolist() == [2, 3] and bool(result["init"]) is True
    np.testing.assert_array_equal(result["cond"], -value)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_training_mode_batch_norm_is_spelled_out(layout: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    channels = 5 if layout == "NHWC" else 3
    scale = rng.normal(size=channels).astype(np.float32)
    offset = rng.normal(size=channels).astype(np.float32)
    graph = Graph(name="main")
    inp = graph.add_node("Placeholder", attrs={"dtype": DType.FLOAT}, name="x")
    consts = [graph.add_const(a, name=n).output(0) for a, n in
              ((scale, "scale"), (offset, "offset"), (np.zeros(0, np.float32), "mean"),
               (np.zeros(0, np.float32), "var"))]
    bn = graph.add_node("FusedBatchNormV3", [inp.output(0), *consts],
                        {"T": DType.FLOAT, "U": DType.FLOAT, "epsilon": 0.001, "is_training": True,
                         "data_format": layout.encode()}, name="bn", num_outputs=6)
    graph.inputs, graph.input_keys = [inp], ["x"]
    graph.outputs = [("y", bn.output(0))]
    assert expand_training_batch_norms(graph) == 1
    assert "FusedBatchNormV3" not in graph.op_histogram()
    axes = (0, 1, 2) if layout == "NHWC" else (0, 2, 3)
    shape = (-1,) if layout == "NHWC" else (-1, 1, 1)
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    want = (x - mean) / np.sqrt(var + 0.001) * scale.reshape(shape) + offset.reshape(shape)
    np.testing.assert_allclose(interpret(graph, {"x": x})["y"], want, rtol=1e-5, atol=1e-5)


def test_inference_batch_norm_is_left_alone() -> None:
    graph = Graph(name="main")
    inp = graph.add_node("Placeholder", attrs={"dtype": DType.FLOAT}, name="x")
    consts = [graph.add_const(np.ones(2, np.float32), name=f"c{i}").output(0) for i in range(4)]
    bn = graph.add_node("FusedBatchNormV3", [inp.output(0), *consts], {"is_training": False}, name="bn")
    graph.outputs = [("y", bn.output(0))]
    assert expand_training_batch_norms(graph) == 0


def test_thousands_of_variables_freeze_in_linear_time(tmp_path: Path) -> None:
    """Regression: freezing used to rescan the whole graph per variable (17 s for 2200 variables)."""
    import time

    from test_tf_bundle import write_bundle

    from tfjsconv.readers.tf.bundle import TensorBundle
    from tfjsconv.readers.tf.freeze import freeze_variables

    count = 4000
    arrays = {f"v{i}/.ATTRIBUTES/VARIABLE_VALUE": np.full(2, i, np.float32) for i in range(count)}
    write_bundle(tmp_path / "variables", arrays)
    g = Graph()
    x = g.add_node("Placeholder", attrs={"dtype": DType.FLOAT}, name="x").output(0)
    g.inputs.append(x.producer)
    g.input_keys.append("x")
    bindings = {}
    terms = []
    for i in range(count):
        handle = g.add_node("VarHandleOp", attrs={"dtype": DType.FLOAT, "shape": Shape.of((2,))},
                            name=f"h{i}")
        read = g.add_node("ReadVariableOp", [handle.output(0)], {"dtype": DType.FLOAT}, name=f"read{i}")
        terms.append(g.add_node("Mul", [x, read.output(0)], {"T": DType.FLOAT}, name=f"mul{i}").output(0))
        bindings[f"h{i}"] = (f"v{i}/.ATTRIBUTES/VARIABLE_VALUE", "")
    total = g.add_node("AddN", terms, {"T": DType.FLOAT, "N": count}, name="sum").output(0)
    g.outputs.append(("y", total))
    bundle = TensorBundle.open(tmp_path / "variables")
    start = time.perf_counter()
    assert freeze_variables(g, bindings, bundle) == count
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"freezing {count} variables took {elapsed:.1f} s"
    assert "VarHandleOp" not in g.op_histogram() and "ReadVariableOp" not in g.op_histogram()
    assert g.op_histogram()["Const"] == count
    y = interpret(g, {"x": np.array([1.0, 2.0], np.float32)})["y"]
    np.testing.assert_allclose(y, np.array([1.0, 2.0]) * sum(range(count)))
