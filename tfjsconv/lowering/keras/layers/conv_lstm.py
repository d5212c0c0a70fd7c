"""ConvLSTM1D/2D/3D: the LSTM recurrence with convolutions instead of matrix products.

Keras's ConvLSTMCell convolves the input with ``kernel`` (the layer's strides, padding and dilation)
and the previous h with ``recurrent_kernel`` (stride 1, "same" padding, no dilation), adds the bias
and applies the LSTM gates along the channel axis.  The input convolution of every step is one
convolution over (batch * time, ...); the loop is unrolled (the sequence length must be static).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ....ir.graph import Value
from ...builder import dims
from ..registry import LayerCall, Lowered, Refusal, lower_layer, static_dims
from .recurrent import LoopOptions, _initial_states, check_layer_options, run_loop
from .rnn_cells import Cell, _lstm_order


def _ints(value: Any, rank: int) -> list[int]:
    items = list(value) if isinstance(value, (list, tuple)) else [value] * rank
    if len(items) != rank:
        raise Refusal(f"expects {rank} values, got {value!r}")
    return [int(v) for v in items]


@dataclass
class ConvLSTMCell(Cell):
    rank: int = 2  # spatial dimensions
    strides: list[int] = field(default_factory=list)
    dilations: list[int] = field(default_factory=list)
    padding: str = "valid"

    @property
    def channel_axis(self) -> int:
        return self.rank + 1

    def _arranged(self, source: Any, tag: str, name: str) -> Value:
        """A kernel with its gate columns in (i, f, o, c~) order, given a leading 1 for 1-D convolutions."""
        order = _lstm_order(self.units)
        lift = self.rank == 1
        return self._derived(source, tag, lambda k: (k[None] if lift else k)[..., order], name)

    def _input_kernel(self) -> Value:
        return self._arranged(self.kernel, "conv_ifoc", "kernel")

    def _recurrent_kernel(self, part: str = "all") -> Value:
        return self._arranged(self.recurrent, "conv_ifoc", "recurrent_kernel")

    def _conv(self, x: Value, kernel: Value, strides: list[int], dilations: list[int], padding: str,
              name: str) -> Value:
        b = self.b
        if self.rank == 1:
            x = b.expand_dims(x, 1, f"{name}/expand")
            strides, dilations = [1, *strides], [1, *dilations]
        op = "Conv3D" if self.rank == 3 else "Conv2D"
        attrs: dict[str, Any] = {"strides": [1, *strides, 1], "dilations": [1, *dilations, 1],
                                 "padding": padding.upper().encode(),
                                 "data_format": b"NDHWC" if op == "Conv3D" else b"NHWC"}
        if op == "Conv2D":
            attrs.update({"explicit_paddings": [], "use_cudnn_on_gpu": True})
        y = b.op(op, [x, kernel], attrs, name=name)
        return b.squeeze(y, [1], f"{name}/squeeze") if self.rank == 1 else y

    def project(self, x: Value) -> list[Value]:
        b = self.b
        shape = dims(x)
        if shape is None or len(shape) != self.rank + 3 or any(d is None for d in shape[1:]):
            raise Refusal("needs a (batch, time, ...spatial, channels) input with static dimensions")
        steps, spatial_in = shape[1], shape[2:]
        flat = b.reshape(x, [-1, *spatial_in], "input_projection/flat")
        y = self._conv(flat, self._input_kernel(), self.strides, self.dilations, self.padding,
                       "input_projection")
        bias = self._input_bias()
        if bias is not None:
            y = b.op("BiasAdd", [y, bias], {"data_format": b"NHWC"}, name="input_projection/bias")
        out = dims(y)
        if out is None or any(d is None for d in out[1:]):
            raise Refusal("the input convolution has an output of unknown shape")
        return [b.reshape(y, [-1, steps, *out[1:]], "input_projection/steps")]

    def _matmul(self, h: Value, kernel: Value, name: str) -> Value:
        ones = [1] * self.rank
        return self._conv(h, kernel, ones, ones, "same", name)


def _lower(call: LayerCall, rank: int) -> Lowered:
    config = call.config
    check_layer_options(config)
    if str(config.get("data_format") or "channels_last") != "channels_last":
        raise Refusal("data_format='channels_first' is not supported")
    x = call.inputs[0]
    shape = static_dims(call, x)
    if len(shape) != rank + 3:
        raise Refusal(f"expects a rank-{rank + 3} input, got rank {len(shape)}")
    if shape[1] is None:
        raise Refusal("needs a fixed sequence length (the time axis is unknown)")
    if call.masks and call.masks[0] is not None:
        raise Refusal("masks reaching a convolutional LSTM are not supported")
    filters, channels = int(config["filters"]), shape[-1]
    kernel_size = _ints(config["kernel_size"], rank)
    kernel = call.weight_array("kernel", shape=(*kernel_size, channels, 4 * filters))
    recurrent = call.weight_array("recurrent_kernel", shape=(*kernel_size, filters, 4 * filters))
    bias = call.weight_array("bias", shape=(4 * filters,)) if config.get("use_bias", True) else None
    padding = str(config.get("padding", "valid")).lower()
    if padding not in ("valid", "same"):
        raise Refusal(f"padding={padding!r} is not supported")
    strides, dilations = _ints(config.get("strides", 1), rank), _ints(config.get("dilation_rate", 1), rank)
    if max(strides) > 1 and max(dilations) > 1:
        raise Refusal("strides > 1 together with dilation_rate > 1 is not supported by TF.js")
    cell = ConvLSTMCell("lstm", filters, config, call, kernel, recurrent, bias, call.name, rank=rank,
                        strides=strides, dilations=dilations, padding=padding)
    initial = _initial_states(call, [cell])
    opts = LoopOptions(bool(config.get("return_sequences", False)), bool(config.get("go_backwards", False)),
                       False)
    out, states = run_loop(call.builder, [cell], x, None, initial, opts)
    outputs = [out] + (states if config.get("return_state") else [])
    return Lowered(outputs, [None] * len(outputs))


@lower_layer("ConvLSTM1D", mask="custom")
def conv_lstm1d(call: LayerCall) -> Lowered:
    return _lower(call, 1)


@lower_layer("ConvLSTM2D", mask="custom")
def conv_lstm2d(call: LayerCall) -> Lowered:
    return _lower(call, 2)


@lower_layer("ConvLSTM3D", mask="custom")
def conv_lstm3d(call: LayerCall) -> Lowered:
    return _lower(call, 3)
