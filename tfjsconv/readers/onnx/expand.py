"""ONNX function ops expanded into the primitive ops their schema defines them with.

Many ONNX ops (LayerNormalization, Attention, the loss ops, RMSNormalization, Celu, Mish...) are
*functions*: their schema gives a body of simpler ONNX ops that is the op's definition.  A node
without a handler, or whose handler refuses a variant (LayerNormalization's extra outputs), is
replaced by that body, and the model is lowered again; the body's ops are then lowered one by one
like any other.  Model-local functions (PyTorch's dynamo exports use them) are inlined up front.

Bodies come from ``OpSchema`` (context-dependent ones are built for the node's attributes and
inferred input types) and are inlined with ``onnx.inliner`` through a private function domain.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Optional

_DOMAIN = "tfjsconv.expand"
_DEFAULT_DOMAINS = ("", "ai.onnx")


def inline_local_functions(model: Any) -> Any:
    if not model.functions:
        return model
    import onnx.inliner

    return onnx.inliner.inline_local_functions(model)


def name_nodes(graph: Any) -> None:
    """Gives every unnamed node the name refusals call it by (``node_<index>``)."""
    taken = {n.name for n in graph.node if n.name}
    for i, node in enumerate(graph.node):
        if not node.name:
            name = f"node_{i}"
            while name in taken:
                name += "_"
            node.name = name
            taken.add(name)


def _schema(node: Any, opset: int) -> Optional[Any]:
    import onnx.defs

    domain = "" if node.domain in _DEFAULT_DOMAINS else node.domain
    try:
        return onnx.defs.get_schema(node.op_type, opset, domain)
    except Exception:  # noqa: BLE001  (SchemaError: an op this onnx release does not know)
        return None


def has_function(node: Any, opset: int) -> bool:
    schema = _schema(node, opset)
    return schema is not None and bool(schema.has_function or schema.has_context_dependent_function)


def _body(node: Any, opset: int, types: dict[str, Any]) -> Optional[Any]:
    import onnx

    schema = _schema(node, opset)
    if schema is None:
        return None
    raw: Optional[bytes] = None
    # A body is registered for some opsets only: the latest one not above the model's is the op's
    # definition at the model's opset (the inliner converts it to the model's opset).
    plain = [v for v in (getattr(schema, "function_opset_versions", None) or []) if v <= opset]
    dependent = [v for v in (getattr(schema, "context_dependent_function_opset_versions", None) or [])
                 if v <= opset]
    try:
        if schema.has_function and plain:
            raw = schema.get_function_with_opset_version(max(plain))
        if not raw and schema.has_context_dependent_function and dependent:
            inputs = [(types.get(name) or onnx.TypeProto()).SerializeToString() if name else
                      onnx.TypeProto().SerializeToString() for name in node.input]
            build = schema.get_context_dependent_function_with_opset_version
            raw = build(max(dependent), node.SerializeToString(), inputs)
    except Exception:  # noqa: BLE001  (the body builder rejects inputs it cannot type)
        return None
    if not raw:
        return None
    body = onnx.FunctionProto()
    body.ParseFromString(raw)
    if not body.node or len(node.input) > len(body.input) or len(node.output) > len(body.output):
        return None  # (fuzz find) more arguments than the body's formals: onnx's inliner asserts
    return body


def _fill_defaults(node: Any, schema: Any) -> None:
    """Schema defaults written on the node: the body refers to every attribute by name."""
    present = {a.name for a in node.attribute}
    for name, spec in schema.attributes.items():
        default = spec.default_value
        if name not in present and default is not None and default.type:
            attr = node.attribute.add()
            attr.CopyFrom(default)
            attr.name = name


def expand_nodes(
    model: Any, names: Collection[str], opset: int, types: dict[str, Any]
) -> tuple[Any, list[str]]:
    """``model`` with the main-graph nodes called ``names`` replaced by their function bodies.

    Returns the new model and the names actually expanded (a node whose body cannot be built stays)."""
    import onnx
    import onnx.inliner

    original = model
    model = onnx.ModelProto.FromString(model.SerializeToString())
    taken = {f.name for f in model.functions}
    expanded: list[str] = []
    for node in model.graph.node:
        if node.name not in names or node.domain not in _DEFAULT_DOMAINS:
            continue
        schema = _schema(node, opset)
        if schema is None:
            continue
        _fill_defaults(node, schema)
        body = _body(node, opset, types)
        if body is None:
            continue
        body.domain, body.name = _DOMAIN, f"f{len(expanded)}_{node.op_type}"
        while body.name in taken:
            body.name += "_"
        taken.add(body.name)
        for j, inner in enumerate(body.node):
            inner.name = f"{node.name}/{inner.op_type}_{j}"
        node.domain, node.op_type = _DOMAIN, body.name
        model.functions.append(body)
        expanded.append(node.name)
    if not expanded:
        return model, expanded
    model.opset_import.append(onnx.helper.make_opsetid(_DOMAIN, 1))
    try:
        inlined = _inline(model)
    except (RuntimeError, onnx.shape_inference.InferenceError):
        # onnx's inliner rejects a body it cannot bind (a C++ assertion surfaces as RuntimeError):
        # nothing is expanded, and the nodes are reported as the ops they are.
        return original, []
    for entry in list(inlined.opset_import):
        if entry.domain == _DOMAIN:
            inlined.opset_import.remove(entry)
    for function in list(inlined.functions):
        if function.domain == _DOMAIN:
            inlined.functions.remove(function)
    return inlined, expanded


def _inline(model: Any) -> Any:
    """Local functions inlined, their bodies converted to the model's opset (the converter needs the
    type of every value: shape inference supplies them, initializers are declared)."""
    import onnx
    import onnx.inliner

    typed = onnx.ModelProto.FromString(model.SerializeToString())
    try:
        typed = onnx.shape_inference.infer_shapes(typed, strict_mode=False)
    except Exception:  # noqa: BLE001  (advisory, as everywhere in the reader)
        pass
    graph = typed.graph
    known = {v.name for v in list(graph.value_info) + list(graph.input) + list(graph.output)}
    for tensor in typed.graph.initializer:
        if tensor.name not in known:
            typed.graph.value_info.append(onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type,
                                                                             list(tensor.dims)))
    try:
        return onnx.inliner.inline_local_functions(typed, convert_version=True)
    except (TypeError, RuntimeError, onnx.shape_inference.InferenceError):
        # An older inliner, or a body the version converter cannot take (fuzz find: a function node of
        # a domain the model imports no opset for); inlined as written, the converter judges the ops.
        return onnx.inliner.inline_local_functions(model)


__all__ = ["expand_nodes", "has_function", "inline_local_functions", "name_nodes"]
