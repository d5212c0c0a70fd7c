"""ONNX control flow: If as TF's functional StatelessIf, Loop and Scan as StatelessWhile.

Each ONNX subgraph becomes a library function lowered by the same walk as the main graph.  Names a
body reads from an enclosing graph become extra function arguments ("captures") that the loop
carries unchanged.  Loop and Scan collect their per-iteration outputs by concatenation along a new
leading axis, so their element shapes must be known (ONNX shape inference gives them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from ....ir.graph import Graph, Value
from ....ir.types import DType, FuncAttr, Shape
from . import OnnxContext, OnnxNode, normalize_axis, onnx_op
from .common import dim_size
from .onnx_types import compute_dtype, onnx_elem_type

_INT32_MAX = 2**31 - 1


class BodyContext(OnnxContext):
    """Lowers one subgraph into a function body; outer values it reads become capture arguments."""

    def __init__(self, graph: Graph, parent: OnnxContext) -> None:
        super().__init__(graph, parent.opset, parent)
        self.path = parent.path
        self.captures: list[tuple[Value, Value]] = []  # (outer value, body argument)

    def lookup_outer(self, name: str) -> Optional[Value]:
        assert self.parent is not None
        outer = self.parent.values.get(name)
        if outer is None:
            outer = self.parent.lookup_outer(name)
        if outer is None:
            return None
        if outer.producer.op == "Const":  # a copy inside the body: handlers see the constant
            value = self.const_value(outer)
            return self.const(value, "outer", outer.dtype)
        arg = self.argument(f"capture_{len(self.captures)}", outer.dtype, outer.shape)
        self.captures.append((outer, arg))
        return arg

    def bring(self, outer: Value) -> Value:
        """An enclosing graph's value inside this body: a copy of a constant, else a capture."""
        if outer.producer.op == "Const":
            return self.const(self.const_value(outer), "outer", outer.dtype)
        for known, arg in self.captures:
            if known is outer:
                return arg
        arg = self.argument(f"capture_{len(self.captures)}", outer.dtype, outer.shape)
        self.captures.append((outer, arg))
        return arg

    def argument(self, name: str, dtype: Optional[DType], shape: Optional[Shape]) -> Value:
        node = self.graph.add_node("Placeholder", attrs={"dtype": dtype or DType.FLOAT},
                                   name=self.graph.unique_name(name))
        self.graph.inputs.append(node)
        out = node.outputs[0]
        out.dtype, out.shape = dtype or DType.FLOAT, shape
        return out


def _root(ctx: OnnxContext) -> OnnxContext:
    while ctx.parent is not None:
        ctx = ctx.parent
    return ctx


def _new_body(ctx: OnnxContext, label: str) -> BodyContext:
    root = _root(ctx).graph
    name = f"{ctx.prefix}/{label}".replace("/", "_")
    while name in root.functions:
        name += "_"
    body = Graph(name=name)
    root.functions[name] = body
    return BodyContext(body, ctx)


def _outer_value(ctx: OnnxContext, name: str) -> Optional[Value]:
    """The value ``name`` has in an enclosing graph, without capturing it."""
    scope: Optional[OnnxContext] = ctx.parent
    while scope is not None:
        if name in scope.values:
            return scope.values[name]
        scope = scope.parent
    return None


def _free_names(proto: Any) -> list[str]:
    """Names a subgraph (with the subgraphs inside it) reads but does not define."""
    defined, used = set(), []

    def walk(graph: Any) -> None:
        defined.update(i.name for i in graph.input)
        defined.update(t.name for t in graph.initializer)
        for node in graph.node:
            used.extend(n for n in node.input if n)
            defined.update(node.output)
            for attr in node.attribute:
                if attr.type == 5:  # GRAPH
                    walk(attr.g)
        used.extend(o.name for o in graph.output)

    walk(proto)
    return list(dict.fromkeys(n for n in used if n not in defined))


def _value_info(name: str, value: Value) -> Any:
    from onnx import helper

    dims = None if value.shape is None or value.shape.dims is None else [
        d if d is not None else None for d in value.shape.dims]
    return helper.make_tensor_value_info(name, onnx_elem_type(value.dtype), dims)


