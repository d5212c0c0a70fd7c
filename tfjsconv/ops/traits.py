"""Facts about TF ops, in one table: what a pass or reader may assume about an op by its name.

Adding an op fact (a new stateful op, a new element-wise op) means editing this file only; the
passes and readers below read these sets instead of keeping their own.

Generated (``tf_op_facts.json``, rewritten by ``/work/fxenv/bin/python fixtures/generate/tf_op_tables.py``
from TensorFlow's OpDef registry; never edited by hand):

==================  ===========================================================================
``STATEFUL``        OpDef ``is_stateful``: random ops, tables, variables, While/If, Assert/Print...
``BOOL_RESULT``     every output is a fixed ``bool`` (comparisons, logical ops, IsNan...)
==================  ===========================================================================

Hand-written (facts TensorFlow does not record, or TF.js-specific ones):

=========================  ==============================================================================
``GRAPH_INPUTS``           Placeholder / PlaceholderWithDefault
``FRAME_OPS``              TF1 control flow: a value depends on the loop frame or iteration
``DEBUG_OPS``              removed by ``--strip_debug_ops`` (data passes through or is unused)
``PASS_THROUGH``           outputs equal inputs (Identity and friends)
``TABLE_WRITES``           fill or change a lookup table: their effect outlives the run
``TFJS_MUTABLE``           create an object TF.js mutates in place (tensor lists)
``ELEMENTWISE_UNARY``      one tensor in, same-shaped tensor out, element by element
``ELEMENTWISE``            element-wise on several broadcast operands (other operands may be scalars)
``REDUCTIONS``             ``op(x, axes)`` reductions with a ``keep_dims`` attr
``PADS``                   ``op(x, paddings, ...)`` pads
=========================  ==============================================================================

Derived, for the passes:

* ``NEVER_FOLD`` (``fold_constants``): graph inputs, Const, NoOp, frame ops and stateful ops, except
  ``CheckNumerics``: data passes through it unchanged, and folding it keeps a constant check from
  blocking a model (TF.js has no CheckNumerics).
* ``UNIQUE`` (common-subexpression elimination): never merged with an identical node, because each
  run makes something new or has an effect: graph inputs, NoOp, frame ops, stateful ops, table
  writes (also the TF1 ref-typed ones TF does not mark stateful) and ``TFJS_MUTABLE``.
* ``LAYOUT_AGNOSTIC`` (``sink_transposes``): a transpose can move through these.
"""

from __future__ import annotations

import json
from pathlib import Path

_FACTS = json.loads(Path(__file__).with_name("tf_op_facts.json").read_text(encoding="utf-8"))

# ----- generated from TensorFlow's OpDefs ---------------------------------------------------------
STATEFUL: frozenset[str] = frozenset(_FACTS["stateful"])
BOOL_RESULT: frozenset[str] = frozenset(_FACTS["bool_result"])

# ----- hand-written ----------------------------------------------------------------------------------
GRAPH_INPUTS = frozenset({"Placeholder", "PlaceholderWithDefault"})
FRAME_OPS = frozenset({"Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond"})
DEBUG_OPS = frozenset({"Assert", "CheckNumerics", "Print", "PrintV2"})
PASS_THROUGH = frozenset({"Identity", "IdentityN", "Snapshot", "StopGradient", "PreventGradient"})
# Table fills: TF.js runs them in the initializer and later runs find the table by name.
TABLE_WRITES = frozenset({"LookupTableImportV2", "LookupTableImport", "InitializeTableV2",
                          "InitializeTable", "LookupTableInsertV2"})
# TF.js's TensorListSetItem / PushBack change the list object in place: two lists made by identical
# nodes must stay two objects.
TFJS_MUTABLE = frozenset({"EmptyTensorList", "TensorListReserve"})

ELEMENTWISE_UNARY = frozenset({
    "Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "Neg", "Abs", "Exp", "Log", "Sqrt", "Rsqrt",
    "Square", "Erf", "Cast", "Identity", "LeakyRelu", "Softplus", "Softsign", "Reciprocal", "Floor",
    "Ceil", "Round", "Sign", "Sin", "Cos", "LogicalNot", "Expm1", "Log1p", "IsNan", "IsInf", "IsFinite",
})
ELEMENTWISE = frozenset({
    "AddV2", "Add", "Sub", "Mul", "RealDiv", "Div", "FloorDiv", "FloorMod", "Maximum", "Minimum", "Pow",
    "SquaredDifference", "Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual",
    "LogicalAnd", "LogicalOr", "SelectV2", "ClipByValue", "Prelu", "AddN",
})
REDUCTIONS = frozenset({"Mean", "Sum", "Max", "Min", "Prod", "All", "Any"})
PADS = frozenset({"Pad", "PadV2", "MirrorPad"})

# ----- derived -------------------------------------------------------------------------------------
NEVER_FOLD = frozenset({"Const", "NoOp"}) | GRAPH_INPUTS | FRAME_OPS | (STATEFUL - {"CheckNumerics"})
UNIQUE = frozenset({"NoOp"}) | GRAPH_INPUTS | FRAME_OPS | STATEFUL | TABLE_WRITES | TFJS_MUTABLE
LAYOUT_AGNOSTIC = ELEMENTWISE_UNARY | ELEMENTWISE | REDUCTIONS | PADS
