"""Static input shapes of the layers of a tf-keras 2 model config.

Keras 3 (and tf-keras ``.keras`` archives) record each layer's input shape; tf-keras ``.h5`` files
record only the model inputs.  Some rewrites and checks need a layer's input shape (is this the last
axis? how big is the window that replaces ``keepdims=True``? what does Reshape's -1 stand for?), so
this walks the functional graph from the inputs with the shape rule of each common layer class.  A
layer whose class has no rule, or whose inputs are unknown, gets no entry: callers then fall back to
being conservative.  Only the top-level graph is walked (nested models are opaque).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Optional

from ...registry import Registry

JsonDict = dict[str, Any]
Shape = tuple[Optional[int], ...]
_Rule = Callable[[JsonDict, list[Shape]], Optional[Shape]]
RULES: Registry[str, _Rule] = Registry("Keras shape rule")

_SAME_SHAPE = ("Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "ThresholdedReLU",
               "BatchNormalization", "LayerNormalization", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
               "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "Masking", "Rescaling",
               "ActivityRegularization", "Normalization")


def _rule(*classes: str) -> Callable[[_Rule], _Rule]:
    return RULES.register(*classes)


def _tuple(value: Any, rank: int) -> tuple[int, ...]:
    return (int(value),) * rank if isinstance(value, int) else tuple(int(v) for v in value)


def _split(config: JsonDict, shape: Shape, rank: int) -> tuple[Shape, Optional[int], bool]:
    """(spatial dims, channels, channels_first) of an input of ``rank`` spatial dims."""
    first = config.get("data_format") == "channels_first"
    if first:
        return shape[2:2 + rank], shape[1], True
    return shape[1:1 + rank], shape[-1], False


def _join(batch: Optional[int], spatial: Sequence[Optional[int]], channels: Optional[int],
          first: bool) -> Shape:
    return (batch, channels, *spatial) if first else (batch, *spatial, channels)


def _window(size: Optional[int], kernel: int, stride: int, padding: str, dilation: int = 1) -> Optional[int]:
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    effective = (kernel - 1) * dilation + 1
    return (size - effective) // stride + 1 if size >= effective else None


def _conv_rule(rank: int, kind: str) -> _Rule:
    def rule(config: JsonDict, inputs: list[Shape]) -> Optional[Shape]:
        shape = inputs[0]
        if len(shape) != rank + 2:
            return None
        spatial, channels, first = _split(config, shape, rank)
        kernel = _tuple(config["kernel_size"], rank)
        strides = _tuple(config.get("strides", 1), rank)
        dilation = _tuple(config.get("dilation_rate", 1), rank)
        padding = str(config.get("padding", "valid"))
        if kind == "transpose":
            out = [None if n is None else (n * s if padding == "same" else (n - 1) * s + k)
                   for n, k, s in zip(spatial, kernel, strides)]
        else:
            out = [_window(n, k, s, padding, d) for n, k, s, d in zip(spatial, kernel, strides, dilation)]
        if kind == "depthwise":
            filters = None if channels is None else channels * int(config.get("depth_multiplier", 1))
        else:
            filters = int(config["filters"])
        return _join(shape[0], out, filters, first)
    return rule


for _rank in (1, 2, 3):
    RULES.add(f"Conv{_rank}D", _conv_rule(_rank, "conv"))
    RULES.add(f"SeparableConv{_rank}D", _conv_rule(_rank, "conv"))
RULES.add("Conv2DTranspose", _conv_rule(2, "transpose"))
RULES.add("Conv3DTranspose", _conv_rule(3, "transpose"))
RULES.add("DepthwiseConv2D", _conv_rule(2, "depthwise"))
RULES.add("DepthwiseConv1D", _conv_rule(1, "depthwise"))


def _pool_rule(rank: int) -> _Rule:
    def rule(config: JsonDict, inputs: list[Shape]) -> Optional[Shape]:
        shape = inputs[0]
        if len(shape) != rank + 2:
            return None
        spatial, channels, first = _split(config, shape, rank)
        pool = _tuple(config.get("pool_size", 2), rank)
        strides = _tuple(config.get("strides") or pool, rank)
        padding = str(config.get("padding", "valid"))
        return _join(shape[0], [_window(n, k, s, padding) for n, k, s in zip(spatial, pool, strides)],
                     channels, first)
    return rule


def _global_rule(rank: int) -> _Rule:
    def rule(config: JsonDict, inputs: list[Shape]) -> Optional[Shape]:
        shape = inputs[0]
        if len(shape) != rank + 2:
            return None
        _, channels, first = _split(config, shape, rank)
        if config.get("keepdims"):
            return _join(shape[0], [1] * rank, channels, first)
        return (shape[0], channels)
    return rule


for _rank in (1, 2, 3):
    for _kind in ("Max", "Average"):
        RULES.add(f"{_kind}Pooling{_rank}D", _pool_rule(_rank))
        RULES.add(f"Global{_kind}Pooling{_rank}D", _global_rule(_rank))


def _pairs(value: Any, rank: int) -> list[tuple[int, int]]:
    if isinstance(value, int):
        return [(value, value)] * rank
    items = list(value)
    if rank == 1 and len(items) == 2 and all(isinstance(v, int) for v in items):
        return [(int(items[0]), int(items[1]))]
    return [(v, v) if isinstance(v, int) else (int(v[0]), int(v[1])) for v in items]


def _resize_rule(rank: int, key: str, sign: int) -> _Rule:
    def rule(config: JsonDict, inputs: list[Shape]) -> Optional[Shape]:
        shape = inputs[0]
        if len(shape) != rank + 2:
            return None
        spatial, channels, first = _split(config, shape, rank)
        pads = _pairs(config.get(key, 1), rank)
        out = [None if n is None else n + sign * (a + b) for n, (a, b) in zip(spatial, pads)]
        return _join(shape[0], out, channels, first)
    return rule


def _upsample_rule(rank: int) -> _Rule:
    def rule(config: JsonDict, inputs: list[Shape]) -> Optional[Shape]:
        shape = inputs[0]
        if len(shape) != rank + 2:
            return None
        spatial, channels, first = _split(config, shape, rank)
        size = _tuple(config.get("size", 2), rank)
        return _join(shape[0], [None if n is None else n * s for n, s in zip(spatial, size)], channels, first)
    return rule


for _rank in (1, 2, 3):
    RULES.add(f"ZeroPadding{_rank}D", _resize_rule(_rank, "padding", 1))
    RULES.add(f"Cropping{_rank}D", _resize_rule(_rank, "cropping", -1))
    RULES.add(f"UpSampling{_rank}D", _upsample_rule(_rank))


@_rule(*_SAME_SHAPE)
def _same(config: JsonDict, inputs: list[Shape]) -> Optional[Shape]:
    return inputs[0]


@_rule("Dense")
def _dense(config: JsonDict, inputs: list[Shape]) -> Optional[Shape]:
    return (*inputs[0][:-1], int(config["units"]))


@_rule("Flatten")
def _flatten(config: JsonDict, inputs: list[Shape]) -> Optional[Shape]:
    size = 1
    for d in inputs[0][1:]:
        if d is None:
            return (inputs[0][0], None)
        size *= d
    return (inputs[0][0], size)


@_rule("Reshape")
def _reshape(config: JsonDict, inputs: list[Shape]) -> Optional[Shape]:
    target = [int(d) for d in config["target_shape"]]
    if -1 in target:
        total = _flatten(config, inputs)
        known = 1
        for d in target:
            known *= d if d != -1 else 1
        if total is None or total[1] is None or known <= 0 or total[1] % known or target.count(-1) != 1:
            return None
        target = [total[1] // known if d == -1 else d for d in target]
    return (inputs[0][0], *target)


@_rule("Permute")
def _permute(config: JsonDict, inputs: list[Shape]) -> Optional[Shape]:
    shape = inputs[0]
    return (shape[0], *(shape[int(d)] for d in config["dims"]))


@_rule("RepeatVector")
def _repeat(config: JsonDict, inputs: list[Shape]) -> Optional[Shape]:
    return (inputs[0][0], int(config["n"]), inputs[0][-1])


@_rule("Embedding")
def _embedding(config: JsonDict, inputs: list[Shape]) -> Optional[Shape]:
    return (*inputs[0], int(config["output_dim"]))


@_rule("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
def _merge(config: JsonDict, inputs: list[Shape]) -> Optional[Shape]:
    return inputs[0] if all(shape == inputs[0] for shape in inputs) else None


@_rule("Concatenate")
def _concatenate(config: JsonDict, inputs: list[Shape]) -> Optional[Shape]:
    rank = len(inputs[0])
    axis = int(config.get("axis", -1)) % rank
    if any(len(shape) != rank for shape in inputs):
        return None
    sizes = [shape[axis] for shape in inputs]
    out = list(inputs[0])
    out[axis] = None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)
    return tuple(out)


_RECURRENT = ("LSTM", "GRU", "SimpleRNN", "CuDNNLSTM", "CuDNNGRU")


@_rule(*_RECURRENT, "RNN")
def _recurrent(config: JsonDict, inputs: list[Shape]) -> Optional[Shape]:
    shape = inputs[0]
    if len(shape) != 3 or config.get("return_state"):
        return None  # several outputs: not a single shape
    units = config.get("units")
    cell = config.get("cell")
    if units is None and isinstance(cell, dict):  # RNN(cell) / RNN(StackedRNNCells): the last cell's units
        stacked = cell.get("class_name") == "StackedRNNCells"
        cells = (cell.get("config") or {}).get("cells") if stacked else [cell]
        last = cells[-1] if isinstance(cells, list) and cells else None
        units = (last.get("config") or {}).get("units") if isinstance(last, dict) else None
    units = int(units)  # type: ignore[arg-type]  (None: TypeError, caught by the caller: unknown)
    return (shape[0], shape[1], units) if config.get("return_sequences") else (shape[0], units)


def _wrapped(config: JsonDict) -> Optional[tuple[str, JsonDict]]:
    inner = config.get("layer")
    if isinstance(inner, dict) and isinstance(inner.get("config"), dict):
        return str(inner.get("class_name")), inner["config"]
    return None


@_rule("TimeDistributed")
def _time_distributed(config: JsonDict, inputs: list[Shape]) -> Optional[Shape]:
    shape, inner = inputs[0], _wrapped(config)
    rule = RULES.get(inner[0]) if inner is not None else None
    if rule is None or inner is None or len(shape) < 3:
        return None
    out = rule(inner[1], [(shape[0], *shape[2:])])
    return None if out is None else (shape[0], shape[1], *out[1:])


@_rule("Bidirectional")
def _bidirectional(config: JsonDict, inputs: list[Shape]) -> Optional[Shape]:
    inner = _wrapped(config)
    if inner is None or inner[0] not in _RECURRENT or config.get("merge_mode", "concat") is None:
        return None
    out = _recurrent(inner[1], inputs)
    if out is None:
        return None
    return (*out[:-1], 2 * int(out[-1])) if config.get("merge_mode", "concat") == "concat" else out


def _node_sources(node: Any) -> Optional[list[tuple[str, int, int]]]:
    if not isinstance(node, list):
        return None  # a Keras 3 node: that format records shapes itself
    sources = []
    for item in node:
        if not (isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str)):
            return None
        sources.append((item[0], int(item[1]), int(item[2])))
    return sources


def infer_input_shapes(model_config: JsonDict) -> dict[str, list[Shape]]:
    """Input shapes (one per input tensor) of each top-level layer's first call, where derivable."""
    return _infer(model_config)[0]


