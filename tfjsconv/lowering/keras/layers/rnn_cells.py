"""The step functions of Keras's built-in recurrent cells (SimpleRNN, LSTM, GRU) as TF ops.

A cell turns the input projection of one time step (``x_t @ kernel + bias``, computed for the whole
sequence at once by ``project``) and the previous states into the step's output and new states.
``None`` stands for an all-zero state (the first step without an ``initial_state``): the recurrent
MatMul and the terms it would zero are left out instead of being computed on zeros.

The gate arithmetic follows tf-keras 2 and Keras 3, which agree::

    LSTM   z = x W + h U + b;  i, f, c~, o = split(z);  c' = f c + i act(c~);  h' = o act(c')
    GRU    reset_after: x_z, x_r, x_h = x W + b_in;  r_z, r_r, r_h = h U + b_rec
           z = ract(x_z + r_z);  r = ract(x_r + r_r);  h~ = act(x_h + r * r_h)
           otherwise:  z, r as above from h U[:, :2u];  h~ = act(x_h + (r h) U[:, 2u:])
           h' = z h + (1 - z) h~
    Simple h' = act(x W + b + h U)

LSTM kernels are reordered to (i, f, o, c~) once, as derived constants, so the three recurrent
activations are one op on one contiguous slice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ....ir.graph import ArrayLike, Value
from ....ir.types import DType, Shape
from ...builder import Builder
from ..activations import activation_name, apply_activation
from ..registry import LayerCall, LayerWeights, Refusal

JsonDict = dict[str, Any]

CELL_KINDS = {"SimpleRNN": "simple", "SimpleRNNCell": "simple", "LSTM": "lstm", "LSTMCell": "lstm",
              "GRU": "gru", "GRUCell": "gru"}
_NOT_ELEMENTWISE = ("softmax", "log_softmax", "glu", "sparsemax")


def _lstm_order(units: int) -> np.ndarray:
    """Column order (i, f, o, c~) from Keras's (i, f, c~, o)."""
    i, f, c, o = (np.arange(k * units, (k + 1) * units) for k in range(4))
    return np.concatenate([i, f, o, c])


