"""Regressions from the Keras zoo sweep (fixtures/generate/keras_sweep.py): each case is the small
h5py-built form of what a real application model did, checked in real TF.js where it converts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import h5py
import numpy as np
import pytest
from tfjs_runner import TfjsRunner

import tfjsconv
from tfjsconv.errors import UnsupportedError
from tfjsconv.readers.keras.config import translate_model_config

JsonDict = dict[str, Any]


def tensor(source: str, shape: list[Optional[int]]) -> JsonDict:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": shape, "dtype": "float32", "keras_history": [source, 0, 0]}}


def layer(cls: str, name: str, config: JsonDict, source: Optional[str] = None,
          in_shape: Optional[list[Optional[int]]] = None, module: str = "keras.layers",
          extra_args: tuple[Any, ...] = ()) -> JsonDict:
    """A Keras 3 functional layer entry, called on the output of ``source``."""
    nodes = [] if source is None else [{"args": [tensor(source, in_shape or []), *extra_args], "kwargs": {}}]
    entry = {"module": module, "class_name": cls, "config": {"name": name, "trainable": True,
                                                               "dtype": "float32", **config},
             "registered_name": None, "name": name, "inbound_nodes": nodes}
    if in_shape is not None:
        entry["build_config"] = {"input_shape": in_shape}
    return entry


def functional(layers: list[JsonDict], inputs: str, output: str) -> JsonDict:
    return {"module": "keras", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": "m", "trainable": True, "layers": layers,
                       "input_layers": [inputs, 0, 0], "output_layers": [output, 0, 0]}}


def input_layer(name: str, shape: list[Optional[int]]) -> JsonDict:
    return layer("InputLayer", name, {"batch_shape": shape, "sparse": False, "ragged": False})


def write_keras3_h5(path: Path, config: JsonDict, weights: dict[str, list[tuple[str, np.ndarray]]]) -> Path:
    """The legacy HDF5 layout as Keras 3 writes it (weight names are variable paths)."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "3.15.1"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        root = f.create_group("model_weights")
        names = [entry["name"] for entry in config["config"]["layers"]]
        root.attrs["layer_names"] = np.array([n.encode() for n in names])
        for name in names:
            group = root.create_group(name)
            stored = weights.get(name, [])
            group.attrs["weight_names"] = (np.array([w.encode() for w, _ in stored]) if stored
                                           else np.zeros(0, np.float64))
            for weight, value in stored:
                group.create_dataset(weight, data=value)
    return path


def test_name_scoped_weight_paths_run_in_tfjs(tmp_path: Path, tfjs: TfjsRunner) -> None:
    """Keras 3 NASNet stores `reduction_A_block_stem_1/<layer>/kernel`: the name scope in front of
    the owning layer must go, or TF.js cannot find the weight (load error before the fix)."""
    rng = np.random.default_rng(3)
    kernel = rng.normal(size=(4, 3)).astype(np.float32)
    bias = rng.normal(size=(3,)).astype(np.float32)
    config = functional([input_layer("x", [None, 4]),
                         layer("Dense", "fc", {"units": 3, "activation": "tanh", "use_bias": True},
                               "x", [None, 4])], "x", "fc")
    src = write_keras3_h5(tmp_path / "m.h5", config, {"fc": [("block_scope/inner/fc/kernel", kernel),
                                                             ("block_scope/inner/fc/bias", bias)]})
    tfjsconv.convert(src, tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "model.json").read_text())["weightsManifest"]
    assert [w["name"] for w in manifest[0]["weights"]] == ["fc/kernel", "fc/bias"]
    x = rng.normal(size=(2, 4)).astype(np.float32)
    (got,) = tfjs.run(tmp_path / "out", "layers", [("x", x)])
    np.testing.assert_allclose(got, np.tanh(x @ kernel + bias), rtol=1e-4, atol=1e-4)


