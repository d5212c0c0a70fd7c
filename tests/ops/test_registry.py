"""The TF.js op table, its generator, and the op check."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from ir.graph_factory import const, op, output, placeholder

from tfjsconv.errors import UnsupportedOpsError
from tfjsconv.ir.graph import Graph
from tfjsconv.ir.types import DType
from tfjsconv.ops import registry
from tfjsconv.ops.check import check_ops, unsupported_ops

ROOT = Path(__file__).resolve().parents[2]
CONVERTER = ROOT / "tests" / "js" / "node_modules" / "@tensorflow" / "tfjs-converter"


def test_generated_table_matches_the_installed_tfjs() -> None:
    node = shutil.which("node")
    assert node is not None, "node is needed to regenerate the op table"
    fresh = subprocess.run(
        [node, str(ROOT / "tfjsconv" / "ops" / "gen_tfjs_ops.mjs"), str(CONVERTER)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert json.loads(fresh) == json.loads(registry.TABLE_PATH.read_text(encoding="utf-8"))


def test_table_content() -> None:
    table = json.loads(registry.TABLE_PATH.read_text(encoding="utf-8"))
    assert table["tfjs_converter_version"] == "4.22.0"
    assert len(table["ops"]) == 248  # 21 op lists (OFFICIAL_CONVERTER.md §4)
    assert {o["list"] for o in table["ops"].values() if not o["mapped"]} == {"ragged", "tfdf"}


@pytest.mark.parametrize(
    "op_name",
    [
        "_FusedConv2D",
        "_FusedMatMul",
        "FusedDepthwiseConv2dNative",
        "StatelessWhile",
        "LookupTableFindV2",
        "Erf",
        "Prelu",
        "Print",
    ],
)
def test_supported(op_name: str) -> None:
    assert registry.is_supported(op_name)


@pytest.mark.parametrize(
    "op_name",
    [
        "Erfc",
        "Assert",
        "CheckNumerics",
        "RaggedGather",
        "PartitionedCall",
        "SimpleMLInferenceOpWithHandle",
        "ReadVariableOp",
    ],
)
def test_unsupported(op_name: str) -> None:
    assert not registry.is_supported(op_name)


def test_attr_info() -> None:
    info = registry.op_info("_FusedMatMul")
    assert info is not None and info.category == "matrices"
    alpha = info.attr("leakyrelu_alpha")
    assert alpha is not None and alpha.default == pytest.approx(0.2) and alpha.type == "number"
    assert [i.name for i in info.inputs] == ["a", "b", "args"]
    assert info.inputs[2].type == "tensors" and info.inputs[2].end == 0
    t = registry.op_info("AddV2").attr("T")  # type: ignore[union-attr]
    assert t is not None and t.not_supported


def _graph_with_unsupported() -> Graph:
    g = Graph()
    x = placeholder(g, "x", DType.FLOAT, [3])
    y = op(g, "Erfc", [x], {"T": DType.FLOAT}, name="e1")
    y = op(g, "Erfc", [y], {"T": DType.FLOAT}, name="e2")
    y = op(g, "CheckNumerics", [y], {"T": DType.FLOAT, "message": b"bad"}, name="cn")
    body = Graph(name="fn")
    a = placeholder(body, "a", DType.FLOAT, [3], function_arg=True)
    output(body, "r", op(body, "Lgamma", [a], {"T": DType.FLOAT}, name="lg"))
    g.functions["fn"] = body
    output(g, "y", op(g, "Add", [y, const(g, np.ones(3, np.float32), "one")], {"T": DType.FLOAT}, name="add"))
    return g


def test_unsupported_ops_are_collected_from_graph_and_functions() -> None:
    assert unsupported_ops(_graph_with_unsupported()) == {
        "Erfc": ["e1", "e2"],
        "CheckNumerics": ["cn"],
        "Lgamma": ["fn/lg"],
    }


def test_check_raises_once_with_everything() -> None:
    with pytest.raises(UnsupportedOpsError) as info:
        check_ops(_graph_with_unsupported())
    message = str(info.value)
    assert (
        "CheckNumerics (1 node)" in message and "Erfc (2 nodes)" in message and "Lgamma (1 node)" in message
    )
    assert "--skip_op_check" in message
    check_ops(_graph_with_unsupported(), skip=True)


def test_initializer_is_checked_too() -> None:
    g = Graph()
    placeholder(g, "x", DType.FLOAT, [1])
    init = Graph(name="init")
    init.add_node("MutableHashTableV2", [], {}, name="table")
    with pytest.raises(UnsupportedOpsError) as info:
        check_ops(g, initializer=init)
    assert info.value.ops == {"MutableHashTableV2": ["table"]}
