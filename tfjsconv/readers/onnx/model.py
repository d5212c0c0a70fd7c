"""ONNX ModelProto -> IR Graph in the TF-op dialect.

Graph inputs become Placeholders (named after the ONNX inputs, sanitized into valid TF node names;
the signature keeps the ONNX names), initializers become Consts (external-data initializers are
read lazily from their files), and every node is lowered by the handler registered for its op type
and the model's opset (``onnx.ops``).  Op types without a handler are all reported together before
anything is converted.  ONNX shape inference runs first: handlers need ranks and static dims.

The ``onnx`` package is an optional dependency (``pip install "tfjsconv[onnx]"``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ...errors import InputError, UnsupportedError, UnsupportedOpsError
from ...ir.graph import Graph, LazyArray, Value
from ...ir.types import Shape
from ...limits import check_graph_nodes
from .ops import OnnxContext, OnnxNode, lookup
from .ops.onnx_types import onnx_dtype

INSTALL_HINT = 'reading ONNX models needs the onnx package: pip install "tfjsconv[onnx]"'
_DEFAULT_DOMAINS = ("", "ai.onnx")


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise UnsupportedError(INSTALL_HINT) from None
    return onnx


def tf_name(name: str, fallback: str = "t") -> str:
    """``name`` as a valid TF node name (``[A-Za-z0-9.][A-Za-z0-9_./-]*``)."""
    cleaned = re.sub(r"[^A-Za-z0-9_./-]", "_", name).strip("/")
    if not cleaned:
        return fallback
    return cleaned if re.match(r"[A-Za-z0-9.]", cleaned[0]) else f"{fallback}{cleaned}"


def load_model_proto(path: Path) -> Any:
    onnx = _onnx()
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except (DecodeError, RuntimeError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(
            f"not a readable ONNX model ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'parse error'}); the file is "
            "truncated or not ONNX",
            path,
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read the ONNX model: {exc.strerror or exc}", path) from None
    if not model.ir_version or not model.HasField("graph") or not model.graph.node:
        raise InputError(
            "not an ONNX model (no ir_version or no graph nodes): the file is truncated or not ONNX", path
        )
    return model


def _tensor_dims(type_proto: Any) -> Optional[tuple[Optional[int], ...]]:
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in type_proto.tensor_type.shape.dim)


def _external_array(tensor: Any, base: Path, path: Path) -> LazyArray:
    info = {entry.key: entry.value for entry in tensor.external_data}
    location = info.get("location", "")
    target = (base / location).resolve()
    if not location or base.resolve() not in target.parents:
        raise InputError(
            f"initializer {tensor.name!r} points outside the model directory ({location!r})", path
        )
    if not target.is_file():
        raise InputError(f"external data file {location!r} of initializer {tensor.name!r} is missing", path)
    dtype = onnx_dtype(tensor.data_type).numpy
    shape = tuple(int(d) for d in tensor.dims)
    count = int(np.prod(shape)) if shape else 1
    offset = int(info.get("offset", 0))
    length = int(info.get("length", count * dtype.itemsize))
    if length != count * dtype.itemsize or offset + length > target.stat().st_size:
        raise InputError(f"external data of initializer {tensor.name!r} does not fit {location!r}", path)

    def load() -> np.ndarray:
        return (
            np.fromfile(target, dtype=dtype.newbyteorder("<"), count=count, offset=offset)
            .astype(dtype)
            .reshape(shape)
        )

    return LazyArray(dtype, shape, load)


def _initializer(tensor: Any, base: Path, path: Path) -> Any:
    from onnx import numpy_helper

    if tensor.data_location == 1:  # TensorProto.EXTERNAL
        return _external_array(tensor, base, path)
    array = numpy_helper.to_array(tensor)
    if array.dtype == np.dtype(object):
        raise UnsupportedError(f"initializer {tensor.name!r}: string tensors are not supported", path)
    return array if array.flags.c_contiguous else array.copy(order="C")  # (ascontiguousarray makes 0-d 1-d)


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper, numpy_helper

    out: dict[str, Any] = {}
    for attr in node.attribute:
        if attr.type == 4:  # TENSOR
            out[attr.name] = numpy_helper.to_array(attr.t)
        elif attr.type in (5, 10, 11):  # GRAPH, GRAPHS, SPARSE_TENSOR: handlers refuse these ops
            out[attr.name] = attr
        else:
            out[attr.name] = helper.get_attribute_value(attr)
    return out


def _opset(model: Any) -> int:
    for entry in model.opset_import:
        if entry.domain in _DEFAULT_DOMAINS:
            return int(entry.version)
    return 1


def _check_ops(model: Any, opset: int, path: Path) -> None:
    missing: dict[str, list[str]] = {}
    for i, node in enumerate(model.graph.node):
        op = node.op_type if node.domain in _DEFAULT_DOMAINS else f"{node.domain}.{node.op_type}"
        if node.domain not in _DEFAULT_DOMAINS or lookup(node.op_type, opset) is None:
            missing.setdefault(op, []).append(node.name or f"node_{i}")
    if missing:
        raise UnsupportedOpsError(
            missing, path, f"in this ONNX model (opset {opset}) that tfjsconv cannot lower, so"
        )


def _inferred_shapes(model: Any) -> dict[str, tuple[Optional[int], ...]]:
    onnx = _onnx()
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # noqa: BLE001  (inference is advisory: handlers refuse what they cannot know)
        inferred = model
    shapes: dict[str, tuple[Optional[int], ...]] = {}
    graph = inferred.graph
    for info in list(graph.value_info) + list(graph.output) + list(graph.input):
        dims = _tensor_dims(info.type)
        if dims is not None:
            shapes[info.name] = dims
    return shapes


def load_onnx_graph(path: Path) -> Graph:
    path = Path(path)
    model = load_model_proto(path)
    check_graph_nodes(len(model.graph.node), "the ONNX graph", path)
    opset = _opset(model)
    _check_ops(model, opset, path)
    graph = Graph(name=tf_name(model.graph.name or "onnx_graph"))
    ctx = OnnxContext(graph, opset)
    ctx.inferred = _inferred_shapes(model)
    base = path.parent
    initializers = {t.name for t in model.graph.initializer}
    for tensor in model.graph.initializer:
        data = _initializer(tensor, base, path)
        const = graph.add_const(
            data, name=graph.unique_name(tf_name(tensor.name, "w")), dtype=onnx_dtype(tensor.data_type)
        )
        ctx.values[tensor.name] = const.outputs[0]
    for info in model.graph.input:
        if info.name in initializers:  # IR < 4 lists initializers among the inputs
            continue
        ctx.values[info.name] = _placeholder(graph, info, path)
    for index, proto in enumerate(model.graph.node):
        node = OnnxNode(
            proto.op_type,
            proto.name or f"node_{index}",
            list(proto.input),
            list(proto.output),
            _attrs(proto),
            proto.domain,
        )
        _lower(ctx, node, path)
    for info in model.graph.output:
        if info.name not in ctx.values:
            raise InputError(f"graph output {info.name!r} is produced by no node", path)
        graph.outputs.append((info.name, ctx.values[info.name]))
    graph.attrs["producer_name"] = f"{model.producer_name} {model.producer_version}".strip()
    return graph


def _placeholder(graph: Graph, info: Any, path: Path) -> Value:
    if not info.type.HasField("tensor_type"):
        raise UnsupportedError(
            f"graph input {info.name!r} is not a tensor (sequences and maps are not supported)", path
        )
    dtype = onnx_dtype(info.type.tensor_type.elem_type)
    dims = _tensor_dims(info.type)
    shape = Shape.of(dims)
    node = graph.add_node(
        "Placeholder",
        attrs={"dtype": dtype, "shape": shape},
        name=graph.unique_name(tf_name(info.name, "input")),
    )
    graph.inputs.append(node)
    graph.input_keys.append(info.name)
    out = node.outputs[0]
    out.dtype, out.shape = dtype, shape
    return out


def _lower(ctx: OnnxContext, node: OnnxNode, path: Path) -> None:
    handler = lookup(node.op_type, ctx.opset)
    assert handler is not None  # _check_ops ran first
    for name in node.inputs:
        if name and name not in ctx.values:
            raise InputError(
                f"{node.describe()} reads {name!r}, which no earlier node produces "
                "(the graph is not topologically sorted or is truncated)",
                path,
            )
    ctx.node = node
    ctx.prefix = tf_name(next((o for o in node.outputs if o), node.name), "n")
    try:
        outs = list(handler(ctx, node))
    except UnsupportedError as exc:
        exc.path = exc.path or str(path)
        raise
    for i, name in enumerate(node.outputs):
        if not name:
            continue
        if i >= len(outs) or outs[i] is None:
            raise UnsupportedError(f"{node.describe()}: output {i} is not supported", path)
        value = outs[i]
        dims = ctx.inferred.get(name)
        if dims is not None and value.producer.op != "Const":
            value.shape = Shape.of(dims)
        ctx.values[name] = value


__all__ = ["INSTALL_HINT", "load_model_proto", "load_onnx_graph", "tf_name"]
