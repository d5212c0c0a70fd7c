"""fold_output_identity: a signature's output Identity goes and the node it copied takes its name."""

from __future__ import annotations

import numpy as np
from ir.graph_factory import const, op, output, placeholder
from passes.equivalence import check_pass

from tfjsconv.ir.graph import Graph
from tfjsconv.ir.types import DType
from tfjsconv.passes.fold_output_identity import FoldOutputIdentity

F = DType.FLOAT
T = {"T": F}


def test_output_identity_folds_into_its_source() -> None:
    def build(g: Graph) -> None:
        x = placeholder(g, "x", F, [3])
        y = op(g, "Relu", [x], T, name="model/relu")
        z = op(g, "Neg", [y], T, name="model/neg")
        output(g, "relu", op(g, "Identity", [y], T, name="Identity"))
        output(g, "neg", op(g, "Identity", [z], T, name="Identity_1"))

    g = check_pass(build, FoldOutputIdentity(), {"Relu": 1, "Neg": 1})
    outputs = dict(g.outputs)
    assert outputs["relu"].producer.op == "Relu" and outputs["relu"].name == "Identity"
    assert outputs["neg"].producer.op == "Neg" and outputs["neg"].name == "Identity_1"
    assert g.node("Identity_1").inputs[0] is outputs["relu"]  # readers of the renamed node still read it


def test_identities_that_must_stay() -> None:
    """Of an input (renaming it would rename the model input), of a second output of a node
    (``split:1`` cannot become ``Identity:0``), of a Const, and of a node that is an output itself."""
    def build(g: Graph) -> None:
        x = placeholder(g, "x", F, [4])
        output(g, "echo", op(g, "Identity", [x], T, name="Identity"))
        axis = const(g, np.int32(0), "axis")
        split = g.add_node("Split", [axis, x], {"T": F, "num_split": 2}, name="split", num_outputs=2)
        output(g, "second", op(g, "Identity", [split.outputs[1]], T, name="Identity_1"))
        output(g, "const", op(g, "Identity", [const(g, np.ones(2, np.float32), "c")], T, name="Identity_2"))
        relu = op(g, "Relu", [x], T, name="relu")
        output(g, "relu", relu)
        output(g, "relu_copy", op(g, "Identity", [relu], T, name="Identity_3"))

    check_pass(build, FoldOutputIdentity(), {"Identity": 4, "Split": 1, "Relu": 1}, changed=False)


def test_function_bodies_are_left_alone() -> None:
    """Inside a function the output names are argument names, not node names."""
    def build(g: Graph) -> None:
        body = Graph(name="f")
        arg = placeholder(body, "a", F, [3], function_arg=True)
        output(body, "out", op(body, "Identity", [op(body, "Relu", [arg], T, name="r")], T, name="id"))
        g.functions["f"] = body
        output(g, "y", op(g, "Neg", [placeholder(g, "x", F, [3])], T, name="neg"))

    g = check_pass(build, FoldOutputIdentity(), {"Neg": 1}, changed=False)
    assert g.functions["f"].op_histogram()["Identity"] == 1