def _infer_body(body: BodyContext, proto: Any, bound: Sequence[Optional[Value]]) -> Any:
    """ONNX shape inference of a subgraph, given the types of its inputs and of the outer values
    it reads (the model-level inference leaves bodies mostly untyped)."""
    import onnx
    from onnx import helper

    graph = onnx.GraphProto()
    graph.CopyFrom(proto)
    for info, value in zip(graph.input, bound):
        if value is not None:
            info.type.CopyFrom(_value_info(info.name, value).type)
    from onnx import numpy_helper

    for name in _free_names(proto):
        outer = _outer_value(body, name)
        if outer is None:
            continue
        data = body.const_value(outer)
        if data is not None and data.size <= 4096:  # small constants (axes, shapes): inference reads them
            graph.initializer.append(numpy_helper.from_array(np.asarray(data), name))
        else:
            graph.input.append(_value_info(name, outer))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", body.opset)])
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True).graph
    except Exception:  # noqa: BLE001  (inference is advisory)
        return proto


def _lower_subgraph(body: BodyContext, proto: Any, bound: Sequence[Optional[Value]]) -> list[Value]:
    """Lowers ``proto`` with its formal inputs bound to ``bound``; returns its outputs' values."""
    from ..lower import lower_nodes, onnx_nodes, record_types

    record_types(body, list(proto.value_info) + list(proto.input) + list(proto.output))
    typed = _infer_body(body, proto, bound)
    record_types(body, list(typed.value_info) + list(typed.output))
    for info, value in zip(proto.input, bound):
        if value is not None:
            body.values[info.name] = value
    for tensor in proto.initializer:
        from onnx import numpy_helper

        body.values[tensor.name] = body.const(numpy_helper.to_array(tensor), "init")
    lower_nodes(body, onnx_nodes(proto), body.path)
    outs = []
    for info in proto.output:
        value = body.values.get(info.name)
        if value is None:
            value = body.lookup_outer(info.name)
        if value is None:
            raise body.refuse(f"subgraph output {info.name!r} is produced by no node")
        outs.append(value)
    return outs


def _arg_type(body: BodyContext, info: Any) -> tuple[Optional[DType], Optional[Shape]]:
    from ..lower import tensor_dims

    elem = info.type.tensor_type.elem_type if info.type.HasField("tensor_type") else 0
    dtype = compute_dtype(elem, body) if elem else None
    return dtype, Shape.of(tensor_dims(info.type))


def _identity(ctx: OnnxContext, value: Value) -> Value:
    """A fresh node for a function output (TF.js keys function returns by node)."""
    return ctx.op("Identity", [value], {"T": value.dtype}, dtype=value.dtype, shape=value.shape,
                  suffix="out")


# ----------------------------------------------------------------------------------------- If


def _align_captures(bodies: Sequence[BodyContext]) -> list[Value]:
    """One capture list for several bodies: each body gets an argument for every outer value."""
    order: list[Value] = []
    for body in bodies:
        for outer, _ in body.captures:
            if all(outer is not o for o in order):
                order.append(outer)
    for body in bodies:
        known = {id(o): a for o, a in body.captures}
        formal = [n for n in body.graph.inputs if all(n is not a.producer for a in known.values())]
        args = [known.get(id(o)) or body.argument(f"capture_{i}", o.dtype, o.shape)
                for i, o in enumerate(order)]
        body.graph.inputs = formal + [a.producer for a in args]
    return order


