"""Pooling layers: Max/Average 1D/2D/3D and their Global forms (keepdims, channels_first, and the
masked average of GlobalAveragePooling1D)."""

from __future__ import annotations

from ....ir.graph import Value
from ..registry import LayerCall, Lowered, Refusal, lower_layer, static_dims
from .conv import channels_first, ints, to_first, to_last

_OPS = {("Max", 2): "MaxPool", ("Average", 2): "AvgPool",
        ("Max", 3): "MaxPool3D", ("Average", 3): "AvgPool3D"}


def pool_nd(call: LayerCall, kind: str, rank: int) -> Value:
    b, x = call.builder, call.input
    if len(static_dims(call, x)) != rank + 2:
        raise Refusal(f"expects a rank-{rank + 2} input")
    size = ints(call.get("pool_size", 2), rank)
    strides = ints(call.get("strides") or size, rank)
    padding = str(call.get("padding", "valid")).upper()
    if padding not in ("VALID", "SAME"):
        raise Refusal(f"padding={padding.lower()!r} is not a pooling padding")
    first = channels_first(call)
    if first:
        x = to_last(b, x, rank)
    if rank == 1:
        x = b.expand_dims(x, 1)
        size, strides = [1, *size], [1, *strides]
    op = _OPS[(kind, max(rank, 2))]
    y = b.op(op, [x], {"ksize": [1, *size, 1], "strides": [1, *strides, 1], "padding": padding.encode(),
                       "data_format": b"NDHWC" if rank == 3 else b"NHWC"})
    if rank == 1:
        y = b.squeeze(y, [1])
    return to_first(b, y, rank) if first else y


def _register_pooling() -> None:
    for kind in ("Max", "Average"):
        for rank in (1, 2, 3):
            def fn(call: LayerCall, kind: str = kind, rank: int = rank) -> Value:
                return pool_nd(call, kind, rank)
            fn.__name__ = fn.__qualname__ = f"{kind.lower()}_pooling{rank}d"
            lower_layer(f"{kind}Pooling{rank}D", f"{kind}Pool{rank}D")(fn)


_register_pooling()


def global_pool(call: LayerCall, kind: str, rank: int) -> Value:
    b, x = call.builder, call.input
    if len(static_dims(call, x)) != rank + 2:
        raise Refusal(f"expects a rank-{rank + 2} input")
    axes = list(range(2, rank + 2)) if channels_first(call) else list(range(1, rank + 1))
    keep = bool(call.get("keepdims", False))
    mask = call.masks[0] if call.masks else None
    if kind == "Average" and rank == 1 and mask is not None:
        # Keras averages over the unmasked steps only: sum(x * m) / sum(m).
        steps = axes[0]
        weights = b.cast(mask, x.dtype)  # type: ignore[arg-type]
        weights = b.expand_dims(weights, 1 if steps == 2 else -1)
        total = b.reduce("Sum", b.binary("Mul", x, weights), axes, keep_dims=keep)
        count = b.reduce("Sum", weights, axes, keep_dims=keep)
        return b.binary("RealDiv", total, count)
    return b.reduce("Mean" if kind == "Average" else "Max", x, axes, keep_dims=keep)


def _register_global() -> None:
    for kind in ("Max", "Average"):
        for rank in (1, 2, 3):
            def fn(call: LayerCall, kind: str = kind, rank: int = rank) -> Lowered:
                return Lowered([global_pool(call, kind, rank)], [None])
            fn.__name__ = fn.__qualname__ = f"global_{kind.lower()}_pooling{rank}d"
            lower_layer(f"Global{kind}Pooling{rank}D", f"Global{kind}Pool{rank}D", mask="custom")(fn)


_register_global()
