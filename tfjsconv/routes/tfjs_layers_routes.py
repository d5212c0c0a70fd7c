"""TF.js layers models as input: re-shard/re-quantize into a layers model, or write a Keras HDF5 file.

Unlike the official converter (which round-trips through tf_keras and so drops userDefinedMetadata,
``--split_weights_by_layer`` and the original topology), the layers -> layers route keeps the topology
and metadata verbatim and only rewrites the weights.  Quantized inputs are dequantized as TF.js would
(``decodeWeight``) and re-quantized only when a quantization flag asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

from ..errors import InputError, UnsupportedError
from ..ir.graph import Graph
from ..readers.keras.layer_args import check_window_args
from ..readers.keras.weight_check import check_weight_shapes
from ..readers.tfjs.layers_model import TfjsLayersModel, read_tfjs_layers_model
from ..version import CONVERTED_BY
from ..writers.keras_h5_writer import KERAS_H5_FILE, layers_with_weights, write_keras_h5
from ..writers.model_json import write_model_json
from ..writers.weights import Weight, write_weights
from .base import RouteContext, register_route

# The HDF5 we write has tf-keras 2's layout and TF.js's (= Keras 2 style) model_config, so it must
# not claim a Keras 3 or "tfjs-layers x.y" version: readers pick the config dialect by that number.
_FALLBACK_KERAS_VERSION = "2.15.0"
# model.json keys in the official writer's order; anything else the input has follows them.
_KEY_ORDER = ("format", "generatedBy", "convertedBy", "userDefinedMetadata", "modelTopology")


def groups_by_layer(weights: Sequence[Weight]) -> list[list[Weight]]:
    """One group per layer, the layer being the weight name up to its last '/', in first-seen order."""
    groups: dict[str, list[Weight]] = {}
    for weight in weights:
        groups.setdefault(weight.name.rpartition("/")[0], []).append(weight)
    return list(groups.values())


def rebuilt_model_json(document: Mapping[str, Any], manifest: list[dict],
                       metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The input model.json with new weights, our convertedBy and ``--metadata`` merged in (new keys
    win over the input's userDefinedMetadata entries of the same name)."""
    merged = dict(document.get("userDefinedMetadata") or {})
    merged.update(metadata)
    fields: dict[str, Any] = dict(document)
    fields.update(format="layers-model", convertedBy=CONVERTED_BY)
    fields.setdefault("generatedBy", None)
    fields.setdefault("modelTopology", None)
    fields.pop("userDefinedMetadata", None)
    if merged:
        fields["userDefinedMetadata"] = merged
    fields.pop("weightsManifest", None)
    out = {key: fields.pop(key) for key in _KEY_ORDER if key in fields}
    out.update(fields)
    out["weightsManifest"] = manifest
    return out


@register_route("tfjs_layers_model", "tfjs_layers_model")
def reshard_layers_model(ctx: RouteContext) -> None:
    options = ctx.options
    model = read_tfjs_layers_model(ctx.input_path)
    weights = model.weights()  # lazy: each is read from the shards when the writer reaches it
    topology = model.topology if isinstance(model.topology, dict) else {}
    config = topology.get("model_config")
    if isinstance(config, dict):  # a missing or misshapen weight would only fail in the browser
        check_weight_shapes(config, [(w.name, tuple(w.data.shape)) for w in weights], ctx.input_path)
    else:
        ctx.warn(f"{ctx.input_path}: model.json has no modelTopology.model_config (a weights-only model); "
                 "TF.js needs the architecture from elsewhere")
    groups = groups_by_layer(weights) if options.split_weights_by_layer else [weights]
    notes: list[str] = []
    manifest = write_weights(groups, ctx.output_dir, shard_size_bytes=options.shard_size,
                             quantization=options.quantization_map() or None, warnings=notes)
    for note in notes:
        ctx.warn(note)
    write_model_json(ctx.output_dir, rebuilt_model_json(model.document, manifest, options.metadata))


def _keras_version(topology: Mapping[str, Any]) -> str:
    version = topology.get("keras_version")
    if isinstance(version, str) and version.startswith("2."):
        return version
    return _FALLBACK_KERAS_VERSION


def _training_config(model: TfjsLayersModel) -> Any:
    # Converters keep it inside modelTopology; tfjs-layers' own model.save writes a top-level key.
    topology = model.topology or {}
    config = topology.get("training_config", model.document.get("trainingConfig"))
    return config if isinstance(config, dict) else None


# What interpreting untrusted JSON of the wrong shape raises (a list where a dict goes, a string
# where an int goes, a missing key, a zero stride).
_MALFORMED = (AttributeError, TypeError, KeyError, ValueError, IndexError, ArithmeticError)


