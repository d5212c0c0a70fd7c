"""Freezing: variables become Consts, and everything that handled them as resources is rewritten.

Binding (which checkpoint tensor a variable node holds):
* TF2: the signature's call nodes capture variables as their last inputs, in the order of the
  concrete function's ``bound_inputs`` (object-graph node ids); the checkpoint's own object graph,
  walked in parallel with the SavedModel's by ``local_name``, gives each id its ``checkpoint_key``.
* TF1: the saver's ``RestoreV2`` nodes name the key (and slice) restored into each variable.

Rewriting (FORMATS §3.5), done on the IR once the variable nodes are Consts:
``ReadVariableOp`` -> the Const itself, ``ResourceGather(Nd)`` -> ``GatherV2``/``GatherNd``,
``VariableShape``/``VarIsInitializedOp`` -> Consts, assignments pruned, and ``While``/``If`` that
receive a variable get value-typed copies of their bodies (suffix ``_frozen``) with the same rewrite.
Training-mode ``FusedBatchNorm`` (tf-keras LayerNormalization) becomes explicit moments, since an
inference graph for TF.js cannot rely on ``is_training``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ...errors import InputError, UnsupportedError
from ...ir.attrs import attr_text
from ...ir.graph import ArrayLike, Graph, LazyArray, Node, Value
from ...ir.types import DType, FuncAttr, Shape
from .attr_values import split_tensor_name
from .bundle import TensorBundle

VARIABLE_OPS = ("VarHandleOp", "VariableV2", "Variable")
_ASSIGN_OPS = frozenset({"AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp", "Assign",
                         "AssignAdd", "AssignSub", "DisableCopyOnRead", "DestroyResourceOp"})
_PASS_THROUGH = frozenset({"Identity", "Snapshot"})
_WHILE_OPS = frozenset({"While", "StatelessWhile"})
_IF_OPS = frozenset({"If", "StatelessIf"})
_V1_FLOW = frozenset({"Enter", "RefEnter", "Switch", "RefSwitch"})


# ----- binding: TF2 --------------------------------------------------------------------------------

def _checkpoint_keys_by_object_id(saved_graph: Any, trackable: Any) -> dict[int, str]:
    """Object-graph node id -> checkpoint key of its VARIABLE_VALUE, by a parallel local-name walk."""
    keys: dict[int, str] = {}
    seen: set[int] = set()
    stack = [(0, 0)]
    while stack:
        saved_id, ckpt_id = stack.pop()
        if saved_id in seen or not 0 <= saved_id < len(saved_graph.nodes) \
                or not 0 <= ckpt_id < len(trackable.nodes):
            continue  # ids out of range (negative ids would silently wrap around) name no object
        seen.add(saved_id)
        for attribute in trackable.nodes[ckpt_id].attributes:
            if attribute.name == "VARIABLE_VALUE":
                keys[saved_id] = attribute.checkpoint_key
        ckpt_children = {c.local_name: c.node_id for c in trackable.nodes[ckpt_id].children}
        for child in saved_graph.nodes[saved_id].children:
            if child.local_name in ckpt_children:
                stack.append((child.node_id, ckpt_children[child.local_name]))
    return keys


def tf2_variable_keys(node_defs: Sequence[Any], saved_graph: Any, bundle: Optional[TensorBundle],
                      call_function: Any) -> dict[str, tuple[str, str]]:
    """Top-level variable node name -> (checkpoint key, "") for every variable a call node captures."""
    captured: dict[str, int] = {}
    for nd in node_defs:
        fname = call_function(nd)
        if fname is None or fname not in saved_graph.concrete_functions:
            continue
        bound = list(saved_graph.concrete_functions[fname].bound_inputs)
        data = [t for t in nd.input if not t.startswith("^")]
        if not bound or len(bound) > len(data):
            continue
        for text, node_id in zip(data[len(data) - len(bound):], bound):
            if not 0 <= node_id < len(saved_graph.nodes):
                raise InputError(f"function {fname} captures object {node_id}, but the SavedModel's object "
                                 f"graph has {len(saved_graph.nodes)} objects")
            if saved_graph.nodes[node_id].WhichOneof("kind") == "variable":
                captured[split_tensor_name(text)[0]] = node_id
    if not captured:
        return {}
    trackable = bundle.object_graph() if bundle is not None else None
    if trackable is None:
        where = bundle.index_path if bundle is not None else None
        raise InputError("the SavedModel captures variables but its checkpoint has no object graph "
                         "(_CHECKPOINTABLE_OBJECT_GRAPH)", where)
    by_id = _checkpoint_keys_by_object_id(saved_graph, trackable)
    out: dict[str, tuple[str, str]] = {}
    for name, node_id in captured.items():
        key = by_id.get(node_id)
        if key is None:
            raise InputError(f"variable {name} (object {node_id}) has no value in the checkpoint's "
                             "object graph", bundle.index_path if bundle else None)
        out[name] = (key, "")
    return out


# ----- binding: TF1 --------------------------------------------------------------------------------

def _const_strings(nd: Any) -> list[str]:
    tensor = nd.attr["value"].tensor
    try:
        return [bytes(s).decode("utf-8") for s in tensor.string_val]
    except UnicodeDecodeError:  # checkpoint keys are text: these bytes name nothing in a checkpoint
        raise InputError(f"Const {nd.name!r} feeding the saver's restore op holds names that are not UTF-8 "
                         "text") from None


def tf1_variable_keys(node_defs: Sequence[Any]) -> dict[str, tuple[str, str]]:
    """Variable node name -> (checkpoint key, shape_and_slices spec) from the saver's RestoreV2 ops."""
    by_name = {nd.name: nd for nd in node_defs}
    consumers: dict[str, list[Any]] = {}
    for nd in node_defs:
        for text in nd.input:
            if not text.startswith("^"):
                consumers.setdefault(text if ":" in text else text + ":0", []).append(nd)
    out: dict[str, tuple[str, str]] = {}
    for nd in node_defs:
        if nd.op not in ("RestoreV2", "Restore", "RestoreSlice"):
            continue
        if nd.op != "RestoreV2" or len(nd.input) < 3:
            continue
        names_node = by_name.get(split_tensor_name(nd.input[1])[0])
        slices_node = by_name.get(split_tensor_name(nd.input[2])[0])
        if names_node is None or names_node.op != "Const":
            continue
        names = _const_strings(names_node)
        specs = _const_strings(slices_node) if slices_node is not None and slices_node.op == "Const" else []
        for i, key in enumerate(names):
            spec = specs[i] if i < len(specs) else ""
            for target in _assigned_variables(f"{nd.name}:{i}", consumers, by_name):
                out.setdefault(target, (key, spec))
    for nd in node_defs:  # variables the saver does not restore: key = their own name
        if nd.op in VARIABLE_OPS and nd.name not in out:
            try:
                shared = nd.attr["shared_name"].s.decode() if "shared_name" in nd.attr else ""
            except UnicodeDecodeError:
                raise InputError(f"variable {nd.name!r} has a shared_name that is not UTF-8 text") from None
            out[nd.name] = (shared or nd.name, "")
    return out


