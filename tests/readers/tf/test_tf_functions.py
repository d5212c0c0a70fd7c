"""Function inlining and op output tables, on hand-built FunctionDefs and GraphDefs."""

from __future__ import annotations

import numpy as np
import pytest

from tfjsconv._proto import function_pb2, graph_pb2, node_def_pb2, op_def_pb2
from tfjsconv.errors import InputError
from tfjsconv.ir.interpret import interpret
from tfjsconv.ir.types import DType
from tfjsconv.readers.tf.functions import FunctionLibrary
from tfjsconv.readers.tf.opdefs import OpDefs
from tfjsconv.readers.tf.proto_convert import graph_from_node_defs

FLOAT = int(DType.FLOAT)


def _function(name: str, inputs: list[str], outputs: list[str]) -> function_pb2.FunctionDef:
    fdef = function_pb2.FunctionDef()
    fdef.signature.name = name
    for arg in inputs:
        fdef.signature.input_arg.add(name=arg, type=FLOAT)
    for arg in outputs:
        fdef.signature.output_arg.add(name=arg, type=FLOAT)
    return fdef


def _library() -> list[function_pb2.FunctionDef]:
    inner = _function("inner", ["a", "b"], ["out"])
    unpack = inner.node_def.add(name="u", op="Unpack", input=["a"])
    unpack.attr["num"].i = 2
    unpack.attr["T"].type = FLOAT
    add = inner.node_def.add(name="s", op="AddV2", input=["u:output:1", "b"])
    add.attr["T"].type = FLOAT
    inner.ret["out"] = "s:z:0"

    outer = _function("outer", ["x", "y"], ["r", "passthrough"])
    call = outer.node_def.add(name="call", op="PartitionedCall", input=["x", "y"])
    call.attr["f"].func.name = "inner"
    call.attr["Tin"].list.type.extend([FLOAT, FLOAT])
    call.attr["Tout"].list.type.extend([FLOAT])
    outer.node_def.add(name="noop", op="NoOp")
    ident = outer.node_def.add(name="id", op="Identity", input=["call:output:0", "^noop"])
    ident.attr["T"].type = FLOAT
    outer.ret["r"] = "id:output:0"
    outer.ret["passthrough"] = "y"
    return [inner, outer]


def _graph() -> graph_pb2.GraphDef:
    gd = graph_pb2.GraphDef()
    for name in ("p", "q"):
        gd.node.add(name=name, op="Placeholder").attr["dtype"].type = FLOAT
    call = gd.node.add(name="C", op="StatefulPartitionedCall", input=["p", "q"])
    call.attr["f"].func.name = "outer"
    call.attr["Tout"].list.type.extend([FLOAT, FLOAT])
    gd.node.add(name="out", op="Identity", input=["C:0"]).attr["T"].type = FLOAT
    gd.node.add(name="out2", op="Identity", input=["C:1"]).attr["T"].type = FLOAT
    return gd


def test_nested_calls_are_inlined_with_flat_names() -> None:
    lib = _library()
    library = FunctionLibrary(lib, OpDefs((), lib))
    aliases: dict[str, str] = {}
    nodes = library.inline_graph(list(_graph().node), aliases=aliases)
    by_name = {nd.name: nd for nd in nodes}
    assert "C" not in by_name and "C/call" not in by_name
    assert list(by_name["C/call/s"].input) == ["C/call/u:1", "q"]
    assert list(by_name["C/id"].input) == ["C/call/s:0"]  # control edge to the NoOp dropped
    assert list(by_name["out"].input) == ["C/id:0"]
    assert list(by_name["out2"].input) == ["q"]  # a ret that names an input arg passes it through
    assert aliases == {"C:0": "C/id:0", "C:1": "q"}


def test_inlined_graph_computes_the_function() -> None:
    lib = _library()
    opdefs = OpDefs((), lib)
    graph = graph_from_node_defs(FunctionLibrary(lib, opdefs).inline_graph(list(_graph().node)), opdefs)
    graph.inputs = [graph.node("p"), graph.node("q")]
    graph.outputs = [("out", graph.node("out").output(0))]
    p = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    q = np.array([10.0, 20.0], dtype=np.float32)
    result = interpret(graph, {"p": p, "q": q})
    np.testing.assert_array_equal(result["out"], [13.0, 24.0])


