"""Reads the Keras 3 weights layout (``model.weights.h5`` in a ``.keras`` archive, or a standalone
``*.weights.h5`` from ``save_weights``) and names every variable the way tfjs-layers does.

The layout (FORMATS.md §5.2) stores variables by position - ``layers/<key>/vars/0, 1, ...`` - under
keys derived from class names (``dense_1``), with sub-objects in their own groups (``cell`` for RNNs,
``forward_layer``/``backward_layer`` for Bidirectional, ``layer`` for TimeDistributed, ``layers`` for
nested models).  Since Keras 3.6 each ``vars`` group carries the owning object's real name in its
``name`` attribute.  Positions become names through the class's creation order; optional variables
(``use_bias``, ``center``, ``scale``) come from the layer config when there is one, otherwise from the
number of stored variables, and an ambiguous count is an error rather than a guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import h5py

from ...errors import InputError
from ...ir.graph import LazyArray
from .h5_safety import dataset_array
from .h5_types import H5Layer, H5Weight, h5_text

JsonDict = dict[str, Any]

_MODEL_KEYS = frozenset({"sequential", "functional", "model"})
# tf-keras 2.13-2.15 named the layer-list groups `_layer_checkpoint_dependencies`, Keras 3 `layers`.
_LIST_GROUP = re.compile(r"(^|/)_layer_checkpoint_dependencies(?=/|$)")


def snake_case(name: str) -> str:
    """Keras 3's ``naming.to_snake_case``: how a class name becomes a weights-file key."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


# Variable names in creation order, per (snake-cased) class, each with the config flag that makes it
# exist (None: always there; a function of the config when no single flag decides).
_Flag = Union[None, str, Callable[[JsonDict], bool]]
_Spec = tuple[tuple[str, _Flag], ...]
_BIASED: _Spec = (("kernel", None), ("bias", "use_bias"))
_RNN_CELL: _Spec = (("kernel", None), ("recurrent_kernel", None), ("bias", "use_bias"))
_VARIABLES: dict[str, _Spec] = {
    **{key: _BIASED for key in ("dense", "conv1d", "conv2d", "conv3d", "conv1d_transpose", "conv2d_transpose",
                                "conv3d_transpose", "locally_connected1d", "locally_connected2d")},
    **{key: (("depthwise_kernel", None), ("bias", "use_bias"))
       for key in ("depthwise_conv1d", "depthwise_conv2d")},
    **{key: (("depthwise_kernel", None), ("pointwise_kernel", None), ("bias", "use_bias"))
       for key in ("separable_conv1d", "separable_conv2d")},
    "group_normalization": (("gamma", "scale"), ("beta", "center")),
    "layer_scale": (("gamma", None),),  # keras.applications ConvNeXt
    "batch_normalization": (("gamma", "scale"), ("beta", "center"), ("moving_mean", None),
                            ("moving_variance", None)),
    "layer_normalization": (("gamma", "scale"), ("beta", "center")),
    "embedding": (("embeddings", None),),
    "p_re_lu": (("alpha", None),),
    "normalization": (("mean", None), ("variance", None), ("count", None)),
    # `rnn` is RNN(cell) with one built-in cell; its use_bias lives in the cell's config.
    **{key: _RNN_CELL for key in ("simple_rnn", "lstm", "gru", "conv_lstm1d", "conv_lstm2d", "conv_lstm3d",
                                  "rnn", "simple_rnn_cell", "lstm_cell", "gru_cell", "conv_lstm1d_cell",
                                  "conv_lstm2d_cell", "conv_lstm3d_cell")},
    # Layers only the graph-model route lowers (tfjs-layers has no such classes).
    "einsum_dense": (("kernel", None), ("bias", lambda config: bool(config.get("bias_axes")))),
    "attention": (("scale", "use_scale"),
                  ("concat_score_weight", lambda config: config.get("score_mode") == "concat")),
    "additive_attention": (("scale", "use_scale"),),
}
# Classes whose variables live in named sub-objects: (group key, weight-name scope, variables).
_SUB_OBJECTS: dict[str, tuple[tuple[str, str, _Spec], ...]] = {
    "multi_head_attention": tuple((key, scope, _BIASED) for key, scope in (
        ("query_dense", "query"), ("key_dense", "key"), ("value_dense", "value"),
        ("output_dense", "attention_output"))),
}