def _assigned_variables(tensor: str, consumers: dict[str, list[Any]], by_name: dict[str, Any]) -> list[str]:
    found: list[str] = []
    stack = [tensor]
    seen: set[str] = set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        for nd in consumers.get(current, []):
            if nd.op in ("Identity", "Reshape"):
                stack.append(nd.name + ":0")
            elif nd.op in ("Assign", "AssignVariableOp") and nd.input:
                var = split_tensor_name(nd.input[0])[0]
                while var in by_name and by_name[var].op == "Identity" and by_name[var].input:
                    var = split_tensor_name(by_name[var].input[0])[0]
                found.append(var)
    return found


# ----- checkpoint values ---------------------------------------------------------------------------

_DECIMAL = re.compile(r"[0-9]+")
_EXTENT = re.compile(r"([0-9]+),(-?[0-9]+)")


def parse_slice_spec(spec: str) -> Optional[tuple[tuple[int, ...], tuple[slice, ...]]]:
    """``"4 2 0,2:0,2"`` -> ((4, 2), (slice(0, 2), slice(0, 2))); ``""`` -> None.

    Raises ValueError for a spec TensorFlow's ``TensorSlice`` parser would reject, or one whose
    slice does not lie inside the full shape: numpy would silently clip such a slice.
    """
    spec = spec.strip()
    if not spec:
        return None
    parts = spec.split(" ")
    if not all(_DECIMAL.fullmatch(p) for p in parts[:-1]):
        raise ValueError(f"bad full shape in slice spec {spec!r}")
    full = tuple(int(p) for p in parts[:-1])
    texts = parts[-1].split(":")
    if len(texts) != len(full):
        raise ValueError(f"slice spec {spec!r} has {len(texts)} extents for a rank-{len(full)} tensor")
    cuts = []
    for dim, text in zip(full, texts):
        if text == "-":
            cuts.append(slice(0, dim))
            continue
        match = _EXTENT.fullmatch(text)
        if match is None:
            raise ValueError(f"bad extent {text!r} in slice spec {spec!r}")
        start, length = int(match[1]), int(match[2])
        stop = dim if length == -1 else start + length
        if length < -1 or not 0 <= start <= stop <= dim:
            raise ValueError(f"extent {text!r} of slice spec {spec!r} leaves a dimension of {dim}")
        cuts.append(slice(start, stop))
    return full, tuple(cuts)


