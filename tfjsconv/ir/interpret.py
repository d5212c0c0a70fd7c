"""Run a Graph on numpy inputs with the registered kernels: the fast test oracle for passes.

``interpret(graph, feeds)`` returns ``{output key: array}``.  Feeds are keyed by signature input key
or Placeholder name.  Library functions (``graph.functions``) back the control-flow ops While /
StatelessWhile, If / StatelessIf and (Stateful)PartitionedCall.  It is an oracle, not a runtime:
ops without a kernel raise ``InterpretError`` naming the node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional

import numpy as np

from ..ops.kernels import NotComputable, evaluate, get_kernel
from .attrs import attr_text
from .graph import Graph, Node, Value, const_of
from .types import FuncAttr

Library = Mapping[str, Graph]


class InterpretError(Exception):
    pass


def _order(graph: Graph, targets: Sequence[Node]) -> list[Node]:
    """The nodes ``targets`` need, producers first (graph.nodes may be unordered after passes)."""
    order: list[Node] = []
    done: set[int] = set()
    visiting: set[int] = set()
    for root in targets:
        stack: list[tuple[Node, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                visiting.discard(id(node))
                if id(node) not in done:
                    done.add(id(node))
                    order.append(node)
                continue
            if id(node) in done:
                continue
            if id(node) in visiting:
                raise InterpretError(f"cycle through {node.name} (TF1 loops are not interpreted)")
            visiting.add(id(node))
            stack.append((node, True))
            for dep in [v.producer for v in node.inputs] + list(node.control_inputs):
                if id(dep) not in done:
                    stack.append((dep, False))
    return order


def _call(library: Library, func: Any, args: list[np.ndarray]) -> list[np.ndarray]:
    name = func.name if isinstance(func, FuncAttr) else attr_text(func)
    if name not in library:
        raise InterpretError(f"function {name} is not in the library")
    return run_function(library[name], args, library)


def _while(node: Node, args: list[np.ndarray], library: Library) -> list[np.ndarray]:
    state = list(args)
    for _ in range(1_000_000):
        (cond,) = _call(library, node.attrs["cond"], state)[:1]
        if not bool(np.asarray(cond).reshape(-1)[0]):
            return state
        state = _call(library, node.attrs["body"], state)
    raise InterpretError(f"{node.name}: loop did not end")


def _if(node: Node, args: list[np.ndarray], library: Library) -> list[np.ndarray]:
    branch = "then_branch" if bool(np.asarray(args[0]).reshape(-1)[0]) else "else_branch"
    return _call(library, node.attrs[branch], args[1:])


def _partitioned_call(node: Node, args: list[np.ndarray], library: Library) -> list[np.ndarray]:
    return _call(library, node.attrs["f"], args)


# TensorLists (the outputs of a recurrent While loop) live here rather than among the numpy kernels:
# a list is a 0-d object array holding a tuple, which constant folding must never see.
def _tensor_list(items: Sequence[Optional[np.ndarray]]) -> np.ndarray:
    handle = np.empty((), dtype=object)
    handle[()] = tuple(items)
    return handle


def _list_reserve(node: Node, args: list[np.ndarray], library: Library) -> list[np.ndarray]:
    return [_tensor_list([None] * int(np.asarray(args[1]).reshape(-1)[0]))]


def _list_set_item(node: Node, args: list[np.ndarray], library: Library) -> list[np.ndarray]:
    items = list(args[0].item())
    items[int(np.asarray(args[1]).reshape(-1)[0])] = np.asarray(args[2])
    return [_tensor_list(items)]


def _list_stack(node: Node, args: list[np.ndarray], library: Library) -> list[np.ndarray]:
    items = args[0].item()
    if any(item is None for item in items):
        raise InterpretError(f"{node.name}: stacking a TensorList with unwritten elements")
    return [np.stack(items)]


_CONTROL: dict[str, Callable[[Node, list[np.ndarray], Library], list[np.ndarray]]] = {
    "While": _while, "StatelessWhile": _while, "If": _if, "StatelessIf": _if,
    "PartitionedCall": _partitioned_call, "StatefulPartitionedCall": _partitioned_call,
    "TensorListReserve": _list_reserve, "TensorListSetItem": _list_set_item, "TensorListStack": _list_stack,
}


def _evaluate(graph: Graph, fed: dict[int, np.ndarray], targets: Sequence[Value],
              library: Library) -> list[np.ndarray]:
    values: dict[tuple[int, int], np.ndarray] = {}
    for node in _order(graph, [v.producer for v in targets]):
        if id(node) in fed:
            values[(id(node), 0)] = fed[id(node)]
            continue
        args = [values[(id(v.producer), v.index)] for v in node.inputs]
        if node.op == "Const":
            outputs: Sequence[np.ndarray] = [np.asarray(const_of(node.outputs[0]))]
        elif node.op == "PlaceholderWithDefault":
            outputs = args
        elif node.op == "Placeholder":
            raise InterpretError(f"no value fed for input {node.name}")
        elif node.op in ("NoOp", "Assert"):
            outputs = []
        elif node.op in ("Print",):
            outputs = args[:1]
        elif node.op in _CONTROL:
            outputs = _CONTROL[node.op](node, args, library)
        else:
            if get_kernel(node.op) is None:
                raise InterpretError(f"no kernel for {node.op} (node {node.name})")
            try:
                outputs = evaluate(node.op, args, node.attrs)
            except NotComputable as exc:
                raise InterpretError(f"{node.op} {node.name}: {exc}") from None
        for i, out in enumerate(outputs):
            values[(id(node), i)] = out
    return [values[(id(v.producer), v.index)] for v in targets]


def run_function(body: Graph, args: Sequence[np.ndarray],
                 library: Optional[Library] = None) -> list[np.ndarray]:
    """Calls a library function: ``args`` bind its argument Placeholders in order."""
    if len(args) != len(body.inputs):
        raise InterpretError(f"function {body.name} takes {len(body.inputs)} arguments, got {len(args)}")
    fed = {id(node): np.asarray(a) for node, a in zip(body.inputs, args)}
    return _evaluate(body, fed, body.output_values(), library if library is not None else body.functions)


def interpret(graph: Graph, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Runs the main graph; returns ``{output key: array}``."""
    fed: dict[int, np.ndarray] = {}
    for i, node in enumerate(graph.inputs):
        key = graph.input_keys[i] if i < len(graph.input_keys) else node.name
        for name in (key, node.name):
            if name in feeds:
                fed[id(node)] = np.asarray(feeds[name])
                break
    for name, value in feeds.items():  # also accept Placeholders that are not signature inputs
        node = graph.get(name)
        if node is not None and node.op in ("Placeholder", "PlaceholderWithDefault"):
            fed[id(node)] = np.asarray(value)
    results = _evaluate(graph, fed, graph.output_values(), graph.functions)
    return {key: result for (key, _), result in zip(graph.outputs, results)}
