"""The op-facts table: generated facts from TensorFlow's OpDefs and the sets derived for the passes."""

from __future__ import annotations

import json
from pathlib import Path

from tfjsconv.ops import traits
from tfjsconv.ops.kernels import kernel_ops

REPO = Path(__file__).resolve().parents[2]


def test_generated_facts_are_read_from_the_committed_table() -> None:
    raw = json.loads((REPO / "tfjsconv" / "ops" / "tf_op_facts.json").read_text(encoding="utf-8"))
    assert raw["stateful"] == sorted(raw["stateful"]) and raw["bool_result"] == sorted(raw["bool_result"])
    assert traits.STATEFUL == frozenset(raw["stateful"])
    # OpDef is_stateful, as TensorFlow 2.21 registers it.
    assert {"RandomUniform", "HashTableV2", "LookupTableImportV2", "While", "Assert", "VarHandleOp",
            "StatefulPartitionedCall", "TensorArrayV3"} <= traits.STATEFUL
    assert not {"AddV2", "MatMul", "StatelessWhile", "PartitionedCall", "Const"} & traits.STATEFUL
    assert {"Equal", "LogicalNot", "IsNan", "Any"} <= traits.BOOL_RESULT
    assert not {"Select", "SelectV2", "Cast", "Where"} & traits.BOOL_RESULT


def test_derived_sets() -> None:
    assert {"Const", "Placeholder", "Merge", "RandomUniform", "Print"} <= traits.NEVER_FOLD
    assert "CheckNumerics" in traits.STATEFUL and "CheckNumerics" not in traits.NEVER_FOLD
    # Of the ops with a numpy kernel, only CheckNumerics is stateful: folding never meets the others.
    assert kernel_ops() & traits.STATEFUL == {"CheckNumerics"}
    assert {"LookupTableImport", "InitializeTable", "EmptyTensorList", "NoOp", "Switch"} <= traits.UNIQUE
    assert "AddV2" not in traits.UNIQUE and "AddV2" in traits.LAYOUT_AGNOSTIC
    assert traits.DEBUG_OPS == {"Assert", "CheckNumerics", "Print", "PrintV2"}