def checkpoint_value(bundle: TensorBundle, key: str, spec: str, node: str) -> ArrayLike:
    if key not in bundle:
        raise InputError(f"checkpoint has no tensor {key!r} for variable {node}", bundle.index_path)
    full = bundle.tensor(key)
    try:
        parsed = parse_slice_spec(spec)
    except ValueError as exc:
        raise InputError(f"variable {node}: {exc}", bundle.index_path) from None
    if parsed is None:
        return full
    shape, cuts = parsed
    if tuple(full.shape) != shape:
        raise InputError(f"checkpoint tensor {key!r} has shape {list(full.shape)}, the graph restores a "
                         f"slice of shape {list(shape)}", bundle.index_path)
    part_shape = tuple(c.stop - c.start for c in cuts)
    return LazyArray(full.dtype, part_shape, lambda: np.ascontiguousarray(full.materialize()[cuts]))


def replace_with_const(graph: Graph, node: Node, value: ArrayLike, dtype: DType,
                       defer: Optional[list[Node]] = None) -> Node:
    """Swaps ``node`` for a Const of the same name (its old outputs' consumers now read the Const).

    With ``defer``, the old node is appended there instead of being detached and removed now: a
    model with thousands of variables then pays for one graph scan instead of one per variable.
    """
    name = node.name
    const = graph.add_const(value, name=name + "__frozen", dtype=dtype)
    keep_outputs = list(node.outputs)
    graph.rename(node, graph.unique_name(name + "__variable"))
    graph.rename(const, name)
    for old in keep_outputs:
        if old.index == 0:
            for consumer, position in list(old.uses):
                graph.set_input(consumer, position, const.output(0))
    if defer is not None:
        defer.append(node)
        return const
    for other in graph.nodes:
        if node in other.control_inputs:
            other.control_inputs = [c for c in other.control_inputs if c is not node]
    if not any(v.uses for v in node.outputs):
        graph.remove_node(node)
    return const


# ----- rewriting resource users --------------------------------------------------------------------

