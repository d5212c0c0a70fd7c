"""What the ONNX reader could not convert, collected over the whole model and reported at once.

A handler refuses a node with ``ctx.refuse(reason)`` (a ``NodeRefusal``); an op type without a
handler is a refusal too.  The reader records each one as a ``Problem``, stands in a placeholder
value for the node's outputs so the walk can go on, and raises one ``UnsupportedNodesError`` naming
every offending node at the end.  Nodes that fail only because an input comes from an already
refused node are not reported again: their cause is upstream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from ...errors import PathLike, UnsupportedError

UNSUPPORTED_OP = "no TF.js lowering for this op"
_MAX_NAMES = 8  # per group; a model with thousands of identical nodes still gets a readable line


class NodeRefusal(UnsupportedError):
    """One node that TF.js cannot compute as ONNX defines it (raised by handlers)."""

    def __init__(self, op: str, node: str, reason: str) -> None:
        super().__init__(f"{op} node {node!r}: {reason}")
        self.op, self.node, self.reason = op, node, reason


@dataclass(frozen=True)
class Problem:
    op: str  # ONNX op type, with its domain when not the default one
    node: str
    reason: str

    @property
    def unsupported_op(self) -> bool:
        return self.reason == UNSUPPORTED_OP


class UnsupportedNodesError(UnsupportedError):
    """Every node of one model that cannot be converted, each with its op, name and reason."""

    def __init__(self, problems: Sequence[Problem], path: Optional[PathLike] = None, opset: int = 0) -> None:
        self.problems = list(problems)
        self.ops = sorted({p.op for p in self.problems if p.unsupported_op})
        parts: list[str] = []
        by_op: dict[str, list[str]] = {}
        for p in self.problems:
            if p.unsupported_op:
                by_op.setdefault(p.op, []).append(p.node)
        if by_op:
            listing = ", ".join(
                f"{op} ({len(names)} node{'s' if len(names) != 1 else ''}: {_names(names)})"
                for op, names in sorted(by_op.items())
            )
            parts.append(f"ops with no TF.js lowering: {listing}")
        by_reason: dict[tuple[str, str], list[str]] = {}
        for p in self.problems:
            if not p.unsupported_op:
                by_reason.setdefault((p.op, p.reason), []).append(p.node)
        for (op, reason), names in by_reason.items():
            plural = "s" if len(names) != 1 else ""
            parts.append(f"{op} node{plural} {_names(names)}: {reason}")
        count = len(self.problems)
        where = f" (opset {opset})" if opset else ""
        super().__init__(
            f"{count} ONNX node{'s' if count != 1 else ''}{where} cannot be converted to TF.js: "
            + "; ".join(parts),
            path,
        )


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_MAX_NAMES])
    return shown + (f" and {len(names) - _MAX_NAMES} more" if len(names) > _MAX_NAMES else "")


__all__ = ["UNSUPPORTED_OP", "NodeRefusal", "Problem", "UnsupportedNodesError"]