def _present(flag: _Flag, config: JsonDict) -> bool:
    if flag is None:
        return True
    if callable(flag):
        return flag(config)
    return bool(config.get(flag, True))


def _variable_names(key: str, layer: str, count: int, config: Optional[JsonDict], path: Path,
                    spec: Optional[_Spec] = None) -> list[str]:
    spec = spec or _VARIABLES.get(key)
    if spec is None:
        raise InputError(f"layer {layer!r} ({key}) stores {count} variable(s) but tfjsconv does not know "
                         "their names for this layer type", path)
    if config is not None:
        if key == "layer_normalization" and config.get("rms_scaling"):
            # Keras 3 creates gamma whenever rms_scaling is set (even with scale=False), never beta
            config = {**config, "center": False, "scale": True}
        names = [name for name, flag in spec if _present(flag, config)]
    else:
        # No config: the count must single out which optional variables exist.
        fits = []
        optional = [name for name, flag in spec if flag is not None]
        for mask in range(1 << len(optional)):
            present = {name for i, name in enumerate(optional) if mask >> i & 1}
            candidate = [name for name, flag in spec if flag is None or name in present]
            if len(candidate) == count and candidate not in fits:
                fits.append(candidate)
        if len(fits) != 1:
            raise InputError(f"layer {layer!r} ({key}) stores {count} variable(s), which does not tell "
                             "which of its optional variables exist; convert the whole model instead", path)
        names = fits[0]
    if len(names) != count:
        raise InputError(f"layer {layer!r} ({key}) stores {count} variable(s), its config implies "
                         f"{len(names)} ({', '.join(names)})", path)
    return names


def _datasets(vars_group: Optional[h5py.Group], path: Path) -> list[h5py.Dataset]:
    if vars_group is None:
        return []
    items = [(k, v) for k, v in vars_group.items() if isinstance(v, h5py.Dataset)]
    if any(not k.isdigit() for k, _ in items):
        raise InputError(f"unexpected variable names in {vars_group.name}: {sorted(k for k, _ in items)}",
                         path)
    return [v for _, v in sorted(items, key=lambda kv: int(kv[0]))]  # HDF5 order is 0, 1, 10, 2


def _lazy(dataset: h5py.Dataset, path: Path, name: str) -> LazyArray:
    if str(dataset.attrs.get("dtype", "")) == "bfloat16":
        raise InputError(f"weight {name!r} is stored as bfloat16, which TF.js has no type for", path)
    return dataset_array(dataset, name, path)


def _vars(group: h5py.Group) -> Optional[h5py.Group]:
    sub = group.get("vars")
    return sub if isinstance(sub, h5py.Group) else None


def _real_name(group: h5py.Group, fallback: str) -> str:
    vars_group = _vars(group)
    if vars_group is not None and "name" in vars_group.attrs:
        value = vars_group.attrs["name"]
        return h5_text(value)
    return fallback


@dataclass(frozen=True)
class _Context:
    path: Path
    configs: Mapping[str, JsonDict]  # layer name -> {"class_name", "config"} at any depth (may be empty)
    keys: Mapping[str, str]  # weights-file group path -> layer name, from the config's sibling order


def _strip_index(key: str) -> str:
    return re.sub(r"_\d+$", "", key)


def _guess_class_key(group: h5py.Group) -> str:
    """Class key of a wrapped layer when there is no config: from its RNN cell or its own name."""
    cell = group.get("cell")
    if isinstance(cell, h5py.Group):
        return re.sub(r"_cell(_\d+)?$", "", snake_case(_real_name(cell, "")))
    return _strip_index(re.sub(r"^(forward|backward)_", "", _real_name(group, "")))


def _entry_key(entry: Optional[JsonDict], group: h5py.Group) -> tuple[str, Optional[JsonDict]]:
    if entry is not None:
        config = entry.get("config")
        return snake_case(str(entry.get("class_name"))), config if isinstance(config, dict) else None
    return _guess_class_key(group), None