class ResourceFreezer:
    """Rewrites every reader of a frozen variable; owns the ``_frozen`` function copies it makes."""

    def __init__(self, main: Graph) -> None:
        self.main = main
        self.library = main.functions
        self.owned: set[str] = set()

    def freeze(self, graph: Graph, resource: Value, value: Value, dtype: DType,
               shape: Optional[Shape], doomed: Optional[list[Node]] = None) -> None:
        """Rewrites the readers of ``resource``; the rewritten nodes are removed now, or collected
        in ``doomed`` for the caller to remove in one go."""
        pending: list[Node] = [] if doomed is None else doomed
        self._rewrite(graph, resource, value, dtype, shape, pending, set())
        if doomed is None:
            _remove_dead(graph, pending)

    def _rewrite(self, graph: Graph, resource: Value, value: Value, dtype: DType, shape: Optional[Shape],
                 doomed: list[Node], visited: set[int]) -> None:
        if id(resource) in visited:
            return
        visited.add(id(resource))
        for consumer, position in list(resource.uses):
            op = consumer.op
            if op == "ReadVariableOp":
                graph.replace_uses(consumer.output(0), value)
                doomed.append(consumer)
            elif op in _PASS_THROUGH and consumer.attrs.get("T") in (DType.RESOURCE, None):
                self._rewrite(graph, consumer.output(0), value, dtype, shape, doomed, visited)
                doomed.append(consumer)
            elif op in ("ResourceGather", "ResourceGatherNd"):
                self._gather(graph, consumer, value, dtype)
                doomed.append(consumer)
            elif op == "VariableShape":
                dims = shape.dims if shape is not None else None
                if dims is None or any(d is None for d in dims):
                    raise UnsupportedError(f"VariableShape {consumer.name} of a variable of unknown shape")
                out_type = consumer.attrs.get("out_type", DType.INT32)
                const = graph.add_const(np.array(dims, dtype=out_type.numpy), name=consumer.name + "/shape",
                                        dtype=out_type)
                graph.replace_uses(consumer.output(0), const.output(0))
                doomed.append(consumer)
            elif op == "VarIsInitializedOp":
                const = graph.add_const(np.array(True), name=consumer.name + "/true", dtype=DType.BOOL)
                graph.replace_uses(consumer.output(0), const.output(0))
                doomed.append(consumer)
            elif op in _ASSIGN_OPS:
                doomed.append(consumer)
            elif op in _WHILE_OPS:
                self._retype_call(graph, consumer, position, value, dtype, shape, ("cond", "body"),
                                  position, "T")
                self._rewrite(graph, consumer.output(position), value, dtype, shape, doomed, visited)
            elif op in _V1_FLOW and consumer.attrs.get("T") == DType.RESOURCE and position == 0:
                # TF1 control flow (Enter into a while frame, Switch of a v1 cond) carrying the
                # handle: let it carry the value instead; its readers then read that value in the frame.
                graph.set_input(consumer, position, value)
                consumer.attrs["T"] = dtype
                for out in consumer.outputs:
                    out.dtype, out.shape = dtype, shape
                    self._rewrite(graph, out, out, dtype, shape, doomed, visited)
            elif op in _IF_OPS:
                if position == 0:
                    raise UnsupportedError(f"{op} {consumer.name} branches on a resource")
                self._retype_call(graph, consumer, position, value, dtype, shape,
                                  ("then_branch", "else_branch"), position - 1, "Tin")
            else:
                raise UnsupportedError(f"op {op} (node {consumer.name}) uses a variable as a resource; "
                                       "tfjsconv cannot freeze it")

    def _gather(self, graph: Graph, node: Node, params: Value, dtype: DType) -> None:
        indices = node.inputs[1]
        tindices = node.attrs.get("Tindices", DType.INT32)
        if tindices not in (DType.INT32, DType.INT64):  # found by fuzzing: DT_QUINT16 indices
            raise InputError(f"{node.op} node {node.name!r} has {tindices.tf_name} indices; a gather takes "
                             "int32 or int64")
        if node.op == "ResourceGatherNd":
            new = graph.add_node("GatherNd", [params, indices], {"Tparams": dtype, "Tindices": tindices},
                                 name=node.name + "/frozen")
        else:
            batch_dims = node.attrs.get("batch_dims", 0)
            if not isinstance(batch_dims, int) or not -64 <= batch_dims <= 64:  # fuzzing: a string there
                raise InputError(f"{node.op} node {node.name!r} has a batch_dims attribute that is not "
                                 "a small integer")
            axis = graph.add_const(np.array(batch_dims, dtype=tindices.numpy), name=node.name + "/axis",
                                   dtype=tindices)
            new = graph.add_node("GatherV2", [params, indices, axis.output(0)],
                                 {"Tparams": dtype, "Tindices": tindices, "Taxis": tindices,
                                  "batch_dims": batch_dims}, name=node.name + "/frozen")
        new.output(0).dtype = dtype
        new.output(0).shape = node.output(0).shape
        graph.replace_uses(node.output(0), new.output(0))

    def _retype_call(self, graph: Graph, call: Node, position: int, value: Value, dtype: DType,
                     shape: Optional[Shape], func_attrs: tuple[str, ...], arg_index: int,
                     type_attr: str) -> None:
        graph.set_input(call, position, value)
        types = list(call.attrs.get(type_attr, []))
        if arg_index < len(types):
            types[arg_index] = dtype
            call.attrs[type_attr] = types
        if type_attr == "T":
            shapes = call.attrs.get("output_shapes")
            if isinstance(shapes, list) and position < len(shapes) and shape is not None:
                shapes = list(shapes)
                shapes[position] = shape
                call.attrs["output_shapes"] = shapes
            call.output(position).dtype = dtype
        for attr in func_attrs:
            func = call.attrs.get(attr)
            if not isinstance(func, FuncAttr):
                continue
            name = self._owned_copy(func.name)
            call.attrs[attr] = FuncAttr(name, func.attrs)
            body = self.library[name]
            if arg_index >= len(body.inputs):
                raise InputError(f"function {name} has no argument {arg_index}")
            arg = body.inputs[arg_index]
            arg.attrs["dtype"] = dtype
            arg.output(0).dtype = dtype
            if shape is not None:
                arg.attrs["shape"] = shape
                arg.output(0).shape = shape
            self.freeze(body, arg.output(0), arg.output(0), dtype, shape)

    def _owned_copy(self, name: str) -> str:
        if name in self.owned:
            return name
        if name not in self.library:
            raise InputError(f"function {name!r} is not in the library")
        fresh = name + "_frozen"
        i = 1
        while fresh in self.library:
            fresh = f"{name}_frozen_{i}"
            i += 1
        self.library[fresh] = copy_graph(self.library[name], fresh)
        self.owned.add(fresh)
        return fresh