@dataclass
class Cell:
    kind: str  # "simple" | "lstm" | "gru"
    units: int
    config: JsonDict
    call: LayerCall
    kernel: ArrayLike
    recurrent: ArrayLike
    bias: Optional[ArrayLike]
    label: str  # name prefix of this cell's constants

    @property
    def b(self) -> Builder:
        return self.call.builder

    @property
    def channel_axis(self) -> int:
        """The axis of a step's tensors (batch, ..., channels) that holds the gates."""
        return 1

    @property
    def state_count(self) -> int:
        return 2 if self.kind == "lstm" else 1

    @property
    def reset_after(self) -> bool:
        return self.kind == "gru" and bool(self.config.get("reset_after", True))

    # ----- constants ----------------------------------------------------------------------------
    def _derived(self, source: ArrayLike, tag: str, fn: Any, name: str) -> Value:
        return self.b.derived_weight(source, tag, fn, f"{self.label}/{name}")

    def _input_kernel(self) -> Value:
        if self.kind == "lstm":
            order = _lstm_order(self.units)
            return self._derived(self.kernel, "ifoc", lambda k: k[:, order], "kernel")
        return self.b.weight(self.kernel, f"{self.label}/kernel")

    def _input_bias(self) -> Optional[Value]:
        if self.bias is None:
            return None
        if self.kind == "lstm":
            order = _lstm_order(self.units)
            return self._derived(self.bias, "ifoc", lambda v: v[order], "bias")
        if self.reset_after:
            return self._derived(self.bias, "input", lambda v: v[0], "input_bias")
        return self.b.weight(self.bias, f"{self.label}/bias")

    def _recurrent_kernel(self, part: str = "all") -> Value:
        u = self.units
        if self.kind == "lstm":
            order = _lstm_order(u)
            return self._derived(self.recurrent, "ifoc", lambda k: k[:, order], "recurrent_kernel")
        if self.kind == "gru" and not self.reset_after:
            cols = slice(0, 2 * u) if part == "zr" else slice(2 * u, 3 * u)
            return self._derived(self.recurrent, part, lambda k: k[:, cols], f"recurrent_kernel_{part}")
        return self.b.weight(self.recurrent, f"{self.label}/recurrent_kernel")

    def _recurrent_bias(self) -> Optional[Value]:
        if self.bias is None or not self.reset_after:
            return None
        return self._derived(self.bias, "recurrent", lambda v: v[1], "recurrent_bias")

    def _recurrent_bias_part(self, part: str) -> Optional[Value]:
        """Slices of the reset_after recurrent bias, for the first step (where h U is zero)."""
        if self.bias is None:
            return None
        u = self.units
        cols = slice(0, 2 * u) if part == "zr" else slice(2 * u, 3 * u)
        return self._derived(self.bias, f"recurrent_{part}", lambda v: v[1][cols], f"recurrent_bias_{part}")

    # ----- projections ----------------------------------------------------------------------------
    def project(self, x: Value) -> list[Value]:
        """``x @ kernel + bias`` over the last axis of a rank-2 or rank-3 input, split into the
        pieces the step reads (GRU: the z/r gates and the candidate; others: one piece)."""
        b = self.b
        shape = x.shape.dims if x.shape is not None else None
        if shape is None:
            raise Refusal("needs the rank of its input, which is unknown")
        flat = x if len(shape) == 2 else b.reshape(x, [-1, shape[-1]], "input_projection/flat")
        y = b.op("MatMul", [flat, self._input_kernel()], {"transpose_a": False, "transpose_b": False},
                 name="input_projection")
        bias = self._input_bias()
        if bias is not None:
            y = b.op("BiasAdd", [y, bias], {"data_format": b"NHWC"}, name="input_projection/bias")
        width = y.shape.dims[-1] if y.shape is not None and y.shape.dims else None
        if len(shape) == 3 and shape[1] is not None:
            y = b.reshape(y, [-1, shape[1], width], "input_projection/steps")
        elif len(shape) == 3:  # both leading axes unknown: take them from the input's run-time shape
            lead = b.op("StridedSlice", [b.op("Shape", [x], {"out_type": DType.INT32, "T": x.dtype},
                                              name="input_projection/shape", dtype=DType.INT32),
                                         b.ints([0], "lead/begin"), b.ints([2], "lead/end"),
                                         b.ints([1], "lead/strides")],
                        {"Index": DType.INT32, "T": DType.INT32, "begin_mask": 0, "end_mask": 0,
                         "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0},
                        name="input_projection/lead", dtype=DType.INT32)
            target = b.concat([lead, b.ints([int(width)], "input_projection/width")], 0,
                              "input_projection/dims")
            y = b.op("Reshape", [y, target], {"Tshape": DType.INT32}, name="input_projection/steps")
            y.shape = Shape.of((None, None, width))
        if self.kind != "gru":
            return [y]
        u = self.units
        axis = len(shape) - 1
        return b.outputs("SplitV", [y, b.ints([2 * u, u], "gates/sizes"), b.ints([axis], "gates/axis")],
                         {"num_split": 2, "T": y.dtype, "Tlen": DType.INT32}, num_outputs=2, name="gates")

    # ----- one step -------------------------------------------------------------------------------
    def _act(self, x: Value, key: str) -> Value:
        return apply_activation(self.b, x, self.config.get(key), self.call.keras3)

    def _matmul(self, h: Value, kernel: Value, name: str) -> Value:
        return self.b.op("MatMul", [h, kernel], {"transpose_a": False, "transpose_b": False}, name=name)

    def step(self, pieces: Sequence[Value], states: Sequence[Optional[Value]]) -> tuple[Value, list[Value]]:
        if self.kind == "simple":
            return self._simple(pieces[0], states[0])
        if self.kind == "lstm":
            return self._lstm(pieces[0], states[0], states[1])
        return self._gru(pieces[0], pieces[1], states[0])

    def _simple(self, x: Value, h: Optional[Value]) -> tuple[Value, list[Value]]:
        if h is not None:
            x = self.b.binary("AddV2", x, self._matmul(h, self._recurrent_kernel(), "recurrent"))
        z = x
        out = self._act(z, "activation")
        return out, [out]

    def _lstm(self, x: Value, h: Optional[Value], c: Optional[Value]) -> tuple[Value, list[Value]]:
        b, u = self.b, self.units
        z = x if h is None else b.binary("AddV2", x, self._matmul(h, self._recurrent_kernel(), "recurrent"))
        sig, cand = b.outputs("SplitV", [z, b.ints([3 * u, u], "gates/sizes"),
                                         b.ints([self.channel_axis], "gates/axis")],
                              {"num_split": 2, "T": z.dtype,
                               "Tlen": DType.INT32}, num_outputs=2, name="gates")
        gates = self._act(sig, "recurrent_activation")
        i, f, o = b.outputs("Split", [b.ints([self.channel_axis], "ifo/axis"), gates],
                            {"num_split": 3, "T": gates.dtype},
                            num_outputs=3, name="ifo", dtype=gates.dtype)
        new_c = b.binary("Mul", i, self._act(cand, "activation"))
        if c is not None:
            new_c = b.binary("AddV2", b.binary("Mul", f, c), new_c)
        new_h = b.binary("Mul", o, self._act(new_c, "activation"))
        return new_h, [new_h, new_c]

    def _gru(self, x_zr: Value, x_h: Value, h: Optional[Value]) -> tuple[Value, list[Value]]:
        b, u = self.b, self.units
        rec_h: Optional[Value] = None
        if h is None:
            rec_zr = self._recurrent_bias_part("zr") if self.reset_after else None
            rec_h = self._recurrent_bias_part("h") if self.reset_after else None
        elif self.reset_after:
            rec = self._matmul(h, self._recurrent_kernel(), "recurrent")
            bias = self._recurrent_bias()
            if bias is not None:
                rec = b.op("BiasAdd", [rec, bias], {"data_format": b"NHWC"}, name="recurrent/bias")
            rec_zr, rec_h = b.outputs("SplitV", [rec, b.ints([2 * u, u], "recurrent/sizes"),
                                                 b.ints([self.channel_axis], "recurrent/axis")],
                                      {"num_split": 2, "T": rec.dtype, "Tlen": DType.INT32}, num_outputs=2,
                                      name="recurrent/split")
        else:
            rec_zr = self._matmul(h, self._recurrent_kernel("zr"), "recurrent_zr")
        zr = x_zr if rec_zr is None else b.binary("AddV2", x_zr, rec_zr)
        zr = self._act(zr, "recurrent_activation")
        z, r = b.outputs("Split", [b.ints([self.channel_axis], "zr/axis"), zr],
                         {"num_split": 2, "T": zr.dtype},
                         num_outputs=2,
                         name="zr", dtype=zr.dtype)
        if self.reset_after:
            cand = x_h if rec_h is None else b.binary("AddV2", x_h, b.binary("Mul", r, rec_h))
        elif h is None:
            cand = x_h
        else:
            rh = self._matmul(b.binary("Mul", r, h), self._recurrent_kernel("h"), "recurrent_h")
            cand = b.binary("AddV2", x_h, rh)
        hh = self._act(cand, "activation")
        if h is None:  # z * 0 + (1 - z) * hh
            new_h = b.binary("Sub", hh, b.binary("Mul", z, hh))
        else:  # z * h + (1 - z) * hh, written as hh + z (h - hh)
            new_h = b.binary("AddV2", hh, b.binary("Mul", z, b.binary("Sub", h, hh)))
        return new_h, [new_h]


def check_cell_config(config: JsonDict, cls: str) -> None:
    for key in ("activation", "recurrent_activation"):
        name = activation_name(config.get(key)) if key in config else None
        if name in _NOT_ELEMENTWISE:
            raise Refusal(f"{key} {name!r} of a recurrent cell is not elementwise")


def _gate_count(kind: str) -> int:
    return {"simple": 1, "lstm": 4, "gru": 3}[kind]


def make_cell(call: LayerCall, cls: str, config: JsonDict, weights: LayerWeights, in_dim: Optional[int],
              label: str) -> Cell:
    """A cell of class ``cls`` whose variables are the ``kernel``/``recurrent_kernel``/``bias`` of
    ``weights`` (a view of the layer's stored variables), their shapes checked against ``config``."""
    kind = CELL_KINDS.get(cls)
    if kind is None:
        raise Refusal(f"recurrent cell class {cls!r} has no lowering")
    check_cell_config(config, cls)
    units = int(config["units"])
    gates = _gate_count(kind) * units
    view = dataclasses.replace(call, config=config, weights=weights)
    kernel = view.weight_array("kernel", shape=(in_dim, gates))
    recurrent = view.weight_array("recurrent_kernel", shape=(units, gates))
    bias = None
    if config.get("use_bias", True):
        reset_after = kind == "gru" and bool(config.get("reset_after", True))
        bias = view.weight_array("bias", shape=(2, gates) if reset_after else (gates,))
    return Cell(kind, units, config, view, kernel, recurrent, bias, label)
