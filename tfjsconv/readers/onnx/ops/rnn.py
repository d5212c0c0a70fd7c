"""ONNX LSTM, GRU and RNN: forward, reverse and bidirectional, with sequence_lens, initial states,
peepholes, clip, the activation attributes and both layouts.

The input projection of every time step is one MatMul; the recurrence is unrolled when the sequence
length is static, and a StatelessWhile over the time steps when it is only known at run time.  With
``sequence_lens``, a batch entry's state stops changing after its last step and its outputs there are
zero; a reverse pass then starts at each entry's own last step, as ONNX defines it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType, Shape
from . import OnnxContext, OnnxNode, onnx_op
from .common import dim_size
from .math import matmul_values

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
_DEFAULT_ACTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}


@dataclass
class _Act:
    name: str
    alpha: Optional[float]
    beta: Optional[float]


Activation = Callable[[OnnxContext, Value], Value]


def _activation(act: _Act, clip: Optional[float]) -> Activation:
    def apply(ctx: OnnxContext, x: Value) -> Value:
        if clip is not None:
            x = ctx.op("ClipByValue", [x, ctx.scalar(-clip, x), ctx.scalar(clip, x)], {"T": x.dtype},
                       dtype=x.dtype, shape=x.shape)
        name, a, b = act.name.lower(), act.alpha, act.beta
        if name in ("sigmoid", "tanh", "relu", "softsign", "softplus"):
            return ctx.unary(name.capitalize() if name != "softsign" else "Softsign", x)
        if name == "leakyrelu":
            return ctx.unary("LeakyRelu", x, {"alpha": 0.01 if a is None else a})
        if name == "thresholdedrelu":
            keep = ctx.binary("Greater", x, ctx.scalar(1.0 if a is None else a, x))
            return ctx.select(keep, x, ctx.op("ZerosLike", [x], {"T": x.dtype}, dtype=x.dtype, shape=x.shape))
        if name == "scaledtanh":
            inner = ctx.unary("Tanh", ctx.binary("Mul", x, ctx.scalar(1.0 if b is None else b, x)))
            return ctx.binary("Mul", inner, ctx.scalar(1.0 if a is None else a, x))
        if name == "hardsigmoid":
            linear = ctx.binary("AddV2", ctx.binary("Mul", x, ctx.scalar(0.2 if a is None else a, x)),
                                ctx.scalar(0.5 if b is None else b, x))
            return ctx.op("ClipByValue", [linear, ctx.scalar(0.0, x), ctx.scalar(1.0, x)], {"T": x.dtype},
                          dtype=x.dtype, shape=x.shape)
        if name == "elu":
            alpha = 1.0 if a is None else a
            negative = ctx.binary("Mul", ctx.unary("Expm1", x), ctx.scalar(alpha, x))
            return ctx.select(ctx.binary("Greater", x, ctx.scalar(0.0, x)), x, negative)
        if name == "affine":
            return ctx.binary("AddV2", ctx.binary("Mul", x, ctx.scalar(1.0 if a is None else a, x)),
                              ctx.scalar(0.0 if b is None else b, x))
        raise ctx.refuse(f"activation {act.name!r}")

    return apply


def _activations(ctx: OnnxContext, node: OnnxNode, kind: str, directions: int) -> list[list[Activation]]:
    names = node.attr("activations")
    per = len(_DEFAULT_ACTS[kind])
    raw = [n.decode() if isinstance(n, bytes) else str(n) for n in names] if names else \
        _DEFAULT_ACTS[kind] * directions
    alphas = list(node.attr("activation_alpha") or [])
    betas = list(node.attr("activation_beta") or [])
    clip = node.attr("clip")
    clip_value = None if clip is None else float(clip)
    acts = [_Act(n, float(alphas[i]) if i < len(alphas) else None,
                 float(betas[i]) if i < len(betas) else None) for i, n in enumerate(raw)]
    if len(acts) < per * directions:
        raise ctx.refuse(f"{len(acts)} activations for {directions} direction(s), {per} needed each")
    return [[_activation(a, clip_value) for a in acts[d * per:(d + 1) * per]] for d in range(directions)]


def _take(ctx: OnnxContext, v: Value, index: int, suffix: str) -> Value:
    """``v[index]`` along axis 0."""
    dims = ctx.dims(v)
    position = ctx.const(np.asarray(index, np.int32), "index")
    return ctx.op("GatherV2", [v, position, ctx.int_const([0], "axis")],
                  {"Tparams": v.dtype, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                  dtype=v.dtype, shape=None if dims is None else Shape(dims[1:]), suffix=suffix)


def _split_last(ctx: OnnxContext, v: Value, parts: int) -> list[Value]:
    if parts == 1:
        return [v]
    outs = list(ctx.op_outputs("Split", [ctx.int_const([-1], "axis"), v], {"T": v.dtype, "num_split": parts},
                               dtype=v.dtype, num_outputs=parts))
    dims = ctx.dims(v)
    if dims is not None and dims[-1] is not None:
        for out in outs:
            out.shape = Shape(tuple(dims[:-1]) + (int(dims[-1]) // parts,))
    return outs


@dataclass
class _Direction:
    w_t: Value  # [I, G*H]
    r_t: Value  # [H, G*H]
    w_bias: Optional[Value]  # [G*H]
    r_bias: Optional[Value]
    peep: Optional[list[Value]]  # LSTM: p_i, p_o, p_f, each [H]
    acts: list[Activation]


def _cell(ctx: OnnxContext, kind: str, d: _Direction, x_proj: Value, h: Value, c: Optional[Value],
          hidden: int, linear_before_reset: bool, input_forget: bool) -> tuple[Value, Optional[Value]]:
    """One time step: (h, c) -> (h', c'), with ``x_proj`` = X_t W^T + Wb already computed."""
    f = d.acts[0]
    if kind == "RNN":
        pre = ctx.binary("AddV2", x_proj, matmul_values(ctx, h, d.r_t))
        if d.r_bias is not None:
            pre = ctx.binary("AddV2", pre, d.r_bias)
        return f(ctx, pre), None
    g = d.acts[1]
    if kind == "GRU":
        xz, xr, xh = _split_last(ctx, x_proj, 3)
        rz_t, rr_t, rh_t = _split_last(ctx, d.r_t, 3)
        rbz = rbr = rbh = None
        if d.r_bias is not None:
            rbz, rbr, rbh = _split_last(ctx, d.r_bias, 3)

        def rec(state: Value, weight: Value, bias: Optional[Value]) -> Value:
            out = matmul_values(ctx, state, weight)
            return out if bias is None else ctx.binary("AddV2", out, bias)

        z = f(ctx, ctx.binary("AddV2", xz, rec(h, rz_t, rbz)))
        r = f(ctx, ctx.binary("AddV2", xr, rec(h, rr_t, rbr)))
        if linear_before_reset:
            candidate = ctx.binary("AddV2", xh, ctx.binary("Mul", r, rec(h, rh_t, rbh)))
        else:
            candidate = ctx.binary("AddV2", xh, rec(ctx.binary("Mul", r, h), rh_t, rbh))
        hh = g(ctx, candidate)
        keep = ctx.binary("Mul", z, h)
        update = ctx.binary("Mul", ctx.binary("Sub", ctx.scalar(1.0, hh), z), hh)
        return ctx.binary("AddV2", update, keep), None
    assert c is not None
    hact = d.acts[2]
    pre = ctx.binary("AddV2", x_proj, matmul_values(ctx, h, d.r_t))
    if d.r_bias is not None:
        pre = ctx.binary("AddV2", pre, d.r_bias)
    pi, po, pf, pc = _split_last(ctx, pre, 4)
    if d.peep is not None:
        pi = ctx.binary("AddV2", pi, ctx.binary("Mul", d.peep[0], c))
        pf = ctx.binary("AddV2", pf, ctx.binary("Mul", d.peep[2], c))
    i = f(ctx, pi)
    forget = ctx.binary("Sub", ctx.scalar(1.0, i), i) if input_forget else f(ctx, pf)
    new_c = ctx.binary("AddV2", ctx.binary("Mul", forget, c), ctx.binary("Mul", i, g(ctx, pc)))
    if d.peep is not None:
        po = ctx.binary("AddV2", po, ctx.binary("Mul", d.peep[1], new_c))
    o = f(ctx, po)
    return ctx.binary("Mul", o, hact(ctx, new_c)), new_c


def _direction(ctx: OnnxContext, node: OnnxNode, kind: str, index: int, acts: list[Activation],
               hidden: int) -> _Direction:
    gates = _GATES[kind]
    w = _take(ctx, ctx.required(node, 1), index, "w")
    r = _take(ctx, ctx.required(node, 2), index, "r")
    w_bias = r_bias = None
    b = ctx.input(node, 3)
    if b is not None:
        w_bias, r_bias = _split_last(ctx, _take(ctx, b, index, "b"), 2)
    peep = None
    if kind == "LSTM":
        p = ctx.input(node, 7)
        if p is not None:
            peep = _split_last(ctx, _take(ctx, p, index, "p"), 3)
    del gates
    return _Direction(ctx.transpose(w, [1, 0], "w_t"), ctx.transpose(r, [1, 0], "r_t"), w_bias, r_bias, peep,
                      acts)


def _initial(ctx: OnnxContext, value: Optional[Value], index: int, batch: Value, hidden: int,
             like: Value) -> Value:
    if value is not None:
        return _take(ctx, value, index, "init")
    dims = ctx.op("Pack", [batch, ctx.const(np.asarray(hidden, np.int32), "hidden")],
                  {"T": DType.INT32, "N": 2, "axis": 0}, dtype=DType.INT32, shape=Shape((2,)))
    batch_dim = (ctx.dims(like) or (None, None))[1]
    return ctx.op("Fill", [dims, ctx.scalar(0.0, like)], {"T": like.dtype, "index_type": DType.INT32},
                  dtype=like.dtype, shape=Shape((batch_dim, hidden)))


def _run_direction(ctx: OnnxContext, kind: str, d: _Direction, steps: Sequence[Value], h: Value,
                   c: Optional[Value], reverse: bool, lengths: Optional[Value], hidden: int,
                   linear_before_reset: bool, input_forget: bool
                   ) -> tuple[list[Value], Value, Optional[Value]]:
    outs: list[Optional[Value]] = [None] * len(steps)
    order = range(len(steps) - 1, -1, -1) if reverse else range(len(steps))
    zeros = ctx.op("ZerosLike", [h], {"T": h.dtype}, dtype=h.dtype, shape=h.shape)
    for t in order:
        new_h, new_c = _cell(ctx, kind, d, steps[t], h, c, hidden, linear_before_reset, input_forget)
        if lengths is not None:  # entries whose sequence has ended keep their state and output zeros
            live = ctx.binary("Less", ctx.const(np.asarray(t, np.int32), "t"), lengths)
            live = ctx.op("ExpandDims", [live, ctx.int_const([1], "axis")],
                          {"T": DType.BOOL, "Tdim": DType.INT32}, dtype=DType.BOOL, shape=Shape((None, 1)))
            outs[t] = ctx.select(live, new_h, zeros)
            h = ctx.select(live, new_h, h)
            if c is not None and new_c is not None:
                c = ctx.select(live, new_c, c)
        else:
            outs[t] = new_h
            h, c = new_h, new_c
    return [o for o in outs if o is not None], h, c


def _proj_shape(ctx: OnnxContext, x: Value, width: int) -> Value:
    """[steps, batch, width] of a time-major ``x`` whose dims are known at run time only."""
    lead = ctx.slice_1d(ctx.shape_of(x), 0, 2)
    return ctx.op("ConcatV2", [lead, ctx.int_const([width], "width"), ctx.int_const([0], "axis")],
                  {"T": DType.INT32, "N": 2, "Tidx": DType.INT32}, dtype=DType.INT32, shape=Shape((3,)))


def _loop_direction(ctx: OnnxContext, kind: str, d: _Direction, proj: Value, h0: Value, c0: Optional[Value],
                    reverse: bool, lengths: Optional[Value], hidden: int, linear_before_reset: bool,
                    input_forget: bool) -> tuple[Value, Value, Optional[Value]]:
    """One direction as a StatelessWhile over the steps of ``proj`` ([steps, batch, gates])."""
    from .control import loop_bodies, run_while

    body, cond = loop_bodies(ctx, "rnn")
    int32 = DType.INT32
    steps = ctx.reshape(dim_size(ctx, proj, 0), [], "steps")
    empty_dims = ctx.op("Pack", [ctx.const(np.asarray(0, np.int32), "zero"), dim_size(ctx, proj, 1),
                                 ctx.const(np.asarray(hidden, np.int32), "hidden")],
                        {"T": int32, "N": 3, "axis": 0}, dtype=int32, shape=Shape((3,)))
    empty = ctx.op("Fill", [empty_dims, ctx.scalar(0.0, h0)], {"T": h0.dtype, "index_type": int32},
                   dtype=h0.dtype, shape=Shape((0, None, hidden)))
    inits = [ctx.const(np.asarray(0, np.int32), "start"), steps, h0, *([c0] if c0 is not None else []), empty]
    t = body.argument("t", int32, Shape(()))
    n = body.argument("steps", int32, Shape(()))
    h = body.argument("h", h0.dtype, h0.shape)
    c = body.argument("c", h0.dtype, h0.shape) if c0 is not None else None
    acc = body.argument("y", h0.dtype, Shape((None, None, hidden)))
    index = body.binary("Sub", body.binary("Sub", n, body.const(np.asarray(1, np.int32), "one")), t) \
        if reverse else t
    x_t = body.op("GatherV2", [body.bring(proj), index, body.int_const([0], "axis")],
                  {"Tparams": proj.dtype, "Tindices": int32, "Taxis": int32, "batch_dims": 0},
                  dtype=proj.dtype, shape=Shape(tuple((ctx.dims(proj) or (None,) * 3)[1:])))
    inner = _Direction(body.bring(d.w_t), body.bring(d.r_t), *(None if v is None else body.bring(v)
                                                               for v in (d.w_bias, d.r_bias)),
                       None if d.peep is None else [body.bring(p) for p in d.peep], d.acts)
    new_h, new_c = _cell(body, kind, inner, x_t, h, c, hidden, linear_before_reset, input_forget)
    y_t = new_h
    if lengths is not None:
        live = body.binary("Less", index, body.bring(lengths))
        live = body.op("ExpandDims", [live, body.int_const([1], "axis")], {"T": DType.BOOL, "Tdim": int32},
                       dtype=DType.BOOL, shape=Shape((None, 1)))
        zeros = body.op("ZerosLike", [h], {"T": h.dtype}, dtype=h.dtype, shape=h.shape)
        y_t = body.select(live, new_h, zeros)
        new_h = body.select(live, new_h, h)
        if c is not None and new_c is not None:
            new_c = body.select(live, new_c, c)
    row = body.op("ExpandDims", [y_t, body.int_const([0], "axis")], {"T": h.dtype, "Tdim": int32},
                  dtype=h.dtype)
    pieces = [row, acc] if reverse else [acc, row]
    new_acc = body.op("ConcatV2", [*pieces, body.int_const([0], "axis")],
                      {"T": h.dtype, "N": 2, "Tidx": int32}, dtype=h.dtype)
    next_t = body.binary("AddV2", t, body.const(np.asarray(1, np.int32), "one"))
    body_outs = [next_t, n, new_h, *([new_c] if new_c is not None else []), new_acc]
    c_t = cond.argument("t", int32, Shape(()))
    c_n = cond.argument("steps", int32, Shape(()))
    for k, v in enumerate(inits[2:]):
        cond.argument(f"var_{k}", v.dtype, None)
    outs = run_while(ctx, body, cond, inits, body_outs, cond.binary("Less", c_t, c_n))
    final_h = outs[2]
    final_c = outs[3] if c0 is not None else None
    return outs[len(inits) - 1], final_h, final_c


def _rnn(ctx: OnnxContext, node: OnnxNode, kind: str) -> list[Optional[Value]]:
    x = ctx.required(node, 0)
    layout = int(node.attr("layout", 0))
    if layout:
        x = ctx.transpose(x, [1, 0, 2], "time_major")
    direction = node.attr("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else str(direction)
    if direction not in ("forward", "reverse", "bidirectional"):
        raise ctx.refuse(f"direction {direction!r}")
    count = 2 if direction == "bidirectional" else 1
    wdims = ctx.static_dims(ctx.required(node, 1), "W")
    hidden = int(node.attr("hidden_size", wdims[1] // _GATES[kind]))
    dims = ctx.dims(x)
    if dims is None or len(dims) != 3:
        raise ctx.refuse("X must be 3-D")
    steps_count, input_size = dims[0], wdims[2]
    batch = dim_size(ctx, x, 1)
    lengths = ctx.input(node, 4)
    if lengths is not None:
        lengths = ctx.cast(lengths, DType.INT32)
    acts = _activations(ctx, node, kind, count)
    flat = ctx.reshape(x, [-1, input_size], "flat")
    y_dirs, h_dirs, c_dirs = [], [], []
    for index in range(count):
        d = _direction(ctx, node, kind, index, acts[index], hidden)
        proj = matmul_values(ctx, flat, d.w_t)
        if d.w_bias is not None:
            proj = ctx.binary("AddV2", proj, d.w_bias)
        h0 = _initial(ctx, ctx.input(node, 5), index, batch, hidden, x)
        c0 = _initial(ctx, ctx.input(node, 6), index, batch, hidden, x) if kind == "LSTM" else None
        reverse = direction == "reverse" or index == 1
        flags = (bool(int(node.attr("linear_before_reset", 0))), bool(int(node.attr("input_forget", 0))))
        if steps_count is None:  # a run-time sequence length: a loop over the time steps
            proj = ctx.op("Reshape", [proj, _proj_shape(ctx, x, _GATES[kind] * hidden)],
                          {"T": proj.dtype, "Tshape": DType.INT32}, dtype=proj.dtype,
                          shape=Shape((None, dims[1], _GATES[kind] * hidden)))
            y_dir, h, c = _loop_direction(ctx, kind, d, proj, h0, c0, reverse, lengths, hidden, *flags)
            y_dirs.append(y_dir)
            h_dirs.append(h)
            c_dirs.append(c)
            continue
        proj = ctx.reshape(proj, [int(steps_count), -1, _GATES[kind] * hidden], "proj")
        steps = list(ctx.op_outputs("Unpack", [proj], {"T": proj.dtype, "num": int(steps_count), "axis": 0},
                                    dtype=proj.dtype, num_outputs=int(steps_count)))
        for step in steps:
            step.shape = Shape((dims[1], _GATES[kind] * hidden))
        ys, h, c = _run_direction(ctx, kind, d, steps, h0, c0, reverse, lengths, hidden, *flags)
        y_dirs.append(ctx.op("Pack", ys, {"T": x.dtype, "N": len(ys), "axis": 0}, dtype=x.dtype))
        h_dirs.append(h)
        c_dirs.append(c)
    y = ctx.op("Pack", y_dirs, {"T": x.dtype, "N": count, "axis": 1}, dtype=x.dtype)
    y_h = ctx.op("Pack", h_dirs, {"T": x.dtype, "N": count, "axis": 0}, dtype=x.dtype)
    y_c = None
    if kind == "LSTM":
        y_c = ctx.op("Pack", c_dirs, {"T": x.dtype, "N": count, "axis": 0}, dtype=x.dtype)
    if layout:
        y = ctx.transpose(y, [2, 0, 1, 3], "batch_major")
        y_h = ctx.transpose(y_h, [1, 0, 2], "batch_major")
        y_c = ctx.transpose(y_c, [1, 0, 2], "batch_major") if y_c is not None else None
    outs: list[Optional[Value]] = [y, y_h] + ([y_c] if kind == "LSTM" else [])
    for i, out in enumerate(outs):
        if out is not None:
            out.shape = Shape.of(ctx.out_dims(node, i))
    return outs


@onnx_op("LSTM", since=1)
def lstm(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return _rnn(ctx, node, "LSTM")


@onnx_op("GRU", since=1)
def gru(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return _rnn(ctx, node, "GRU")


@onnx_op("RNN", since=1)
def rnn(ctx: OnnxContext, node: OnnxNode) -> list[Optional[Value]]:
    return _rnn(ctx, node, "RNN")