def _remove_dead(graph: Graph, doomed: list[Node]) -> None:
    """Removes rewritten nodes (their outputs are unused by now) and what only fed them."""
    present = {id(n) for n in graph.nodes}
    unique: dict[int, Node] = {id(n): n for n in doomed if id(n) in present}
    if not unique:
        return
    for node in unique.values():
        for value in node.outputs:
            if value.uses and not all(id(c) in unique for c, _ in value.uses):
                raise InputError(f"node {node.name} still has consumers after freezing")
    graph.remove_nodes(unique.values())


def copy_graph(source: Graph, name: str) -> Graph:
    """A deep copy of a function body (nodes, edges, attrs, value types); the library is shared."""
    out = Graph(name=name, attrs=dict(source.attrs), functions={})
    mapping: dict[int, Node] = {}
    for node in source.nodes:
        new = out.add_node(node.op, attrs=dict(node.attrs), name=node.name, device=node.device,
                           num_outputs=0)
        for value in node.outputs:
            copy = new.output(value.index)
            copy.dtype = value.dtype
            copy.shape = value.shape
        mapping[id(node)] = new
    for node in source.nodes:
        new = mapping[id(node)]
        out.set_inputs(new, [mapping[id(v.producer)].output(v.index) for v in node.inputs])
        new.control_inputs = [mapping[id(c)] for c in node.control_inputs]
    out.inputs = [mapping[id(n)] for n in source.inputs]
    out.input_keys = list(source.input_keys)
    out.outputs = [(key, mapping[id(v.producer)].output(v.index)) for key, v in source.outputs]
    return out


def freeze_variables(graph: Graph, bindings: dict[str, tuple[str, str]], bundle: Optional[TensorBundle],
                     source: Optional[Path] = None) -> int:
    """Replaces every variable node of ``graph`` by a Const from the checkpoint; returns how many."""
    freezer = ResourceFreezer(graph)
    count = 0
    replaced: list[Node] = []  # the old variable nodes, detached at the end
    doomed: list[Node] = []  # rewritten resource readers, removed at the end
    for node in list(graph.nodes):
        if node.op not in VARIABLE_OPS:
            continue
        if bundle is None:
            raise InputError(f"the graph needs variable {node.name} but the model has no checkpoint "
                             "(variables/variables.index)", source)
        binding = bindings.get(node.name)
        if binding is None:
            raise InputError(f"cannot tell which checkpoint tensor holds variable {node.name}", source)
        key, spec = binding
        value = checkpoint_value(bundle, key, spec, node.name)
        dtype, _ = bundle.entry(key)
        declared = node.attrs.get("dtype")
        if isinstance(declared, DType) and declared != dtype:
            raise InputError(f"variable {node.name} is {declared.tf_name} but checkpoint tensor {key!r} "
                             f"is {dtype.tf_name}", bundle.index_path)
        shape = Shape.of(tuple(value.shape))
        resource = node.op == "VarHandleOp"
        const = replace_with_const(graph, node, value, dtype, defer=replaced)
        if resource:
            freezer.freeze(graph, const.output(0), const.output(0), dtype, shape, doomed)
        count += 1
    _remove_dead(graph, doomed)
    _drop_replaced(graph, replaced)
    return count