def test_placeholder_attrs_take_the_callers_values() -> None:
    templ = function_pb2.FunctionDef()
    templ.signature.name = "templ"
    templ.signature.input_arg.add(name="v", type_attr="T")
    templ.signature.output_arg.add(name="w", type_attr="T")
    templ.signature.attr.add(name="T", type="type")
    node = templ.node_def.add(name="i", op="Identity", input=["v"])
    node.attr["T"].placeholder = "T"
    templ.ret["w"] = "i:output:0"
    gd = graph_pb2.GraphDef()
    gd.node.add(name="x", op="Placeholder").attr["dtype"].type = int(DType.INT32)
    call = gd.node.add(name="c", op="templ", input=["x"])
    call.attr["T"].type = int(DType.INT32)
    nodes = FunctionLibrary([templ], OpDefs((), [templ])).inline_graph(list(gd.node))
    inlined = {nd.name: nd for nd in nodes}["c/i"]
    assert inlined.attr["T"].type == int(DType.INT32)


def test_unknown_function_and_unknown_op_output() -> None:
    gd = graph_pb2.GraphDef()
    call = gd.node.add(name="c", op="PartitionedCall")
    call.attr["f"].func.name = "missing"
    with pytest.raises(InputError, match="'missing'"):
        FunctionLibrary([], OpDefs()).inline_graph(list(gd.node))
    fdef = _function("f", ["a"], ["b"])
    fdef.node_def.add(name="n", op="MysteryOp", input=["a"])
    fdef.ret["b"] = "n:result:0"
    gd2 = graph_pb2.GraphDef()
    gd2.node.add(name="a", op="Placeholder")
    gd2.node.add(name="c", op="f", input=["a"])
    # A custom op: resolved as single-output so that the TF.js op check can list it with the others.
    nodes = FunctionLibrary([fdef], OpDefs((), [fdef])).inline_graph(list(gd2.node))
    assert [(n.name, n.op, list(n.input)) for n in nodes] == [("a", "Placeholder", []),
                                                              ("c/n", "MysteryOp", ["a"])]
    fdef.ret["b"] = "n:nonsense:0"
    fdef.node_def[0].op = "Relu"
    with pytest.raises(InputError, match="op Relu .node n. has no output 'nonsense'"):
        FunctionLibrary([fdef], OpDefs((), [fdef])).inline_graph(list(gd2.node))


def test_opdefs_flat_indices_and_defaults() -> None:
    matmul = op_def_pb2.OpDef(name="MatMul")
    matmul.output_arg.add(name="product", type_attr="T")
    matmul.attr.add(name="transpose_a", type="bool").default_value.b = False
    matmul.attr.add(name="T", type="type")
    split = op_def_pb2.OpDef(name="MySplit")
    split.output_arg.add(name="head", type=FLOAT)
    split.output_arg.add(name="parts", type_attr="T", number_attr="n")
    split.output_arg.add(name="extra", type_list_attr="Textra")
    split.output_arg.add(name="tail", type=int(DType.INT32))
    opdefs = OpDefs([matmul, split])
    attrs = {"n": 3, "T": DType.HALF, "Textra": [DType.BOOL, DType.STRING]}
    assert opdefs.flat_index("MySplit", attrs, "parts", 2) == 3
    assert opdefs.flat_index("MySplit", attrs, "extra", 1) == 5
    assert opdefs.flat_index("MySplit", attrs, "tail", 0) == 6
    assert opdefs.output_dtypes("MySplit", attrs) == [DType.FLOAT, DType.HALF, DType.HALF, DType.HALF,
                                                      DType.BOOL, DType.STRING, DType.INT32]
    filled = {"T": DType.FLOAT}
    opdefs.fill_defaults("MatMul", filled)
    assert filled == {"T": DType.FLOAT, "transpose_a": False}
    # Built-in table for graphs without op lists.
    assert OpDefs().flat_index("TopKV2", {}, "indices", 0) == 1
    assert OpDefs().flat_index("FusedBatchNormV3", {}, "reserve_space_3", 0) == 5
    assert OpDefs().flat_index("NoSuchOp", {}, "x", 0) is None


def test_node_def_type_is_the_generated_one() -> None:
    # function_node_defs builds Placeholders for the args of a kept (If/While) body.
    lib = _library()
    defs, args, rets = FunctionLibrary(lib, OpDefs((), lib)).function_node_defs("inner", node_def_pb2.NodeDef)
    assert args == ["a", "b"]
    assert [d.op for d in defs[:2]] == ["Placeholder", "Placeholder"]
    assert rets == ["s:0"]