def _object_weights(group: h5py.Group, name: str, scope: str, class_key: str, config: Optional[JsonDict],
                    ctx: _Context) -> Iterator[H5Weight]:
    """Weights of one (non-model) layer object named ``name`` in TF.js, under the name prefix ``scope``."""
    tensors = _datasets(_vars(group), ctx.path)
    for sub_key, sub_scope, spec in _SUB_OBJECTS.get(class_key, ()):
        sub = group.get(sub_key)
        if sub is None:  # tf-keras's .keras archives keep the private attribute name (`_query_dense`)
            sub = group.get(f"_{sub_key}")
        sub_tensors = _datasets(_vars(sub), ctx.path) if isinstance(sub, h5py.Group) else []
        if sub_tensors:
            names = _variable_names(class_key, name, len(sub_tensors), config, ctx.path, spec)
            for var, dataset in zip(names, sub_tensors):
                full = f"{scope}{name}/{sub_scope}/{var}"
                yield H5Weight(full, _lazy(dataset, ctx.path, full))
    cell = group.get("cell")
    if isinstance(cell, h5py.Group):  # RNN: the cell owns the variables, TF.js puts them on the layer
        tensors += _datasets(_vars(cell), ctx.path)
    if tensors:
        flags = config
        if class_key == "rnn" and isinstance((config or {}).get("cell"), dict):
            flags = config["cell"].get("config") if config else None
        for var, dataset in zip(_variable_names(class_key, name, len(tensors), flags, ctx.path), tensors):
            full = f"{scope}{name}/{var}"
            yield H5Weight(full, _lazy(dataset, ctx.path, full))
    cells = cell.get("cells") if isinstance(cell, h5py.Group) else None
    if isinstance(cells, h5py.Group):
        # RNN([cell, ...]): TF.js scopes the stacked cells as RNNCell_0, RNNCell_1, ... under the layer.
        cell_entry = (config or {}).get("cell")
        entries = (cell_entry or {}).get("config", {}).get("cells") if isinstance(cell_entry, dict) else None
        if isinstance(entries, list) and entries:
            keyed = list(zip(_sibling_keys(entries), entries))
        else:
            keyed = [(key, None) for key in _natural(cells.keys())]
        for index, (key, entry) in enumerate(keyed):
            sub = cells.get(key)
            if isinstance(sub, h5py.Group):
                cell_key, cell_config = _entry_key(entry, sub)
                yield from _object_weights(sub, f"RNNCell_{index}", f"{scope}{name}/", cell_key, cell_config,
                                           ctx)
    wrapped = (config or {}).get("layer")
    wrapped = wrapped if isinstance(wrapped, dict) else None
    for attr, prefix in (("forward_layer", "forward_"), ("backward_layer", "backward_")):
        sub = group.get(attr)
        if isinstance(sub, h5py.Group):
            # Bidirectional: TF.js rebuilds both directions from `layer` as forward_<inner name> and
            # backward_<inner name>, scoped under the wrapper; Keras 3 already prefixed the inner name.
            inner = (wrapped or {}).get("config", {}).get("name") or _real_name(sub, "")
            base = re.sub(r"^(forward|backward)_", "", str(inner))
            key, inner_config = _entry_key(wrapped, sub)
            yield from _object_weights(sub, prefix + base, f"{scope}{name}/", key, inner_config, ctx)
    sub = group.get("layer")
    if isinstance(sub, h5py.Group):  # TimeDistributed: TF.js scopes the wrapped layer's variables as its own
        key, inner_config = _entry_key(wrapped, sub)
        yield from _object_weights(sub, name, scope, key, inner_config, ctx)


def _layer_weights(group: h5py.Group, key: str, ctx: _Context) -> Iterator[tuple[str, H5Weight]]:
    """(top-level layer name, weight) pairs of one ``layers/<key>`` group."""
    # The `name` attribute (Keras >= 3.6) is authoritative; the positional rule covers older files
    # when the config is at hand.  Without either, `dense_1` need not be the layer's name.
    name = _real_name(group, "") or ctx.keys.get(_LIST_GROUP.sub(r"\1layers", group.name)) or ""
    if not name:
        if _count_datasets(group):
            raise InputError(f"{group.name!r} carries no layer name (Keras < 3.6 and tf-keras do not store "
                             "one), so its weights cannot be matched to TF.js layers without the model "
                             "config; convert the full model (.keras or .h5) instead", ctx.path)
        name = key
    entry = ctx.configs.get(name)
    class_key, config = _entry_key(entry, group) if entry is not None else (_strip_index(key), None)
    nested = group.get("layers") or group.get("_layer_checkpoint_dependencies")
    if class_key in _MODEL_KEYS or (isinstance(nested, h5py.Group) and class_key not in _VARIABLES):
        # tfjs-layers scopes a nested model's variables by its layers' own names only.
        for child_key in _natural(nested.keys() if isinstance(nested, h5py.Group) else ()):
            child = nested[child_key]
            if isinstance(child, h5py.Group):
                for _, weight in _layer_weights(child, child_key, ctx):
                    yield name, weight
        return
    for weight in _object_weights(group, name, "", class_key, config, ctx):
        yield name, weight


