"""ONNX ModelProto -> IR Graph in the TF-op dialect.

Graph inputs become Placeholders (named after the ONNX inputs, sanitized into valid TF node names;
the signature keeps the ONNX names), initializers become Consts (external-data initializers are
read lazily from their files), and every node is lowered by the handler registered for its op type
and the model's opset (``onnx.ops``, walked by ``lower.py``).  Every node that cannot be converted is
reported in one error.  ONNX shape inference runs first: handlers need ranks and static dims.
float16, bfloat16 and float64 tensors are read as float32 (what TF.js computes with), with a warning.

The ``onnx`` package is an optional dependency (``pip install "tfjsconv[onnx]"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from ...errors import InputError, UnsupportedError
from ...ir.graph import Graph, LazyArray, Value
from ...ir.types import DType, Shape
from ...limits import check_graph_nodes, check_tensor
from .expand import expand_nodes, has_function, inline_local_functions, name_nodes
from .inference_guards import inference_problem
from .lower import lower_nodes, onnx_nodes, record_types, stand_in, tensor_dims
from .mapped import SMALL_FILE, file_array, mapped_span, model_skeleton, restore
from .names import tf_name
from .ops import OnnxContext
from .ops.onnx_types import as_computed, compute_dtype, is_reduced_numpy, onnx_dtype
from .problems import Problem, UnsupportedNodesError

INSTALL_HINT = 'reading ONNX models needs the onnx package: pip install "tfjsconv[onnx]"'
_DEFAULT_DOMAINS = ("", "ai.onnx")


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise UnsupportedError(INSTALL_HINT) from None
    return onnx


def load_model_proto(path: Path) -> Any:
    onnx = _onnx()
    from google.protobuf.message import DecodeError

    try:
        if path.stat().st_size < SMALL_FILE:
            model = onnx.load_model(str(path), load_external_data=False)
        else:  # large initializers stay in the file (mapped.py)
            model = onnx.load_model_from_string(model_skeleton(path))
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


def _external_array(tensor: Any, base: Path, path: Path) -> LazyArray:
    info = {entry.key: entry.value for entry in tensor.external_data}
    location = info.get("location", "")
    try:
        target = (base / location).resolve()
    except (ValueError, OSError):  # a NUL byte, a loop of links
        target = base
    if not location or base.resolve() not in target.parents:
        raise InputError(
            f"initializer {tensor.name!r} points outside the model directory ({location!r})", path
        )
    try:
        present = target.is_file()
    except OSError as exc:  # found by fuzzing: a location longer than the file system allows
        raise InputError(f"external data file {location[:80]!r} of initializer {tensor.name!r} cannot be "
                         f"opened ({exc.strerror})", path) from exc
    if not present:
        raise InputError(f"external data file {location!r} of initializer {tensor.name!r} is missing", path)
    what = f"initializer {tensor.name!r}"
    if onnx_dtype(tensor.data_type) in (DType.STRING, DType.BFLOAT16):
        raise UnsupportedError(f"{what}: external data of type {onnx_dtype(tensor.data_type).tf_name} is not "
                               "supported", path)
    dtype = onnx_dtype(tensor.data_type).numpy
    shape = tuple(int(d) for d in tensor.dims)
    count = check_tensor(shape, dtype.itemsize, what, path)
    try:
        offset = int(info.get("offset", 0))
        length = int(info.get("length", count * dtype.itemsize))
    except ValueError:
        raise InputError(f"{what}: external data offset/length are not integers", path) from None
    if dtype.kind == "O":
        raise UnsupportedError(f"{what}: external string data is not supported", path)
    return file_array(tensor, dtype, target, offset, length, f"external data in {location!r}", path)


def tensor_array(tensor: Any, what: str, path: Path) -> np.ndarray:
    """An embedded TensorProto as numpy, its declared size checked before onnx decodes it."""
    from onnx import numpy_helper

    dtype = onnx_dtype(tensor.data_type)
    is_string = dtype == DType.STRING
    itemsize = 8 if is_string else 2 if dtype == DType.BFLOAT16 else dtype.numpy.itemsize
    count = check_tensor(tuple(tensor.dims), itemsize, what, path)
    if tensor.raw_data and not is_string and len(tensor.raw_data) != count * itemsize:
        raise InputError(f"{what} declares {count} elements but its raw_data holds {len(tensor.raw_data)} "
                         f"bytes, not {count * itemsize}", path)
    try:
        return numpy_helper.to_array(tensor)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise InputError(f"{what} cannot be decoded ({' '.join(str(exc).split())[:200]})", path) from None


def _check_fields(model: Any, path: Path) -> None:
    """One walk over the whole model for what must be settled before onnx's C++ code sees it.

    ONNX is proto2: a string field holding invalid UTF-8 comes back as bytes; refuse it once here
    rather than let every name comparison downstream meet bytes.  A negative dimension makes onnx's
    shape inference abort the whole process (an assertion in std::clamp, for Slice): in a value's
    type it is read as an unknown dimension (the "-1 = any size" some writers use); in a tensor,
    which has no unknown dimensions, it is refused."""
    stack = [model]
    while stack:
        message = stack.pop()
        kind = message.DESCRIPTOR.name
        if kind == "Dimension" and message.dim_value < 0:
            message.ClearField("dim_value")
        elif kind in ("TensorProto", "SparseTensorProto") and any(d < 0 for d in message.dims):
            raise InputError(f"tensor {message.name or '(unnamed)'!r} declares a negative dimension "
                             f"{list(message.dims)}", path)
        for fd, value in message.ListFields():
            if fd.type == fd.TYPE_MESSAGE:
                stack.extend(value if hasattr(value, "__len__") and not hasattr(value, "DESCRIPTOR")
                             else [value])
            elif fd.type == fd.TYPE_STRING:
                items = value if isinstance(value, (list, tuple)) or hasattr(value, "append") else [value]
                if any(isinstance(item, bytes) for item in items):
                    raise InputError(f"a {fd.name} field of the ONNX model is not valid UTF-8 text", path)


def _all_nodes(graph: Any) -> Any:
    """Every node of ``graph`` and of the subgraphs inside it (If/Loop/Scan bodies)."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == 5:  # GRAPH
                yield from _all_nodes(attr.g)
            elif attr.type == 10:  # GRAPHS
                for sub in attr.graphs:
                    yield from _all_nodes(sub)