@contextmanager
def _interpreting_config(model_json: Path) -> Iterator[None]:
    """The Keras writers read model_config as Keras wrote it; a config that breaks that layout is
    refused as bad input, not reported as an internal error."""
    try:
        yield
    except _MALFORMED as exc:
        raise InputError("modelTopology.model_config does not have the structure of a Keras model config "
                         f"({type(exc).__name__}: {' '.join(str(exc).split())[:160]})",
                         model_json) from None


def _keras_model_config(model: TfjsLayersModel, what: str) -> dict[str, Any]:
    config = (model.topology or {}).get("model_config")
    if not isinstance(config, dict):
        raise InputError("model.json has no modelTopology.model_config (a weights-only model); "
                         f"{what} needs the architecture", model.model_json)
    with _interpreting_config(model.model_json):
        check_window_args(config)
    return config


def _warn_tfjs_only_flags(ctx: RouteContext) -> None:
    options = ctx.options
    ignored = [flag for flag, used in (("--quantize_*", bool(options.quantization_map())),
                                       ("--split_weights_by_layer", options.split_weights_by_layer),
                                       ("--metadata", bool(options.metadata))) if used]
    if ignored:
        ctx.warn(f"{', '.join(ignored)} ignored: they only apply to TF.js output")


@register_route("tfjs_layers_model", "keras")
def layers_model_to_keras_h5(ctx: RouteContext) -> None:
    """Writes ``model.h5`` into the output (see ``atomic_output_file`` for placing it as a file)."""
    _warn_tfjs_only_flags(ctx)
    model = read_tfjs_layers_model(ctx.input_path)
    config = _keras_model_config(model, "a Keras model file")
    topology = model.topology
    assert topology is not None
    with _interpreting_config(model.model_json):
        layers = layers_with_weights(config, model.weights(), model.model_json)
        write_keras_h5(ctx.output_dir / KERAS_H5_FILE, keras_version=_keras_version(topology),
                       backend="tensorflow",  # TF.js weights are in TensorFlow's kernel layouts
                       model_config=config, training_config=_training_config(model), layers=layers)


@register_route("tfjs_layers_model", "keras_keras")
def layers_model_to_keras_archive(ctx: RouteContext) -> None:
    """Writes a Keras 3 ``.keras`` archive (placed as a single file, like the ``keras`` output)."""
    from ..writers.tf.keras_archive import KERAS_FILE, write_keras_archive

    _warn_tfjs_only_flags(ctx)
    model = read_tfjs_layers_model(ctx.input_path)
    config = _keras_model_config(model, "a Keras model file")
    with _interpreting_config(model.model_json):
        write_keras_archive(ctx.output_dir / KERAS_FILE, config, model.weights(), model.model_json)


@register_route("tfjs_layers_model", "keras_saved_model")
def layers_model_to_keras_saved_model(ctx: RouteContext) -> None:
    """A tf-keras SavedModel: the layers as tf-keras revives them (``keras_metadata.pb``, the object
    graph, the checkpoint) plus a ``serving_default`` signature computed by the Keras layer lowering,
    whose variables are the layers' own."""
    from ..lowering.keras.model import KerasModelSource, lower_keras_model
    from ..writers.tf.keras_objects import KERAS_METADATA_FILE, keras_objects
    from ..writers.tf.prepare import prepare_for_tensorflow
    from ..writers.tf.saved_model import build_saved_model, write_saved_model
    from ..writers.tf.variables import lift_variables

    _warn_tfjs_only_flags(ctx)
    model = read_tfjs_layers_model(ctx.input_path)
    topology = model.topology or {}
    config = _keras_model_config(model, "a Keras model")
    weights = model.weights()  # one set of objects: the lowering's weight Consts hold these very arrays
    with _interpreting_config(model.model_json):
        objects = keras_objects(config, weights, model.model_json, _keras_version(topology))
    try:
        graph: Optional[Graph] = lower_keras_model(KerasModelSource(config, [("", weights)], False,
                                                                    model.model_json))
    except UnsupportedError as exc:
        # tf-keras rebuilds the layers from their configs and needs no graph; only the serving
        # signature (tf.saved_model.load, TF Serving) does.
        ctx.warn(f"the SavedModel has no serving signature: {exc.message}")
        graph = None
    lifted = []
    if graph is not None:
        prepare_for_tensorflow(graph, None)
        by_data = {id(variable.value): variable for variable in objects.variables}
        lifted = lift_variables(graph, lambda node: by_data.get(id(node.attrs.get("value"))))
    saved, _ = build_saved_model(graph, [], lifted, "serving_default", objects=objects.graph,
                                 checkpoint_graph=objects.checkpoint, variables=objects.variables)
    write_saved_model(saved, objects.variables, ctx.output_dir, objects.checkpoint)
    (ctx.output_dir / KERAS_METADATA_FILE).write_bytes(objects.metadata.SerializeToString())
