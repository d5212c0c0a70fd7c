"""Node shapes that make onnx's C++ shape inference abort the whole process, refused before it runs.

onnx's wheels are built with C++ library assertions on: an index past the end of a vector inside an
op's inference function is an abort (SIGABRT), not an exception, so no ``try`` around
``infer_shapes`` can turn it into a clean refusal.  The schema check (``check_node``) does not look at
these relations, so each op whose inference trusts one gets a guard here, found by fuzzing.  A guard
returns what is wrong with the node, or None.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ...registry import Registry

Guard = Callable[[Any], Optional[str]]
GUARDS: Registry[str, Guard] = Registry("ONNX shape-inference guard")


def _int_attr(node: Any, name: str) -> Optional[int]:
    for attr in node.attribute:
        if attr.name == name and attr.type == 2:  # INT
            return int(attr.i)
    return None


@GUARDS.register("Split")
def _split(node: Any) -> Optional[str]:
    # Split-18's inference sizes its parts by num_outputs and then indexes them once per output.
    count = _int_attr(node, "num_outputs")
    if count is not None and count != len(node.output):
        return f"declares num_outputs={count} but has {len(node.output)} outputs"
    return None


def inference_problem(node: Any) -> Optional[str]:
    guard = GUARDS.get(node.op_type)
    return guard(node) if guard is not None else None