def test_softmax_on_last_axis_given_as_positive_index_runs(tmp_path: Path, tfjs: TfjsRunner) -> None:
    config = functional([input_layer("x", [None, 2, 3, 4]),
                         layer("Softmax", "sm", {"axis": 3}, "x", [None, 2, 3, 4])], "x", "sm")
    src = write_keras3_h5(tmp_path / "m.h5", config, {})
    tfjsconv.convert(src, tmp_path / "out")
    x = np.random.default_rng(4).normal(size=(2, 2, 3, 4)).astype(np.float32)
    (got,) = tfjs.run(tmp_path / "out", "layers", [("x", x)])
    want = np.exp(x) / np.exp(x).sum(-1, keepdims=True)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def _refusal(config: JsonDict) -> str:
    with pytest.raises(UnsupportedError) as info:
        translate_model_config(config, keras3=True)
    return str(info.value)


@pytest.mark.parametrize("axis", [1, 2, -2])
def test_batchnorm_on_a_non_last_axis_is_refused(axis: int) -> None:
    """TF.js 4.22 loads these and computes wrong values (off by 1e4 x tolerance in the sweep)."""
    config = functional([input_layer("x", [None, 4, 5, 3]),
                         layer("BatchNormalization", "bn", {"axis": axis}, "x", [None, 4, 5, 3])], "x", "bn")
    message = _refusal(config)
    assert "'bn'" in message and f"axis={axis}" in message


@pytest.mark.parametrize("axis", [-1, 3, [3]])
def test_batchnorm_on_the_last_axis_is_kept(axis: Any) -> None:
    config = functional([input_layer("x", [None, 4, 5, 3]),
                         layer("BatchNormalization", "bn", {"axis": axis}, "x", [None, 4, 5, 3])], "x", "bn")
    translated = translate_model_config(config, keras3=True)
    assert translated.model_config["config"]["layers"][1]["config"]["axis"] == axis


def test_batchnorm_of_rank_five_is_refused() -> None:
    shape = [None, 2, 3, 4, 5]
    config = functional([input_layer("x", shape),
                         layer("BatchNormalization", "bn", {"axis": -1}, "x", shape)], "x", "bn")
    assert "rank 5" in _refusal(config)


@pytest.mark.parametrize("axis,shape", [(1, [None, 5, 4, 3]), (-2, [None, 5, 4]), (1, None)])
def test_softmax_on_a_non_last_axis_is_refused(axis: int, shape: Optional[list[Optional[int]]]) -> None:
    """TF.js throws "Softmax along a non-last dimension is not yet supported" at predict time."""
    config = functional([input_layer("x", shape or [None, 5, 4, 3]),
                         layer("Softmax", "sm", {"axis": axis}, "x", shape)], "x", "sm")
    if shape is None:  # a tf-keras style node: the input rank is unknown
        config["config"]["layers"][1]["inbound_nodes"] = [[["x", 0, 0, {}]]]
    assert "'sm'" in _refusal(config)


def test_keras_operations_are_not_taken_for_merge_layers() -> None:
    """`x * 2.0 + 1.0` in Keras 3 is saved as class Multiply / Add from keras.src.ops.numpy; TF.js
    would load them as merge layers and fail ("merge layer should be called on ... 2 inputs")."""
    config = functional([
        input_layer("x", [None, 4]),
        layer("Multiply", "multiply", {}, "x", [None, 4], module="keras.src.ops.numpy", extra_args=(2.0,)),
        layer("Add", "add", {}, "multiply", [None, 4], module="keras.src.ops.numpy", extra_args=(1.0,)),
    ], "x", "add")
    message = _refusal(config)
    assert "'multiply'" in message and "'add'" in message and "operation" in message


def test_real_merge_layers_still_convert() -> None:
    config = functional([input_layer("a", [None, 4]), input_layer("b", [None, 4]),
                         {**layer("Add", "add", {}), "inbound_nodes": [
                             {"args": [[tensor("a", [None, 4]), tensor("b", [None, 4])]], "kwargs": {}}]}],
                        "a", "add")
    config["config"]["input_layers"] = [["a", 0, 0], ["b", 0, 0]]
    translated = translate_model_config(config, keras3=True)
    assert translated.model_config["config"]["layers"][2]["inbound_nodes"] == [[["a", 0, 0, {}],
                                                                               ["b", 0, 0, {}]]]


