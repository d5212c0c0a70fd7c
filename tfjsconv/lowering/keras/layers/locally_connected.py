"""tf-keras LocallyConnected1D / LocallyConnected2D (``implementation=1``, the default): a convolution
whose kernel differs at every output position.

tf-keras (``backend.local_conv``) takes, for each output position in row-major order, the input
window flattened to ``(batch, window * channels)`` - ``[k..., c]`` for channels_last, ``[c, k...]`` for
channels_first - and multiplies it by that position's kernel slice ``(window * channels, filters)``.
Here every window is gathered at once (one GatherV2 per spatial axis, indices ``out * stride + k``),
the positions moved to the front and one BatchMatMulV2 does all the products.  The bias is added
the way tf-keras's ``bias_add`` adds a rank>1 bias: channels_first RESHAPES it (not transposes) to
``(1, filters, *spatial)``.
"""

from __future__ import annotations

import numpy as np

from ....ir.graph import Value
from ....ir.types import DType
from ..activations import apply_activation
from ..registry import LayerCall, Refusal, lower_layer, static_dims
from .conv import ints


@lower_layer("LocallyConnected1D", "LocallyConnected2D", mask="drop")
def locally_connected(call: LayerCall) -> Value:
    b, x = call.builder, call.input
    rank = 1 if call.class_name == "LocallyConnected1D" else 2
    implementation = int(call.get("implementation", 1))
    if implementation != 1:
        raise Refusal(f"implementation={implementation} is not supported (only the default, 1)")
    if str(call.get("padding", "valid")).lower() != "valid":
        raise Refusal("only padding='valid' is supported (as in tf-keras)")
    first = call.get("data_format", "channels_last") == "channels_first"
    shape = static_dims(call, x)
    if len(shape) != rank + 2:
        raise Refusal(f"expects a rank-{rank + 2} input, got rank {len(shape)}")
    spatial = list(shape[2:] if first else shape[1:-1])
    channels = shape[1] if first else shape[-1]
    if channels is None or any(n is None for n in spatial):
        raise Refusal("needs static spatial sizes and channels")
    kernel_size, strides = ints(call.config["kernel_size"], rank), ints(call.config["strides"], rank)
    filters = int(call.config["filters"])
    out_spatial = [(int(n) - k) // s + 1 for n, k, s in zip(spatial, kernel_size, strides)]  # type: ignore
    if min(out_spatial) <= 0:
        raise Refusal(f"the kernel {kernel_size} is larger than the input {spatial}")
    positions = int(np.prod(out_spatial))
    window = int(np.prod(kernel_size)) * int(channels)
    kernel = call.weight("kernel", shape=(positions, window, filters))

    axes = [f"s{d}" for d in range(rank)]
    labels = ["B", "C", *axes] if first else ["B", *axes, "C"]
    for d in range(rank):
        axis = labels.index(f"s{d}")
        index = (np.arange(out_spatial[d])[:, None] * strides[d] + np.arange(kernel_size[d])[None, :])
        x = b.op("GatherV2", [x, b.const(index.astype(np.int32), f"window{d}/indices"),
                              b.ints([axis], f"window{d}/axis")],
                 {"batch_dims": 0, "Tparams": x.dtype or DType.FLOAT, "Tindices": DType.INT32,
                  "Taxis": DType.INT32}, name=f"window{d}", dtype=x.dtype or DType.FLOAT)
        labels[axis:axis + 1] = [f"o{d}", f"k{d}"]
    taps = [f"k{d}" for d in range(rank)]
    order = [f"o{d}" for d in range(rank)] + ["B"] + (["C", *taps] if first else [*taps, "C"])
    x = b.transpose(x, [labels.index(label) for label in order], "windows")
    x = b.reshape(x, [positions, None, window], "windows/flat")
    y = b.op("BatchMatMulV2", [x, kernel], {"adj_x": False, "adj_y": False}, name="local_matmul")
    y = b.reshape(y, [*out_spatial, None, filters], "positions")
    perm = [rank, rank + 1, *range(rank)] if first else [rank, *range(rank), rank + 1]
    y = b.transpose(y, perm, "output")
    if call.get("use_bias", True):
        bias = call.weight_array("bias", shape=(*out_spatial, filters))
        target = (1, filters, *out_spatial) if first else (1, *out_spatial, filters)
        y = b.binary("AddV2", y, b.derived_weight(bias, "local_bias", lambda a: a.reshape(target),
                                                  f"{call.name}/bias"), "bias_add")
    return apply_activation(b, y, call.config.get("activation"), call.keras3)
