"""The TF.js op check: every op of the main graph and of every library function, reported at once."""

from __future__ import annotations

from typing import Optional

from ..errors import PathLike, UnsupportedOpsError
from ..ir.graph import Graph
from .registry import is_supported

# Graph plumbing that never reaches the JS op mapper as an op of its own: main-graph inputs are
# Placeholders (in the table) and function arguments become Placeholders in the JS loader.
_ALWAYS_ALLOWED = frozenset({"Placeholder", "Const"})


def unsupported_ops(graph: Graph, *extra: Graph) -> dict[str, list[str]]:
    """``{op: [node names]}`` for every node TF.js cannot run; function nodes as ``function/node``."""
    found: dict[str, list[str]] = {}
    for root in (graph, *extra):
        for body in root.all_graphs():
            prefix = "" if body is root else f"{body.name}/"
            for node in body.nodes:
                if node.op in _ALWAYS_ALLOWED or is_supported(node.op):
                    continue
                found.setdefault(node.op, []).append(prefix + node.name)
    return found


def check_ops(graph: Graph, *, skip: bool = False, path: Optional[PathLike] = None, where: str = "",
              initializer: Optional[Graph] = None) -> None:
    """Raises ``UnsupportedOpsError`` listing every unsupported op (unless ``skip``)."""
    if skip:
        return
    extra = (initializer,) if initializer is not None else ()
    found = unsupported_ops(graph, *extra)
    if found:
        raise UnsupportedOpsError(found, path, where)
