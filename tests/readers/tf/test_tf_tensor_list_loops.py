"""TensorList writes inside functional While loops, run in real TF.js (see keep_tensor_list_writes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tfjsconv.ir.graph import Graph
from tfjsconv.ir.types import DType, FuncAttr, Shape
from tfjsconv.options import ConvertOptions
from tfjsconv.readers.tf.functions import keep_tensor_list_writes
from tfjsconv.writers.graph_model import write_graph_model

F, INT, V = DType.FLOAT, DType.INT32, DType.VARIANT


def _args(graph: Graph, specs: list[tuple[str, DType]]) -> list[Any]:
    nodes = [graph.add_node("Placeholder", attrs={"dtype": d}, name=n) for n, d in specs]
    graph.inputs = nodes
    return [n.output(0) for n in nodes]


def _loop_model() -> Graph:
    """sums[k] = sum(x * 2**(k+1)) for k < n, written into a TensorList inside the loop body."""
    body = Graph(name="body")
    i, acc, lst, n = _args(body, [("i", INT), ("acc", F), ("lst", V), ("n", INT)])
    two = body.add_const(np.array(2.0, np.float32), name="two")
    doubled = body.add_node("Mul", [acc, two.output(0)], {"T": F}, name="doubled").output(0)
    axis = body.add_const(np.array(0, np.int32), name="axis")
    total = body.add_node("Sum", [doubled, axis.output(0)], {"T": F, "Tidx": INT}, name="total").output(0)
    written = body.add_node("TensorListSetItem", [lst, i, total], {"element_dtype": F}, name="write")
    one = body.add_const(np.array(1, np.int32), name="one")
    step = body.add_node("AddV2", [i, one.output(0)], {"T": INT}, name="step").output(0)
    body.outputs = [("i_out", step), ("acc_out", doubled), ("lst_out", written.output(0)), ("n_out", n)]
    for _, value in body.outputs:
        value.dtype = value.dtype or value.producer.attrs.get("T", V)

    cond = Graph(name="cond")
    ci, _, _, cn = _args(cond, [("i", INT), ("acc", F), ("lst", V), ("n", INT)])
    less = cond.add_node("Less", [ci, cn], {"T": INT}, name="less").output(0)
    less.dtype = DType.BOOL
    cond.outputs = [("keep_going", less)]

    main = Graph(name="main", functions={"body": body, "cond": cond})
    x = main.add_node("Placeholder", attrs={"dtype": F, "shape": Shape.of((2,))}, name="x")
    n_in = main.add_node("Placeholder", attrs={"dtype": INT, "shape": Shape.of(())}, name="n")
    unknown = main.add_const(np.array(-1, np.int32), name="element_shape")
    reserve = main.add_node("TensorListReserve", [unknown.output(0), n_in.output(0)],
                            {"element_dtype": F, "shape_type": INT}, name="reserve")
    zero = main.add_const(np.array(0, np.int32), name="zero")
    loop = main.add_node("While", [zero.output(0), x.output(0), reserve.output(0), n_in.output(0)],
                         {"T": [INT, F, V, INT], "cond": FuncAttr("cond"), "body": FuncAttr("body"),
                          "parallel_iterations": 10}, name="loop", num_outputs=4)
    stack = main.add_node("TensorListStack", [loop.output(2), unknown.output(0)],
                          {"element_dtype": F, "num_elements": -1}, name="stack")
    stack.output(0).dtype = F
    main.inputs, main.input_keys = [x, n_in], ["x", "n"]
    main.outputs = [("sums", stack.output(0))]
    return main


def _run(graph: Graph, tmp_path: Path, tfjs: Any, label: str) -> np.ndarray:
    out = tmp_path / label
    out.mkdir()
    write_graph_model(graph, out, ConvertOptions())
    inputs = [("x", np.array([1.0, 2.0], np.float32)), ("n", np.array(3, np.int32))]
    ((_, sums),) = tfjs.run_named(out, "graph", inputs, ["sums"], label=label)
    return sums


def test_written_tensors_survive_the_loop_in_tfjs(tmp_path: Path, tfjs: Any) -> None:
    graph = _loop_model()
    assert keep_tensor_list_writes(graph) == 1
    loop = graph.node("loop")
    assert loop.attrs["T"] == [INT, F, V, INT, F]
    body = graph.functions[loop.attrs["body"].name]
    assert body.outputs[-1][1].producer.name == "total"
    assert len(graph.functions[loop.attrs["cond"].name].inputs) == 5
    np.testing.assert_allclose(_run(graph, tmp_path, tfjs, "list-loop-kept"), [6.0, 12.0, 24.0])


def test_without_the_workaround_tfjs_loses_the_tensors(tmp_path: Path, tfjs: Any) -> None:
    # Documents why the rewrite exists: TF.js 4.22 disposes the written tensors after each iteration.
    with pytest.raises(AssertionError):
        _run(_loop_model(), tmp_path, tfjs, "list-loop-plain")


def test_loop_outputs_are_left_alone() -> None:
    graph = _loop_model()
    body = graph.functions["body"]
    body.outputs[1] = ("acc_out", body.node("total").output(0))  # the written tensor is a loop output
    assert keep_tensor_list_writes(graph) == 0
