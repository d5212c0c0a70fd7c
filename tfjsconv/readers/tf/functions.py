"""Function inlining: call nodes of a GraphDef replaced by the bodies they call (FORMATS §3.4).

Works on NodeDef protos.  A call node is a ``PartitionedCall`` / ``StatefulPartitionedCall`` with a
``func`` attr ``f`` or a node whose op names a library function.  Its body is copied with every node
renamed ``<call>/<node>``; function-style tensor names (``arg``, ``arg:i``, ``node:out_arg:i``) are
turned into GraphDef names (``node:flat_index``) with the OpDefs; nested calls are inlined the same
way.  Control edges inside bodies only sequence stateful updates (variable reads after assigns),
which freezing removes, so they are dropped.  ``If``/``While`` stay: their bodies become library
functions of their own (``function_node_defs``).  ``keep_tensor_list_writes`` adjusts While loops
that fill TensorLists so that TF.js keeps the written tensors alive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Optional

import numpy as np

from ...errors import InputError, UnsupportedError
from ...ir.graph import Graph, Node
from ...ir.types import DType, FuncAttr, Shape
from ...limits import check_graph_nodes, current
from .attr_values import node_attrs, split_tensor_name
from .opdefs import OpDefs

CALL_OPS = ("PartitionedCall", "StatefulPartitionedCall")
_MAX_DEPTH = 64


class FunctionLibrary:
    def __init__(self, functions: Iterable[Any], opdefs: OpDefs) -> None:
        self.functions: dict[str, Any] = {f.signature.name: f for f in functions}
        self.opdefs = opdefs
        self._sizes: dict[str, int] = {}

    def _callee_name(self, node_def: Any) -> Optional[str]:
        if node_def.op in CALL_OPS and "f" in node_def.attr:
            return str(node_def.attr["f"].func.name)
        return node_def.op if node_def.op in self.functions else None

    def inlined_size(self, name: str, depth: int = 0) -> int:
        """Nodes the body of ``name`` becomes once every call in it is inlined (memoized).

        A function that calls another twice at every level doubles per level: 40 levels of a few
        bytes each would inline to 2^40 nodes.  Sizes are known before anything is copied, so such
        a library is refused at once; a call cycle is refused at the depth limit.
        """
        known = self._sizes.get(name)
        if known is not None:
            return known
        if depth > _MAX_DEPTH:
            raise UnsupportedError(f"function {name} nests calls more than {_MAX_DEPTH} deep "
                                   "(recursive functions cannot be inlined)")
        fdef = self.functions.get(name)
        total = 0
        for nd in fdef.node_def if fdef is not None else ():
            callee = self._callee_name(nd)
            total += 1 if callee is None or callee not in self.functions else self.inlined_size(callee,
                                                                                               depth + 1)
            if total > current().max_graph_nodes:
                break  # already too big: the caller refuses it
        self._sizes[name] = total
        return total

    def check_inlined_size(self, node_defs: Sequence[Any], what: str) -> None:
        total = 0
        for nd in node_defs:
            callee = self._callee_name(nd)
            total += 1 if callee is None or callee not in self.functions else self.inlined_size(callee)
            check_graph_nodes(total, f"{what} (with its function calls inlined)")

    def callee(self, node_def: Any) -> Optional[tuple[Any, dict[str, Any]]]:
        """(FunctionDef, instantiation attrs as AttrValue protos) when ``node_def`` is a call."""
        if node_def.op in CALL_OPS and "f" in node_def.attr:
            func = node_def.attr["f"].func
            fdef = self.functions.get(func.name)
            if fdef is None:
                raise InputError(f"node {node_def.name} calls function {func.name!r}, "
                                 "which the function library does not define")
            return fdef, dict(func.attr)
        fdef = self.functions.get(node_def.op)
        if fdef is not None:
            return fdef, dict(node_def.attr)
        return None

    # ----- inlining -------------------------------------------------------------------------------
    def inline_graph(self, node_defs: Sequence[Any], keep_control: bool = True,
                     aliases: Optional[dict[str, str]] = None) -> list[Any]:
        """A GraphDef node list with every call node replaced by the nodes of its body.

        ``aliases`` receives ``call:j`` -> the inlined tensor that is now the call's output j.
        """
        out: list[Any] = []
        call_outputs: dict[str, list[str]] = {}
        self.check_inlined_size(node_defs, "the graph")
        calls = {nd.name for nd in node_defs if self.callee(nd) is not None}
        if not calls:  # nothing to inline (frozen graphs): skip copying the (maybe large) NodeDefs
            return list(node_defs)

        def remap(name: str) -> Optional[str]:
            if name.startswith("^"):
                return None if name[1:] in calls or not keep_control else name
            node, index = split_tensor_name(name)
            if node in calls:
                outputs = call_outputs.get(node)
                if outputs is None:
                    raise InputError(f"call node {node} is used before it is defined")
                if not 0 <= index < len(outputs):
                    raise InputError(f"{name} reads output {index} of call node {node}, which has "
                                     f"{len(outputs)} output(s)")
                return outputs[index]
            return name

        for nd in _toposort(node_defs, lambda text: split_tensor_name(text)[0]):
            found = self.callee(nd)
            if found is not None:
                fdef, attrs = found
                bindings = [remap(t) for t in nd.input if not t.startswith("^")]
                nodes, outputs = self.inline(fdef, nd.name + "/", [b for b in bindings if b], attrs, 0)
                out.extend(nodes)
                call_outputs[nd.name] = outputs
                if aliases is not None:
                    for j, tensor in enumerate(outputs):
                        aliases[f"{nd.name}:{j}"] = tensor
                continue
            copy = type(nd)()
            copy.CopyFrom(nd)
            del copy.input[:]
            copy.input.extend(r for r in (remap(t) for t in nd.input) if r is not None)
            out.append(copy)
        return out

    def inline(self, fdef: Any, prefix: str, bindings: Sequence[str], attrs: dict[str, Any],
               depth: int) -> tuple[list[Any], list[str]]:
        """The body of ``fdef`` renamed under ``prefix`` with its inputs bound to ``bindings``."""
        name = fdef.signature.name
        if depth > _MAX_DEPTH:
            raise UnsupportedError(f"function {name} nests calls more than {_MAX_DEPTH} deep "
                                   "(recursive functions cannot be inlined)")
        args = self._bind_args(fdef, bindings, attrs)
        body = {nd.name: nd for nd in fdef.node_def}
        tensors: dict[tuple[str, int], str] = {}
        out: list[Any] = []

        def resolve(text: str) -> Optional[str]:
            if text.startswith("^"):
                return None
            parts = text.split(":")
            # "node", "node:index" or "node:out_arg:index"
            if len(parts) > 3 or (len(parts) > 1 and not parts[-1].isdigit()):
                raise InputError(f"function {name}: input {text!r} is not a tensor name")
            if parts[0] in args and parts[0] not in body:
                index = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
                if index >= len(args[parts[0]]):
                    raise InputError(f"function {name}: input {text!r} reads past argument {parts[0]!r}")
                return args[parts[0]][index]
            node = body.get(parts[0])
            if node is None:
                raise InputError(f"function {name}: input {text!r} names no node or argument")
            if len(parts) == 3:
                attrs_of_node = node_attrs(node)
                flat = self._flat_index(node, attrs_of_node, parts[1], int(parts[2]), name)
            else:
                flat = int(parts[1]) if len(parts) == 2 else 0
            mapped = tensors.get((parts[0], flat))
            return mapped if mapped is not None else f"{prefix}{parts[0]}:{flat}"

        order = _toposort(list(fdef.node_def), lambda text: text.split(":")[0])
        for nd in order:
            nd = _substitute_placeholders(nd, attrs, name)
            found = self.callee(nd)
            inputs = [r for r in (resolve(t) for t in nd.input) if r is not None]
            if found is not None:
                callee, callee_attrs = found
                nodes, outputs = self.inline(callee, f"{prefix}{nd.name}/", inputs, callee_attrs, depth + 1)
                out.extend(nodes)
                for j, tensor in enumerate(outputs):
                    tensors[(nd.name, j)] = tensor
                continue
            copy = type(nd)()
            copy.CopyFrom(nd)
            copy.name = prefix + nd.name
            del copy.input[:]
            copy.input.extend(inputs)
            out.append(copy)
        rets = []
        for arg in fdef.signature.output_arg:
            if arg.name not in fdef.ret:
                raise InputError(f"function {name} does not return its output {arg.name!r}")
            ret = resolve(fdef.ret[arg.name])
            if ret is None:  # "^node": a control edge is not a value
                raise InputError(f"function {name} returns {fdef.ret[arg.name]!r}, which is not a tensor")
            rets.append(ret)
        return out, rets

    def _flat_index(self, node: Any, attrs: dict[str, Any], out_arg: str, index: int, fname: str) -> int:
        op = node.op
        if op in CALL_OPS or op in self.functions:
            if op in self.functions:
                sig = self.functions[op].signature
                names = [a.name for a in sig.output_arg]
                if out_arg in names:
                    return names.index(out_arg) + index
            return index  # call ops have one list output arg named "output"
        flat = self.opdefs.flat_index(op, attrs, out_arg, index)
        if flat is None:
            if self.opdefs.known(op):
                raise InputError(f"function {fname}: op {op} (node {node.name}) has no output {out_arg!r}")
            # An op TensorFlow does not register (a custom op): TF.js cannot run it either, and the op
            # check reports it with every other unsupported op, so assume a single output arg here.
            return index
        return flat

    def _bind_args(self, fdef: Any, bindings: Sequence[str], attrs: dict[str, Any]) -> dict[str, list[str]]:
        args: dict[str, list[str]] = {}
        position = 0
        for arg in fdef.signature.input_arg:
            count = 1
            if arg.number_attr:
                count = int(attrs[arg.number_attr].i) if arg.number_attr in attrs else 1
            elif arg.type_list_attr:
                count = len(attrs[arg.type_list_attr].list.type) if arg.type_list_attr in attrs else 1
            args[arg.name] = list(bindings[position:position + count])
            position += count
        if position != len(bindings):
            raise InputError(f"function {fdef.signature.name} takes {position} inputs but is called with "
                             f"{len(bindings)}")
        return args

    # ----- bodies kept as functions (If / While) --------------------------------------------------
    def function_node_defs(self, name: str, node_def_type: type) -> tuple[list[Any], list[str], list[str]]:
        """Placeholder NodeDefs for the args, the inlined body, and the ret tensor names.

        Returns (node_defs, arg names, ret tensors); the arg Placeholders come first.
        """
        fdef = self.functions.get(name)
        if fdef is None:
            raise InputError(f"function {name!r} is referenced but not defined in the library")
        check_graph_nodes(self.inlined_size(name), f"function {name} (with its calls inlined)")
        placeholders = []
        bindings = []
        for arg in fdef.signature.input_arg:
            nd = node_def_type()
            nd.name = arg.name
            nd.op = "Placeholder"
            nd.attr["dtype"].type = arg.type if arg.type else DType.FLOAT
            placeholders.append(nd)
            bindings.append(f"{arg.name}:0")
        nodes, rets = self.inline(fdef, "", bindings, dict(fdef.attr), 0)
        return placeholders + nodes, [a.name for a in fdef.signature.input_arg], rets


def _substitute_placeholders(nd: Any, attrs: dict[str, Any], fname: str) -> Any:
    """A copy of ``nd`` with ``placeholder`` attrs replaced by the caller's attrs (templated bodies)."""
    if not any(v.WhichOneof("value") == "placeholder" for v in nd.attr.values()):
        return nd
    copy = type(nd)()
    copy.CopyFrom(nd)
    for key, value in copy.attr.items():
        if value.WhichOneof("value") == "placeholder":
            replacement = attrs.get(value.placeholder)
            if replacement is None:
                raise InputError(f"function {fname}: node {nd.name} attr {key} refers to the "
                                 f"instantiation attr {value.placeholder!r}, which the caller does not set")
            value.CopyFrom(replacement)
    return copy


