"""TF1 while-loop frames: every value used inside a loop enters it through an ``Enter`` node.

TensorFlow's executor runs each iteration of a v1 loop (``Enter``/``Merge``/``Switch``/``NextIteration``
/``Exit``) in its own frame and refuses a node whose inputs come from different frames.  TF.js has no
such rule, and the converter's constant folding and common-subexpression elimination freely share a
constant (or any loop-invariant value) between the outer graph and a loop body.  Here each such edge
gets the ``Enter`` nodes (``is_constant``: the value is the same in every iteration) that bring the
value from its own frame down to the frame of the node that reads it, as ``tf.while_loop`` does for
captured tensors.
"""

from __future__ import annotations

from typing import Optional

from ...ir.attrs import attr_text
from ...ir.graph import Graph, Node, Value
from ...ir.types import DType

_ROOT = ""


class _Frames:
    def __init__(self, graph: Graph) -> None:
        self.parent: dict[str, str] = {}
        self.parallel: dict[str, int] = {}
        self.of: dict[int, str] = {}
        graph.toposort()
        for node in graph.nodes:
            self.of[id(node)] = self._frame(node)

    def path(self, frame: str) -> list[str]:
        out = []
        while frame != _ROOT:
            out.append(frame)
            frame = self.parent.get(frame, _ROOT)
        return out[::-1]

    def _deepest(self, frames: list[str]) -> str:
        return max(frames, key=lambda f: len(self.path(f)), default=_ROOT)

    def _frame(self, node: Node) -> str:
        sources = [self.of.get(id(v.producer), _ROOT) for v in node.inputs
                   if not (node.op == "Merge" and v.producer.op == "NextIteration")]
        sources += [self.of.get(id(c), _ROOT) for c in node.control_inputs]
        outer = self._deepest(sources)
        if node.op in ("Enter", "RefEnter"):
            name = attr_text(node.attrs.get("frame_name", b""))
            self.parent.setdefault(name, outer)
            self.parallel.setdefault(name, int(node.attrs.get("parallel_iterations", 10)))
            return name
        if node.op in ("Exit", "RefExit"):
            return self.parent.get(outer, _ROOT)
        return outer


def enter_loop_invariants(graph: Graph) -> int:
    """Adds the missing ``Enter`` nodes in ``graph`` (the main graph only: functions hold no v1 loops)."""
    if not any(n.op in ("Enter", "RefEnter") for n in graph.nodes):
        return 0
    frames = _Frames(graph)
    entered: dict[tuple[int, int, str], Value] = {}
    added = 0
    for node in list(graph.nodes):
        mine = frames.of.get(id(node), _ROOT)
        if mine == _ROOT or node.op in ("Enter", "RefEnter"):
            continue
        for position, value in enumerate(list(node.inputs)):
            if node.op == "Merge" and value.producer.op == "NextIteration":
                continue
            theirs = frames.of.get(id(value.producer), _ROOT)
            if theirs == mine:
                continue
            path, outer = frames.path(mine), frames.path(theirs)
            if path[:len(outer)] != outer:
                continue  # not an outer frame's value: leave it for TensorFlow to report
            current: Optional[Value] = value
            for frame in path[len(outer):]:
                key = (id(value.producer), value.index, frame)
                if key not in entered:
                    assert current is not None
                    attrs = {"frame_name": frame.encode("utf-8"), "is_constant": True,
                             "parallel_iterations": frames.parallel.get(frame, 10)}
                    if isinstance(current.dtype, DType):
                        attrs["T"] = current.dtype
                    enter = graph.add_node("Enter", [current], attrs,
                                           name=graph.unique_name(f"{frame}/{value.producer.name}/enter"))
                    enter.output(0).dtype = current.dtype
                    enter.output(0).shape = current.shape
                    entered[key] = enter.output(0)
                    added += 1
                current = entered[key]
            assert current is not None
            graph.set_input(node, position, current)
    return added