def _sibling_keys(entries: list[Any]) -> list[str]:
    """Weights-file keys of sibling objects: snake-cased class names made unique in list order."""
    used: dict[str, int] = {}
    keys = []
    for entry in entries:
        base = snake_case(str(entry.get("class_name") if isinstance(entry, dict) else "object"))
        count = used.get(base, 0)
        used[base] = count + 1
        keys.append(base if count == 0 else f"{base}_{count}")
    return keys


def _config_index(model_config: Optional[JsonDict]) -> tuple[dict[str, JsonDict], dict[str, str]]:
    """Layer configs by name, and weights-file group paths by the positional key rule (pre-3.6 files)."""
    configs: dict[str, JsonDict] = {}
    keys: dict[str, str] = {}

    def visit(entry: JsonDict, group_path: str) -> None:
        config = entry.get("config")
        if not isinstance(config, dict):
            return
        layers = config.get("layers")
        if not isinstance(layers, list):
            return
        siblings = [layer for layer in layers if isinstance(layer, dict)]
        if (entry.get("class_name") == "Sequential" and siblings
                and siblings[0].get("class_name") == "InputLayer"):
            siblings = siblings[1:]  # Sequential.layers does not list its InputLayer
        for key, layer in zip(_sibling_keys(siblings), siblings):
            inner = layer.get("config")
            name = layer.get("name") or (inner.get("name") if isinstance(inner, dict) else None)
            if isinstance(name, str):
                configs.setdefault(name, layer)
                keys[f"{group_path}/layers/{key}"] = name
            visit(layer, f"{group_path}/layers/{key}")

    if model_config:
        visit(model_config, "")
    return configs, keys


def read_v3_weights(root: h5py.Group, path: Path,
                    model_config: Optional[JsonDict] = None) -> tuple[H5Layer, ...]:
    """All layers' weights with tfjs-layers names: in config order when there is a config, else in
    natural key order (``dense``, ``dense_1``, ``dense_2``, ..., ``dense_10``)."""
    layers_group = root.get("layers") or root.get("_layer_checkpoint_dependencies")
    if not isinstance(layers_group, h5py.Group):
        raise InputError("the Keras weights file has no layers group", path)
    configs, keys = _config_index(model_config)
    ctx = _Context(path, configs, {f"{root.name.rstrip('/')}{k}": v for k, v in keys.items()})
    config_order = [k.rsplit("/", 1)[1] for k in keys if k.count("/") == 2]  # "/layers/<key>"
    ranked = {key: i for i, key in enumerate(config_order)}
    natural = _natural(layers_group.keys())
    ordered = sorted(natural, key=lambda k: (ranked.get(k, len(ranked)), natural.index(k)))
    by_layer: dict[str, list[H5Weight]] = {}
    for key in ordered:
        child = layers_group[key]
        if not isinstance(child, h5py.Group):
            continue
        found = list(_layer_weights(child, key, ctx))
        stored = _count_datasets(child)
        if len(found) != stored:
            # Never drop variables silently: TF.js would fail on them later, or worse, keep initial values.
            raise InputError(f"layers/{key} stores {stored} variables but tfjsconv could name only "
                             f"{len(found)} of them for TF.js", path)
        for owner, weight in found:
            by_layer.setdefault(owner, []).append(weight)
    return tuple(H5Layer(name, tuple(weights)) for name, weights in by_layer.items())


def _count_datasets(group: h5py.Group) -> int:
    datasets: list[str] = []
    group.visititems(lambda name, obj: datasets.append(name) if isinstance(obj, h5py.Dataset) else None)
    return len(datasets)


def _natural(keys: Any) -> list[str]:
    def order(key: str) -> tuple[str, int]:
        match = re.fullmatch(r"(.*?)(?:_(\d+))?", key)
        assert match is not None
        return match.group(1), int(match.group(2) or 0)

    return sorted(keys, key=order)