def _check_nodes(model: Any, path: Path) -> None:
    """Each main-graph node against its op schema (input counts, attribute types) before onnx's shape
    inference sees it: that C++ code asserts on some malformed nodes (a Slice with two inputs aborts
    the whole process), and the lowering handlers rely on the schema too.  Ops without a schema
    (unknown or custom) are left to the unsupported-ops report."""
    onnx = _onnx()
    ctx = onnx.checker.C.CheckerContext()
    try:
        ctx.ir_version = int(model.ir_version)
        ctx.opset_imports = {d.domain: int(d.version) for d in model.opset_import}
    except (TypeError, ValueError, OverflowError):
        raise InputError("the model's IR version or an opset version is out of range", path) from None
    for node in _all_nodes(model.graph):
        if node.domain not in ("", "ai.onnx") or not onnx.defs.has(node.op_type, node.domain):
            continue
        problem = inference_problem(node)
        if problem:
            raise InputError(f"{node.op_type} node {node.name or '(unnamed)'!r} {problem}", path)
        if any(a.type in (5, 10) for a in node.attribute):
            continue  # If/Loop/Scan: checking the node checks its body without the outer scope it reads
        try:
            onnx.checker.check_node(node, ctx)
        except (onnx.checker.ValidationError, RuntimeError, ValueError) as exc:
            first = " ".join(str(exc).splitlines()[0].split())[:300] if str(exc) else type(exc).__name__
            raise InputError(f"node {node.name or node.op_type!r} does not match its ONNX schema: {first}",
                             path) from None


def _initializer(tensor: Any, base: Path, path: Path) -> Any:
    span = mapped_span(tensor)
    if span is not None:
        try:
            dtype = onnx_dtype(tensor.data_type).numpy
        except (ValueError, UnsupportedError):
            dtype = None
        if dtype is not None and dtype.kind in "biufc":
            check_tensor(tuple(tensor.dims), dtype.itemsize, f"initializer {tensor.name!r}", path)
            return file_array(tensor, dtype, path, *span, "the data", path)
        restore(tensor, path)  # anything numpy_helper decodes differently from raw bytes
    elif tensor.data_location == 1:  # TensorProto.EXTERNAL
        return _external_array(tensor, base, path)
    array = tensor_array(tensor, f"initializer {tensor.name!r}", path)
    if array.dtype == np.dtype(object):
        raise UnsupportedError(f"initializer {tensor.name!r}: string tensors are not supported", path)
    return array if array.flags.c_contiguous else array.copy(order="C")  # (ascontiguousarray makes 0-d 1-d)


def _opset(model: Any) -> int:
    for entry in model.opset_import:
        if entry.domain in _DEFAULT_DOMAINS:
            return int(entry.version)
    return 1


def _inferred(model: Any) -> Any:
    onnx = _onnx()
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:  # noqa: BLE001  (inference is advisory: handlers refuse what they cannot know)
        return model