def _toposort(node_defs: Sequence[Any], node_of: Any) -> list[Any]:
    """Orders NodeDefs so that data and control producers come first (stable otherwise)."""
    by_name = {nd.name: nd for nd in node_defs}
    done: set[str] = set()
    order: list[Any] = []
    for root in node_defs:
        if root.name in done:
            continue
        stack: list[tuple[Any, bool]] = [(root, False)]
        visiting: set[str] = set()
        while stack:
            nd, expanded = stack.pop()
            if expanded:
                visiting.discard(nd.name)
                if nd.name not in done:
                    done.add(nd.name)
                    order.append(nd)
                continue
            if nd.name in done:
                continue
            if nd.name in visiting:
                continue  # a cycle (TF1 loops via NextIteration): keep the given order
            visiting.add(nd.name)
            stack.append((nd, True))
            for text in reversed(list(nd.input)):
                dep = by_name.get(node_of(text.lstrip("^")))
                if dep is not None and dep.name not in done and dep.name not in visiting:
                    stack.append((dep, False))
    return order


# ----- TF.js workaround: tensors written into TensorLists inside While bodies -----------------------

# op -> input position of the tensor it stores in the list
_LIST_WRITES = {"TensorListSetItem": 2, "TensorListPushBack": 1}
_WHILE_OPS = ("While", "StatelessWhile")