def _sequential_h5(path: Path, layers: list[JsonDict],
                   weights: dict[str, list[tuple[str, np.ndarray]]]) -> Path:
    """A tf-keras 2 style Sequential HDF5 file (no shapes recorded beyond the input layer)."""
    config = {"class_name": "Sequential", "config": {"name": "seq", "layers": layers}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.21.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        root = f.create_group("model_weights")
        names = [entry["config"]["name"] for entry in layers]
        root.attrs["layer_names"] = np.array([n.encode() for n in names])
        for name in names:
            group = root.create_group(name)
            stored = weights.get(name, [])
            group.attrs["weight_names"] = (np.array([w.encode() for w, _ in stored]) if stored
                                           else np.zeros(0, np.float64))
            for weight, value in stored:
                group.create_dataset(weight, data=value)
    return path


def _normalization(name: str, mean: Any = None, variance: Any = None) -> JsonDict:
    return {"class_name": "Normalization", "config": {"name": name, "trainable": True, "dtype": "float32",
                                                      "axis": [-1], "invert": False, "mean": mean,
                                                      "variance": variance}}


def test_normalization_is_rewritten_and_runs_in_tfjs(tmp_path: Path, tfjs: TfjsRunner) -> None:
    """EfficientNet's stem: tfjs-layers has no Normalization.  Stored (adapted) statistics, inline
    per-feature statistics and inline scalars must all compute Keras's (x - mean) / sqrt(var)."""
    rng = np.random.default_rng(5)
    stored_mean = rng.normal(size=3).astype(np.float32)
    stored_var = rng.uniform(0.5, 2.0, size=3).astype(np.float32)
    inline_mean, inline_var = [0.485, 0.456, 0.406], [0.052441, 0.050176, 0.050625]
    layers = [{"class_name": "InputLayer", "config": {"batch_input_shape": [None, 2, 3], "dtype": "float32",
                                                      "name": "x"}},
              _normalization("norm_stored"), _normalization("norm_inline", inline_mean, inline_var),
              _normalization("norm_scalar", 0.5, 4.0)]
    weights = {"norm_stored": [("norm_stored/mean:0", stored_mean), ("norm_stored/variance:0", stored_var),
                               ("norm_stored/count:0", np.array(10, np.int64))]}
    src = _sequential_h5(tmp_path / "m.h5", layers, weights)
    report = tfjsconv.convert(src, tmp_path / "out")
    model = json.loads((tmp_path / "out" / "model.json").read_text())
    classes = [entry["class_name"] for entry in model["modelTopology"]["model_config"]["config"]["layers"]]
    assert classes == ["InputLayer", "BatchNormalization", "BatchNormalization", "Rescaling"], report
    names = [w["name"] for w in model["weightsManifest"][0]["weights"]]
    assert names == ["norm_stored/moving_mean", "norm_stored/moving_variance",
                     "norm_inline/moving_mean", "norm_inline/moving_variance"]
    x = rng.normal(size=(2, 2, 3)).astype(np.float32)
    want = (x - stored_mean) / np.sqrt(stored_var)
    want = (want - np.array(inline_mean)) / np.sqrt(np.array(inline_var))
    want = (want - 0.5) / 2.0
    (got,) = tfjs.run(tmp_path / "out", "layers", [("x", x)])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("config,why", [
    ({"invert": True}, "invert"),
    ({"axis": None}, "axis=None"),
    ({"axis": [1, 2]}, "axis=[1, 2]"),
    ({"mean": [1.0, 2.0]}, "only one of mean and variance"),
])
def test_normalization_that_cannot_be_rewritten_is_refused(config: JsonDict, why: str) -> None:
    entry = _normalization("norm")
    entry["config"].update(config)
    model = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 3], "name": "x"}}, entry]}}
    with pytest.raises(UnsupportedError) as info:
        translate_model_config(model)
    assert "'norm'" in str(info.value) and why in str(info.value)


def _input(shape: list[Optional[int]]) -> JsonDict:
    return {"class_name": "InputLayer",
            "config": {"batch_input_shape": shape, "dtype": "float32", "name": "x"}}