def _drop_replaced(graph: Graph, replaced: list[Node]) -> None:
    """Removes the variable nodes ``replace_with_const(defer=...)`` left behind, in one pass."""
    gone = {id(n) for n in replaced}
    for other in graph.nodes:
        if any(id(c) in gone for c in other.control_inputs):
            other.control_inputs = [c for c in other.control_inputs if id(c) not in gone]
    graph.remove_nodes([n for n in replaced if not any(v.uses for v in n.outputs)])


# ----- training-mode batch norm --------------------------------------------------------------------

_BATCH_NORMS = frozenset({"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"})


def expand_training_batch_norms(graph: Graph) -> int:
    """Spells out ``FusedBatchNorm*`` with ``is_training=True`` as batch moments; returns how many.

    A training-mode batch norm normalises with the moments of its own input (tf-keras
    ``LayerNormalization`` is built this way: a reshape to NCHW and a training-mode fused batch norm
    with empty mean/variance).  TF.js ignores ``is_training`` and would read the empty mean and
    variance, so the inference graph gets the formula instead:
    ``(x - mean(x)) * rsqrt(var(x) + epsilon) * scale + offset`` over all axes but the channel one.
    Only nodes whose batch-statistics outputs are unused are rewritten.
    """
    count = 0
    for body in list(graph.all_graphs()):
        for node in list(body.nodes):
            if node.op in _BATCH_NORMS and node.attrs.get("is_training") is True and _only_y_used(node):
                if _expand(body, node):
                    count += 1
        if count:
            body.prune()
    return count


def _only_y_used(node: Node) -> bool:
    return all(not v.uses for v in node.outputs[1:]) and len(node.inputs) == 5


def _expand(graph: Graph, node: Node) -> bool:
    dtype = node.attrs.get("T", DType.FLOAT)
    if dtype != DType.FLOAT or node.attrs.get("U", DType.FLOAT) != DType.FLOAT:
        return False
    layout = node.attrs.get("data_format", b"NHWC")
    layout = attr_text(layout)
    if layout not in ("NHWC", "NCHW"):
        return False
    x, scale, offset = node.inputs[0], node.inputs[1], node.inputs[2]
    name = node.name
    axes = graph.add_const(np.array([0, 1, 2] if layout == "NHWC" else [0, 2, 3], dtype=np.int32),
                           name=f"{name}/moments/axes")
    mean_attrs = {"T": dtype, "Tidx": DType.INT32, "keep_dims": True}

    def op(kind: str, inputs: list[Value], attrs: Optional[dict[str, Any]] = None, suffix: str = "") -> Value:
        new = graph.add_node(kind, inputs, attrs if attrs is not None else {"T": dtype},
                             name=f"{name}/{suffix or kind}")
        new.output(0).dtype = dtype
        return new.output(0)

    mean = op("Mean", [x, axes.output(0)], mean_attrs, "moments/mean")
    variance = op("Mean", [op("SquaredDifference", [x, mean]), axes.output(0)], mean_attrs,
                  "moments/variance")
    epsilon = graph.add_const(np.array(float(node.attrs.get("epsilon", 1e-4)), dtype=np.float32),
                              name=f"{name}/epsilon")
    inv = op("Rsqrt", [op("AddV2", [variance, epsilon.output(0)], suffix="add_epsilon")])
    if layout == "NCHW":  # per-channel vectors must broadcast against [N, C, H, W]
        shape = graph.add_const(np.array([-1, 1, 1], dtype=np.int32), name=f"{name}/channel_shape")
        reshape = {"T": dtype, "Tshape": DType.INT32}
        scale = op("Reshape", [scale, shape.output(0)], reshape, "scale")
        offset = op("Reshape", [offset, shape.output(0)], reshape, "offset")
    factor = op("Mul", [inv, scale], suffix="factor")
    centered = op("Sub", [x, mean], suffix="centered")
    y = op("AddV2", [op("Mul", [centered, factor], suffix="scaled"), offset], suffix="y")
    y.shape = node.output(0).shape
    graph.replace_uses(node.output(0), y)
    return True