def _computed_initializer(data: Any, reduced: set[str]) -> Any:
    """float16 / bfloat16 / float64 weights as the float32 that TF.js computes with."""
    if not is_reduced_numpy(data.dtype):
        return data
    if isinstance(data, LazyArray):
        reduced.add("bfloat16" if data.dtype.name == "bfloat16" else data.dtype.name)
        source = data
        return LazyArray(np.dtype(np.float32), source.shape, lambda: as_computed(source.load()))
    return as_computed(data, reduced)


_EXPANSION_ROUNDS = 6  # function bodies may hold function ops themselves


def load_onnx_graph(path: Path, warnings: Optional[list[str]] = None) -> Graph:
    """The model at ``path`` as an IR graph; ``warnings`` receives notes on lossy conversions.

    Nodes that cannot be lowered but whose op is an ONNX function are replaced by the function's
    body (``expand.py``) and the model is lowered again."""
    path = Path(path)
    model = load_model_proto(path)
    check_graph_nodes(len(model.graph.node), "the ONNX graph", path)
    _check_fields(model, path)
    _check_nodes(model, path)
    opset = _opset(model)
    model = inline_local_functions(model)
    name_nodes(model.graph)
    tried: set[str] = set()
    for _ in range(_EXPANSION_ROUNDS):
        inferred = _inferred(model).graph
        graph, ctx = _lower_model(model, inferred, opset, path)
        if not ctx.problems:
            break
        by_name = {n.name: n for n in model.graph.node}
        wanted = {p.node for p in ctx.problems if p.node in by_name and p.node not in tried
                  and has_function(by_name[p.node], opset)}
        if not wanted:
            break
        infos = list(inferred.value_info) + list(inferred.input) + list(inferred.output)
        types = {i.name: i.type for i in infos}
        model, done = expand_nodes(model, wanted, opset, types)
        tried |= wanted
        if not done:
            break
        name_nodes(model.graph)
    if ctx.problems:
        raise UnsupportedNodesError(ctx.problems, path, opset)
    for info in model.graph.output:
        if info.name not in ctx.values:
            raise InputError(f"graph output {info.name!r} is produced by no node", path)
        graph.outputs.append((info.name, ctx.values[info.name]))
    graph.attrs["producer_name"] = f"{model.producer_name} {model.producer_version}".strip()
    if ctx.reduced and warnings is not None:
        kinds = ", ".join(sorted(ctx.reduced))
        warnings.append(
            f"{path.name}: the model uses {kinds} tensors; TF.js computes them in float32, so results "
            "differ from the original by float32 rounding"
        )
    return graph


def _lower_model(model: Any, inferred: Any, opset: int, path: Path) -> tuple[Graph, OnnxContext]:
    graph = Graph(name=tf_name(model.graph.name or "onnx_graph"))
    ctx = OnnxContext(graph, opset)
    ctx.path = path
    record_types(ctx, list(inferred.value_info) + list(inferred.output) + list(inferred.input))
    base = path.parent
    initializers = {t.name for t in model.graph.initializer}
    for tensor in model.graph.initializer:
        data = _computed_initializer(_initializer(tensor, base, path), ctx.reduced)
        dtype = compute_dtype(tensor.data_type) if tensor.data_type else None
        const = graph.add_const(data, name=graph.unique_name(tf_name(tensor.name, "w")), dtype=dtype)
        ctx.values[tensor.name] = const.outputs[0]
    for info in model.graph.input:
        if info.name in initializers:  # IR < 4 lists initializers among the inputs
            continue
        try:
            ctx.values[info.name] = _placeholder(graph, info, path, ctx)
        except UnsupportedError as exc:  # reported with the nodes that cannot be converted
            ctx.problems.append(Problem("graph input", info.name, exc.message))
            ctx.values[info.name] = stand_in(ctx, info.name)
    lower_nodes(ctx, onnx_nodes(model.graph), path)
    return graph, ctx


def _placeholder(graph: Graph, info: Any, path: Path, ctx: OnnxContext) -> Value:
    if not info.type.HasField("tensor_type"):
        raise UnsupportedError(
            f"graph input {info.name!r} is not a tensor (sequences and maps are not supported)", path
        )
    onnx_dtype(info.type.tensor_type.elem_type)  # refuses the float8 / 4-bit / 2-bit families
    dtype = compute_dtype(info.type.tensor_type.elem_type, ctx)
    dims = tensor_dims(info.type)
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


__all__ = ["INSTALL_HINT", "load_model_proto", "load_onnx_graph", "tf_name"]