def test_keepdims_global_pooling_becomes_a_full_window_and_runs(tmp_path: Path, tfjs: TfjsRunner) -> None:
    """MobileNet's head (both Keras versions) was refused: tfjs-layers has no keepdims.  The spatial
    size is inferred through ZeroPadding/Conv (tf-keras .h5 records no shapes) and the layer becomes
    AveragePooling2D / MaxPooling2D over the whole input."""
    rng = np.random.default_rng(6)
    kernel = rng.normal(size=(3, 3, 2, 3)).astype(np.float32)
    layers = [_input([None, 7, 6, 2]),
              {"class_name": "ZeroPadding2D", "config": {"name": "pad", "padding": [[1, 0], [0, 1]]}},
              {"class_name": "Conv2D", "config": {"name": "conv", "filters": 3, "kernel_size": [3, 3],
                                                  "strides": [2, 2], "padding": "valid", "use_bias": False}},
              {"class_name": "GlobalAveragePooling2D", "config": {"name": "gap", "keepdims": True}},
              {"class_name": "GlobalMaxPooling2D", "config": {"name": "gmp", "keepdims": True}}]
    src = _sequential_h5(tmp_path / "m.h5", layers, {"conv": [("conv/kernel:0", kernel)]})
    tfjsconv.convert(src, tmp_path / "out")
    model = json.loads((tmp_path / "out" / "model.json").read_text())
    converted = model["modelTopology"]["model_config"]["config"]["layers"]
    assert [(e["class_name"], e["config"].get("pool_size")) for e in converted[3:]] == [
        ("AveragePooling2D", [3, 3]), ("MaxPooling2D", [1, 1])]
    x = rng.normal(size=(2, 7, 6, 2)).astype(np.float32)
    padded = np.pad(x, ((0, 0), (1, 0), (0, 1), (0, 0)))
    conv = np.zeros((2, 3, 3, 3), np.float32)
    for i in range(3):
        for j in range(3):
            patch = padded[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3, :]
            conv[:, i, j, :] = np.einsum("bhwc,hwcf->bf", patch, kernel)
    want = conv.mean(axis=(1, 2), keepdims=True)  # then a 1x1 max pool is the identity
    (got,) = tfjs.run(tmp_path / "out", "layers", [("x", x)])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_keepdims_with_unknown_spatial_size_is_still_refused() -> None:
    model = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        _input([None, None, None, 3]),
        {"class_name": "GlobalAveragePooling2D", "config": {"name": "gap", "keepdims": True}}]}}
    with pytest.raises(UnsupportedError) as info:
        translate_model_config(model)
    assert "keepdims" in str(info.value) and "'gap'" in str(info.value)


def test_batchnorm_axis_checked_with_inferred_rank_in_tf_keras_h5() -> None:
    """tf-keras stores axis as a positive list and no shapes: [1] is the last axis after a Dense but
    not on an image (the sweep's keras2 .h5 case computed wrong values before)."""
    dense = {"class_name": "Dense", "config": {"name": "fc", "units": 4}}
    bn = {"class_name": "BatchNormalization", "config": {"name": "bn", "axis": [1]}}
    ok = {"class_name": "Sequential", "config": {"name": "s", "layers": [_input([None, 3]), dense, bn]}}
    translate_model_config(ok)
    image = {"class_name": "Sequential", "config": {"name": "s", "layers": [_input([None, 4, 5, 3]), bn]}}
    with pytest.raises(UnsupportedError) as info:
        translate_model_config(image)
    assert "rank-4" in str(info.value)