def keep_tensor_list_writes(main: Graph) -> int:
    """Makes every tensor a While body writes into a TensorList also a loop output; returns how many.

    TF.js 4.22 runs a function body and then disposes every tensor it computed except the body's
    inputs and outputs, ignoring that ``TensorListSetItem`` kept a reference: the list ends up holding
    disposed tensors and ``TensorListStack`` fails after the loop.  A loop variable that carries the
    written tensor (its first value a scalar zero, never read) keeps it alive; TF.js frees the old
    ones only when no list holds them.
    """
    count = 0
    for graph in list(main.all_graphs()):
        for node in list(graph.nodes):
            if node.op in _WHILE_OPS:
                count += _keep_writes(main, graph, node)
    return count


def _keep_writes(main: Graph, graph: Graph, loop: Node) -> int:
    from .freeze import copy_graph  # tf_freeze depends on the NodeDef side of this module

    body_attr, cond_attr = loop.attrs.get("body"), loop.attrs.get("cond")
    if not isinstance(body_attr, FuncAttr) or not isinstance(cond_attr, FuncAttr):
        return 0
    body, cond = main.functions.get(body_attr.name), main.functions.get(cond_attr.name)
    if body is None or cond is None:
        return 0
    returned = {(v.producer.name, v.index) for _, v in body.outputs}
    args = {n.name for n in body.inputs}
    extra: list[tuple[str, int, DType]] = []
    for node in body.nodes:
        position = _LIST_WRITES.get(node.op)
        if position is None or position >= len(node.inputs):
            continue
        value = node.inputs[position]
        key = (value.producer.name, value.index)
        dtype = node.attrs.get("element_dtype")
        if key in returned or value.producer.name in args or not isinstance(dtype, DType):
            continue
        if all(key != (name, index) for name, index, _ in extra):
            extra.append((key[0], key[1], dtype))
    if not extra:
        return 0
    new_body = copy_graph(body, _fresh(main, body.name + "_tfjs"))
    new_cond = copy_graph(cond, _fresh(main, cond.name + "_tfjs"))
    types = list(loop.attrs.get("T", []))
    shapes = loop.attrs.get("output_shapes")
    inputs = list(loop.inputs)
    for k, (name, index, dtype) in enumerate(extra):
        arg = new_body.add_node("Placeholder", attrs={"dtype": dtype},
                                name=new_body.unique_name(f"tfjs_kept_{k}"))
        new_body.inputs.append(arg)
        new_body.outputs.append((arg.name + "_out", new_body.node(name).output(index)))
        new_cond.inputs.append(new_cond.add_node("Placeholder", attrs={"dtype": dtype},
                                                 name=new_cond.unique_name(f"tfjs_kept_{k}")))
        first = np.array(b"", dtype=object) if dtype == DType.STRING else np.zeros((), dtype=dtype.numpy)
        zero = graph.add_const(first, name=f"{loop.name}/tfjs_kept_{k}", dtype=dtype)
        inputs.append(zero.output(0))
        types.append(dtype)
        if isinstance(shapes, list):
            shapes = [*shapes, Shape.unknown()]
    graph.set_inputs(loop, inputs)
    loop.attrs["T"] = types
    if isinstance(shapes, list):
        loop.attrs["output_shapes"] = shapes
    for i, dtype in enumerate(types):
        loop.output(i).dtype = dtype
    main.functions[new_body.name] = new_body
    main.functions[new_cond.name] = new_cond
    loop.attrs["body"] = FuncAttr(new_body.name, body_attr.attrs)
    loop.attrs["cond"] = FuncAttr(new_cond.name, cond_attr.attrs)
    return len(extra)


def _fresh(main: Graph, name: str) -> str:
    candidate, i = name, 1
    while candidate in main.functions:
        candidate = f"{name}_{i}"
        i += 1
    return candidate