_MODELS = ("Sequential", "Functional", "Model")


def _declared_input(layer_config: JsonDict) -> Optional[Shape]:
    shape = layer_config.get("batch_input_shape", layer_config.get("batch_shape"))  # tf-keras / Keras 3
    return tuple(shape) if isinstance(shape, list) else None


def _infer(model_config: JsonDict, start: Optional[Shape] = None) -> tuple[dict[str, list[Shape]],
                                                                            Optional[Shape]]:
    """(input shapes of each layer's first call, the model's first output shape) where derivable;
    ``start`` is the input of a Sequential that declares none (a nested one)."""
    config = model_config.get("config")
    layers = config.get("layers") if isinstance(config, dict) else config
    if not isinstance(layers, list):
        return {}, None
    outputs: dict[tuple[str, int], Shape] = {}  # (layer, node index) -> output shape (single-output)
    inputs_of: dict[str, list[Shape]] = {}
    sequential = model_config.get("class_name") == "Sequential"
    previous: Optional[Shape] = start if sequential else None
    for entry in layers:
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
            return inputs_of, None
        cls, layer_config = str(entry.get("class_name")), entry["config"]
        name = str(layer_config.get("name", entry.get("name")))
        declared = _declared_input(layer_config)
        if cls == "InputLayer" or (sequential and previous is None and declared is not None):
            previous = declared
            outputs[(name, 0)] = previous  # type: ignore[assignment]
            if cls == "InputLayer":
                continue
        if sequential:
            known = [previous] if previous is not None else None
        else:
            nodes = entry.get("inbound_nodes") or []
            sources = _node_sources(nodes[0]) if nodes else None
            known = [outputs.get((source, index)) for source, index, tensor in sources or ()
                     if tensor == 0] if sources else None
            if known and (len(known) != len(sources or ()) or any(s is None for s in known)):
                known = None
        shapes = [s for s in known or () if s is not None]
        result: Optional[Shape] = None
        if known and len(shapes) == len(known):
            inputs_of[name] = shapes
            try:
                if cls in _MODELS:
                    result = _infer(entry, shapes[0])[1]
                else:
                    rule = RULES.get(cls)
                    result = rule(layer_config, shapes) if rule is not None else None
            except (KeyError, TypeError, ValueError, IndexError, ArithmeticError):  # a zero stride...
                result = None
        previous = result
        if result is not None:
            outputs[(name, 0)] = result
            if cls in _MODELS:  # tf-keras counts a nested model's own node: its first call is node 1
                outputs[(name, 1)] = result
    if sequential:
        return inputs_of, previous
    refs = config.get("output_layers") if isinstance(config, dict) else None
    first = refs[0] if isinstance(refs, list) and refs and isinstance(refs[0], list) else refs
    if isinstance(first, list) and len(first) >= 2 and isinstance(first[0], str):
        return inputs_of, outputs.get((first[0], int(first[1])))
    return inputs_of, None