def test_reshape_minus_one_resolved_from_inferred_shapes(tmp_path: Path, tfjs: TfjsRunner) -> None:
    """tf-keras .h5: Reshape((-1,)) after Permute/Reshape; TF.js could not build the Dense after it."""
    rng = np.random.default_rng(8)
    kernel = rng.normal(size=(24, 2)).astype(np.float32)
    layers = [_input([None, 4, 6]),
              {"class_name": "Permute", "config": {"name": "perm", "dims": [2, 1]}},
              {"class_name": "Reshape", "config": {"name": "rs", "target_shape": [3, 8]}},
              {"class_name": "Reshape", "config": {"name": "rs_auto", "target_shape": [-1]}},
              {"class_name": "Dense", "config": {"name": "fc", "units": 2, "use_bias": False}}]
    src = _sequential_h5(tmp_path / "m.h5", layers, {"fc": [("fc/kernel:0", kernel)]})
    tfjsconv.convert(src, tmp_path / "out")
    model = json.loads((tmp_path / "out" / "model.json").read_text())
    assert model["modelTopology"]["model_config"]["config"]["layers"][3]["config"]["target_shape"] == [24]
    x = rng.normal(size=(2, 4, 6)).astype(np.float32)
    want = x.transpose(0, 2, 1).reshape(2, 24) @ kernel
    (got,) = tfjs.run(tmp_path / "out", "layers", [("x", x)])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def _masking_model(mask_value: float, not_equal_value: float) -> JsonDict:
    """Keras 3.15's config of Input -> Masking -> LSTM(mask=any(x != v, -1))."""
    shape = [None, 7, 3]
    return functional([
        input_layer("seq", shape),
        layer("NotEqual", "not_equal", {}, "seq", shape, module="keras.src.ops.numpy",
              extra_args=(not_equal_value,)),
        layer("Masking", "mask", {"mask_value": mask_value}, "seq", shape),
        {**layer("Any", "any", {"axis": -1, "keepdims": False}, "not_equal", shape,
                 module="keras.src.ops.numpy")},
        {**layer("LSTM", "lstm", {"units": 2}, "mask", shape), "inbound_nodes": [
            {"args": [tensor("mask", shape)],
             "kwargs": {"training": False, "mask": tensor("any", [None, 7])}}]},
    ], "seq", "lstm")


def test_keras3_automatic_masks_are_left_to_tfjs() -> None:
    """Keras 3 records Masking's mask as not_equal/any operation nodes fed to the LSTM as `mask=`
    (Masking + LSTM and Embedding(mask_zero) + LSTM were refused before); TF.js computes the same
    mask itself, so both the nodes and the keyword go."""
    translated = translate_model_config(_masking_model(0.0, 0.0), keras3=True)
    layers = translated.model_config["config"]["layers"]
    assert [entry["class_name"] for entry in layers] == ["InputLayer", "Masking", "LSTM"]
    assert layers[2]["inbound_nodes"] == [[["mask", 0, 0, {"training": False}]]]


def test_keras3_embedding_mask_zero_is_left_to_tfjs() -> None:
    model = functional([
        input_layer("tokens", [None, 6]),
        layer("Embedding", "emb", {"input_dim": 20, "output_dim": 4, "mask_zero": True},
              "tokens", [None, 6]),
        layer("NotEqual", "not_equal", {}, "tokens", [None, 6], module="keras.src.ops.numpy",
              extra_args=(0,)),
        {**layer("LSTM", "lstm", {"units": 2}, "emb", [None, 6, 4]), "inbound_nodes": [
            {"args": [tensor("emb", [None, 6, 4])], "kwargs": {"mask": tensor("not_equal", [None, 6])}}]},
    ], "tokens", "lstm")
    layers = translate_model_config(model, keras3=True).model_config["config"]["layers"]
    assert [entry["class_name"] for entry in layers] == ["InputLayer", "Embedding", "LSTM"]


def test_keras3_mask_that_differs_from_the_automatic_one_is_refused() -> None:
    """A mask computed with another value than the Masking layer's is not what TF.js would use."""
    with pytest.raises(UnsupportedError) as info:
        translate_model_config(_masking_model(0.0, 1.0), keras3=True)
    assert "not_equal" in str(info.value)


def test_inference_identity_layers_run_in_tfjs(tmp_path: Path, tfjs: TfjsRunner) -> None:
    """SpatialDropout2D and ActivityRegularization have no tfjs-layers class but are the identity
    when predicting: they become Dropout / linear Activation instead of being refused."""
    layers = [_input([None, 4, 4, 2]),
              {"class_name": "SpatialDropout2D", "config": {"name": "sdrop", "rate": 0.4, "seed": None}},
              {"class_name": "ActivityRegularization", "config": {"name": "reg", "l1": 0.1, "l2": 0.0}},
              {"class_name": "Conv2D", "config": {"name": "conv", "filters": 1, "kernel_size": [1, 1],
                                                  "use_bias": False}}]
    kernel = np.array([[[[2.0], [-1.0]]]], np.float32)
    src = _sequential_h5(tmp_path / "m.h5", layers, {"conv": [("conv/kernel:0", kernel)]})
    tfjsconv.convert(src, tmp_path / "out")
    model = json.loads((tmp_path / "out" / "model.json").read_text())
    converted = model["modelTopology"]["model_config"]["config"]["layers"]
    summary = [(e["class_name"], e["config"].get("rate", e["config"].get("activation")))
               for e in converted[1:3]]
    assert summary == [("Dropout", 0.4), ("Activation", "linear")]
    x = np.random.default_rng(9).normal(size=(2, 4, 4, 2)).astype(np.float32)
    (got,) = tfjs.run(tmp_path / "out", "layers", [("x", x)])
    np.testing.assert_allclose(got, x @ kernel[0, 0], rtol=1e-5, atol=1e-5)


