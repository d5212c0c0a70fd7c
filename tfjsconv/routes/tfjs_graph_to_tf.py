"""TF.js graph models back to TensorFlow: a SavedModel (``tf_saved_model``) or a frozen GraphDef
(``tf_frozen_model``), with no TensorFlow involved.

The graph model is read into the IR, its lookup tables are taken out of the initializer graph, and
TF.js-only ops are split into TensorFlow ops (``writers/tf/tf_dialect``).  Quantized weights are
written dequantized: the numbers TF.js computes with, not the originals, which are lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import ConverterError
from ..readers.tfjs.graph_model import TfjsGraphModel, read_tfjs_graph_model
from .base import RouteContext, register_route

_TFJS_ONLY_FLAGS = (("--quantize_*", "quantization_map"),
                    ("--split_weights_by_layer", "split_weights_by_layer"),
                    ("--metadata", "metadata"))


@contextmanager
def _naming(model: TfjsGraphModel) -> Iterator[None]:
    """Errors about the graph (an op with no TensorFlow equivalent...) name the model.json."""
    try:
        yield
    except ConverterError as exc:
        if exc.path is None:
            exc.path = str(model.model_json)
        raise


def _read(ctx: RouteContext) -> TfjsGraphModel:
    options = ctx.options
    ignored = [flag for flag, field in _TFJS_ONLY_FLAGS
               if (options.quantization_map() if field == "quantization_map" else getattr(options, field))]
    if ignored:
        ctx.warn(f"{', '.join(ignored)} ignored: they only apply to TF.js output")
    model = read_tfjs_graph_model(ctx.input_path)
    if model.quantized:
        ctx.warn(f"{len(model.quantized)} weight(s) were stored quantized in the graph model; they are "
                 "written dequantized (the values TF.js computes with; the original float32 values are lost)")
    return model


@register_route("tfjs_graph_model", "tf_frozen_model")
def graph_model_to_frozen(ctx: RouteContext) -> None:
    from ..writers.tf.frozen import FROZEN_FILE, write_frozen_graph
    from ..writers.tf.prepare import prepare_for_tensorflow

    model = _read(ctx)
    with _naming(model):
        tables = prepare_for_tensorflow(model.graph, model.initializer)
    write_frozen_graph(model.graph, tables, ctx.output_dir / FROZEN_FILE)


@register_route("tfjs_graph_model", "tf_saved_model")
def graph_model_to_saved_model(ctx: RouteContext) -> None:
    """The serving signature keeps model.json's input and output keys; it is named by
    ``--signature_name`` (default ``serving_default``)."""
    from ..writers.tf.prepare import prepare_for_tensorflow
    from ..writers.tf.saved_model import build_saved_model, write_saved_model
    from ..writers.tf.variables import child_names, lift_variables, weights_by_rule

    model = _read(ctx)
    with _naming(model):
        tables = prepare_for_tensorflow(model.graph, model.initializer)
        lifted = lift_variables(model.graph, weights_by_rule(child_names(("signatures",))))
        saved, variables = build_saved_model(model.graph, tables, lifted,
                                             ctx.options.signature_name or "serving_default")
    write_saved_model(saved, variables, ctx.output_dir)