@onnx_op("If", since=1)
def if_(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    cond = ctx.reshape(ctx.cast(ctx.required(node, 0), DType.BOOL), [], "cond")
    branches = []
    for key in ("then_branch", "else_branch"):
        body = _new_body(ctx, key)
        outs = _lower_subgraph(body, node.attr(key), [])
        body.graph.outputs = [(f"output_{i}", _identity(body, v)) for i, v in enumerate(outs)]
        branches.append(body)
    captures = _align_captures(branches)
    if not captures:  # TF.js cannot call a function without arguments: pass the condition along
        for body in branches:
            body.argument("unused", DType.BOOL, Shape(()))
        captures = [cond]
    then_outs = branches[0].graph.outputs
    if len(then_outs) != len(branches[1].graph.outputs):
        raise ctx.refuse("the branches return different numbers of outputs")
    types = [v.dtype or DType.FLOAT for _, v in then_outs]
    attrs = {
        "Tcond": DType.BOOL,
        "Tin": [v.dtype or DType.FLOAT for v in captures],
        "Tout": types,
        "then_branch": FuncAttr(branches[0].graph.name),
        "else_branch": FuncAttr(branches[1].graph.name),
        "output_shapes": [Shape.unknown()] * len(types),
    }
    outs = ctx.op_outputs("StatelessIf", [cond, *captures], attrs, num_outputs=len(types))
    for out, dtype, name in zip(outs, types, node.outputs):
        out.dtype = dtype
        out.shape = Shape.of(ctx.inferred.get(name))
    return list(outs)


# ------------------------------------------------------------------------------------- loops


def _empty_stack(ctx: OnnxContext, dims: Optional[tuple[Optional[int], ...]], dtype: DType) -> Value:
    """A (0, *dims) tensor to which each iteration's output is concatenated."""
    if dims is None or any(d is None for d in dims):
        raise ctx.refuse("a scan output whose per-iteration shape is not static (collecting it needs the "
                         "shape up front)")
    return ctx.const(np.zeros((0, *[int(d) for d in dims]), dtype=dtype.numpy), "empty_stack", dtype)  # type: ignore[arg-type]


def _stack(body: BodyContext, acc: Value, item: Value, prepend: bool = False) -> Value:
    row = body.op("ExpandDims", [item, body.int_const([0], "axis")], {"T": item.dtype, "Tdim": DType.INT32},
                  dtype=item.dtype)
    pieces = [row, acc] if prepend else [acc, row]
    return body.op("ConcatV2", [*pieces, body.int_const([0], "axis")],
                   {"T": item.dtype, "N": 2, "Tidx": DType.INT32}, dtype=item.dtype)


def loop_bodies(ctx: OnnxContext, label: str) -> tuple[BodyContext, BodyContext]:
    """The (body, cond) function contexts of a new StatelessWhile."""
    return _new_body(ctx, f"{label}_body"), _new_body(ctx, f"{label}_cond")


def run_while(ctx: OnnxContext, body: BodyContext, cond: BodyContext, inits: list[Value],
              body_outs: list[Value], cond_out: Value) -> list[Value]:
    return _while(ctx, body, cond, inits, body_outs, cond_out)


def _while(ctx: OnnxContext, body: BodyContext, cond: BodyContext, inits: list[Value],
           body_outs: list[Value], cond_out: Value) -> list[Value]:
    """A StatelessWhile over ``inits`` + the body's captures (carried unchanged)."""
    captures = [outer for outer, _ in body.captures]
    for outer, arg in body.captures:
        body_outs.append(arg)
        cond.argument("capture", outer.dtype, outer.shape)
    body.graph.outputs = [(f"output_{i}", _identity(body, v)) for i, v in enumerate(body_outs)]
    cond.graph.outputs = [("output_0", _identity(cond, cond_out))]
    args = inits + captures
    types = [v.dtype or DType.FLOAT for v in args]
    attrs = {
        "T": types,
        "cond": FuncAttr(cond.graph.name),
        "body": FuncAttr(body.graph.name),
        "output_shapes": [Shape.unknown()] * len(types),
        "parallel_iterations": 10,
    }
    outs = ctx.op_outputs("StatelessWhile", args, attrs, num_outputs=len(args))
    for out, dtype in zip(outs, types):
        out.dtype = dtype
    return list(outs)


@onnx_op("Loop", since=1)
def loop(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    proto = node.attr("body")
    trip, keep_going = ctx.input(node, 0), ctx.input(node, 1)
    states = [ctx.required(node, i) for i in range(2, len(node.inputs))]
    n_scan = len(proto.output) - 1 - len(states)
    int64 = DType.INT64
    limit = ctx.const(np.asarray(_INT32_MAX, np.int64), "no_limit") if trip is None else ctx.reshape(
        ctx.cast(trip, int64), [], "trip")
    go = ctx.const(np.asarray(True), "true") if keep_going is None else ctx.reshape(
        ctx.cast(keep_going, DType.BOOL), [], "cond")
    body = _new_body(ctx, "loop_body")
    i = body.argument("iteration", int64, Shape(()))
    lim = body.argument("limit", int64, Shape(()))
    flag = body.argument("cond", DType.BOOL, Shape(()))
    state_args = [body.argument(f"state_{k}", v.dtype, v.shape) for k, v in enumerate(states)]
    scan_types = [_arg_type(body, info) for info in proto.output[1 + len(states):]]
    stacks = [body.argument(f"stack_{k}", t or DType.FLOAT, None) for k, (t, _) in enumerate(scan_types)]
    outs = _lower_subgraph(body, proto, [i, flag, *state_args])
    next_i = body.binary("AddV2", i, body.const(np.asarray(1, np.int64), "one"))
    new_stacks = [_stack(body, acc, item) for acc, item in zip(stacks, outs[1 + len(states):])]
    body_outs = [next_i, lim, body.reshape(body.cast(outs[0], DType.BOOL), [], "cond"),
                 *outs[1:1 + len(states)], *new_stacks]
    inits = [ctx.const(np.asarray(0, np.int64), "start"), limit, go, *states]
    for k, info in enumerate(proto.output[1 + len(states):]):
        outer = ctx.out_dims(node, len(states) + k)
        dims = body.inferred.get(info.name) or (None if outer is None else outer[1:])
        inits.append(_empty_stack(ctx, dims, scan_types[k][0] or DType.FLOAT))
    cond = _new_body(ctx, "loop_cond")
    c_i, c_lim, c_flag = (cond.argument(n, t, Shape(())) for n, t in
                          (("iteration", int64), ("limit", int64), ("cond", DType.BOOL)))
    for k, v in enumerate([*states, *inits[3 + len(states):]]):
        cond.argument(f"var_{k}", v.dtype, None)
    running = cond.binary("LogicalAnd", cond.binary("Less", c_i, c_lim), c_flag)
    results = _while(ctx, body, cond, inits, body_outs, running)
    del n_scan
    return results[3:3 + len(states) + len(stacks)]


@onnx_op("Scan", since=9)
def scan(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    proto = node.attr("body")
    n_in = int(node.attr("num_scan_inputs"))
    values = [ctx.required(node, i) for i in range(len(node.inputs))]
    states, sequences = values[:len(values) - n_in], values[len(values) - n_in:]
    in_axes = [int(a) for a in node.attr("scan_input_axes", [0] * n_in)]
    in_dirs = [int(d) for d in node.attr("scan_input_directions", [0] * n_in)]
    n_out = len(proto.output) - len(states)
    out_axes = [int(a) for a in node.attr("scan_output_axes", [0] * n_out)]
    out_dirs = [int(d) for d in node.attr("scan_output_directions", [0] * n_out)]
    in_axes = [normalize_axis(a, ctx.rank(s)) for a, s in zip(in_axes, sequences)]
    length = ctx.cast(dim_size(ctx, sequences[0], in_axes[0]), DType.INT32)
    int32 = DType.INT32
    body = _new_body(ctx, "scan_body")
    i = body.argument("iteration", int32, Shape(()))
    n = body.argument("length", int32, Shape(()))
    state_args = [body.argument(f"state_{k}", v.dtype, v.shape) for k, v in enumerate(states)]
    out_types = [_arg_type(body, info) for info in proto.output[len(states):]]
    stacks = [body.argument(f"stack_{k}", t or DType.FLOAT, None) for k, (t, _) in enumerate(out_types)]
    seq_args = [body.argument(f"sequence_{k}", s.dtype, s.shape) for k, s in enumerate(sequences)]
    last = body.binary("Sub", n, body.const(np.asarray(1, np.int32), "one"))
    items = []
    for seq, axis, reverse in zip(seq_args, in_axes, in_dirs):
        index = body.binary("Sub", last, i) if reverse else i
        dims = body.dims(seq)
        items.append(body.op("GatherV2", [seq, index, body.int_const([axis], "axis")],
                             {"Tparams": seq.dtype, "Tindices": int32, "Taxis": int32, "batch_dims": 0},
                             dtype=seq.dtype,
                             shape=None if dims is None else Shape(dims[:axis] + dims[axis + 1:])))
    outs = _lower_subgraph(body, proto, [*state_args, *items])
    new_stacks = [_stack(body, acc, item, prepend=bool(rev))
                  for acc, item, rev in zip(stacks, outs[len(states):], out_dirs)]
    next_i = body.binary("AddV2", i, body.const(np.asarray(1, np.int32), "one"))
    body_outs = [next_i, n, *outs[:len(states)], *new_stacks, *seq_args]
    inits = [ctx.const(np.asarray(0, np.int32), "start"), ctx.reshape(length, [], "length"), *states]
    for k, info in enumerate(proto.output[len(states):]):
        inits.append(_empty_stack(ctx, body.inferred.get(info.name), out_types[k][0] or DType.FLOAT))
    inits += sequences
    cond = _new_body(ctx, "scan_cond")
    c_i, c_n = cond.argument("iteration", int32, Shape(())), cond.argument("length", int32, Shape(()))
    for k, v in enumerate(inits[2:]):
        cond.argument(f"var_{k}", v.dtype, None)
    results = _while(ctx, body, cond, inits, body_outs, cond.binary("Less", c_i, c_n))
    final_states = results[2:2 + len(states)]
    scanned = results[2 + len(states):2 + len(states) + n_out]
    moved = []
    for k, (value, axis) in enumerate(zip(scanned, out_axes)):
        rank = len(body.inferred.get(proto.output[len(states) + k].name) or ()) + 1
        axis = normalize_axis(axis, rank)
        if axis:
            perm = list(range(1, rank))
            perm.insert(axis, 0)
            value = ctx.transpose(value, perm, "scan_axis")
        moved.append(value)
    return [*final_states, *moved]