def _subtract_model_h5(path: Path, kernel: np.ndarray) -> Path:
    """tf-keras functional config: d = Dense(a); out = Subtract([d, b]), called twice (shared)."""
    def entry(cls: str, name: str, config: JsonDict, nodes: list[Any]) -> JsonDict:
        return {"class_name": cls, "config": {"name": name, **config}, "name": name, "inbound_nodes": nodes}
    layers = [entry("InputLayer", "a", {"batch_input_shape": [None, 3], "dtype": "float32"}, []),
              entry("InputLayer", "b", {"batch_input_shape": [None, 3], "dtype": "float32"}, []),
              entry("Dense", "d", {"units": 3, "use_bias": False}, [[["a", 0, 0, {}]]]),
              entry("Subtract", "sub", {}, [[["d", 0, 0, {}], ["b", 0, 0, {}]],
                                            [["b", 0, 0, {}], ["d", 0, 0, {}]]]),
              entry("Concatenate", "cat", {"axis": -1}, [[["sub", 0, 0, {}], ["sub", 1, 0, {}]]])]
    config = {"class_name": "Functional", "config": {"name": "m", "layers": layers,
                                                     "input_layers": [["a", 0, 0], ["b", 0, 0]],
                                                     "output_layers": [["cat", 0, 0]]}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.21.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        root = f.create_group("model_weights")
        root.attrs["layer_names"] = np.array([e["name"].encode() for e in layers])
        for e in layers:
            group = root.create_group(e["name"])
            group.attrs["weight_names"] = np.zeros(0, np.float64)
        root["d"].attrs["weight_names"] = np.array([b"d/kernel:0"])
        root["d"].create_dataset("d/kernel:0", data=kernel)
    return path


def test_subtract_becomes_add_of_the_negation_and_runs(tmp_path: Path, tfjs: TfjsRunner) -> None:
    """tfjs-layers 4.22 has no Subtract (the sweep's merge model was refused): a - b == a + (-b)
    exactly, with a Rescaling(-1) per call of the (here shared) Subtract layer."""
    rng = np.random.default_rng(10)
    kernel = rng.normal(size=(3, 3)).astype(np.float32)
    src = _subtract_model_h5(tmp_path / "m.h5", kernel)
    tfjsconv.convert(src, tmp_path / "out")
    model = json.loads((tmp_path / "out" / "model.json").read_text())
    layers = model["modelTopology"]["model_config"]["config"]["layers"]
    negate = next(e for e in layers if e["class_name"] == "Rescaling")
    assert negate["name"] == "sub_negated" and len(negate["inbound_nodes"]) == 2
    a, b = rng.normal(size=(2, 2, 3)).astype(np.float32)
    (got,) = tfjs.run(tmp_path / "out", "layers", [("a", a), ("b", b)])
    d = a @ kernel
    np.testing.assert_allclose(got, np.concatenate([d - b, b - d], axis=-1), rtol=1e-5, atol=1e-5)


def test_functional_layers_always_get_a_top_level_name() -> None:
    """TF.js 4.22 hangs forever loading a functional layer entry without "name" (found while
    adding the Subtract rewrite); configs that omit it get it from config.name."""
    config = {"class_name": "Functional", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"name": "x", "batch_input_shape": [None, 2]},
         "inbound_nodes": []},
        {"class_name": "Dense", "config": {"name": "fc", "units": 1}, "inbound_nodes": [[["x", 0, 0, {}]]]}],
        "input_layers": [["x", 0, 0]], "output_layers": [["fc", 0, 0]]}}
    layers = translate_model_config(config).model_config["config"]["layers"]
    assert [entry.get("name") for entry in layers] == ["x", "fc"]
