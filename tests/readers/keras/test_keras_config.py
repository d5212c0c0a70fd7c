"""Keras 3 / tf-keras configs -> the form tfjs-layers 4.22 loads, on real configs (tests/readers/data)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tfjsconv.errors import UnsupportedError, UnsupportedLayersError
from tfjsconv.readers.keras.config import TranslatedConfig, translate_class_names, translate_model_config
from tfjsconv.readers.keras.layer_fixes import tfjs_catalog, to_camel_case
from tfjsconv.writers.layers_model import keras2_weight_name, keras3_weight_name, stacked_cells_to_tfjs

DATA = Path(__file__).parents[1] / "data"
REPO = Path(__file__).resolve().parents[3]


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


def translate(name: str) -> TranslatedConfig:
    data = load(name)
    return translate_model_config(data["model_config"], keras3=data["keras_version"].startswith("3."))


def layers_by_name(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {layer.get("name") or layer["config"]["name"]: layer for layer in config["config"]["layers"]}


def walk(obj: Any):
    yield obj
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield key
            yield from walk(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from walk(item)


# --- structure of translated real configs -------------------------------------------------------

def test_nested_sequential_in_functional_is_rewired_for_tfjs() -> None:
    result = translate("keras3_nested")
    config = result.model_config
    assert config["class_name"] == "Model"
    layers = layers_by_name(config)
    assert layers["inp"] == {"class_name": "InputLayer",
                             "config": {"batch_input_shape": [None, 6], "dtype": "float32", "sparse": False,
                                        "name": "inp"},
                             "name": "inp", "inbound_nodes": []}
    # Keras 3 wrote ["inp", 0, 0] with kwargs {"mask": None} and ["seqm", 0, 0]: a nested model's
    # first call is node 1 for TF.js, and null kwargs go.
    assert layers["seqm"]["inbound_nodes"] == [[["inp", 0, 0, {}]]]
    assert layers["head"]["inbound_nodes"] == [[["seqm", 1, 0, {}]]]
    assert config["config"]["input_layers"] == [["inp", 0, 0]]
    assert config["config"]["output_layers"] == [["head", 0, 0]]
    inner = layers["seqm"]["config"]["layers"]
    assert inner[0] == {"class_name": "InputLayer",
                        "config": {"batch_input_shape": [None, 6], "dtype": "float32", "sparse": False,
                                   "name": "input_layer_3"}}
    assert inner[1] == {"class_name": "Dense", "config": {
        "name": "dense_5", "trainable": True, "dtype": "float32", "units": 5, "activation": "tanh",
        "use_bias": True,
        "kernel_initializer": {"class_name": "GlorotUniform",
                               "config": {"seed": None, "input_axes": None, "output_axes": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None,
        "bias_constraint": None}}
    assert result.model_names == frozenset({"functional_7", "seqm"})
    assert result.layer_classes["dense_6"] == "Dense"
    assert result.layer_classes["seqm"] == "Sequential"


@pytest.mark.parametrize("name", ["keras3_nested", "keras3_multi_io", "keras3_rnn", "keras3_convs",
                                  "keras3_seq_nested", "keras3_shared_nested_fn", "keras3_direct_nested_out",
                                  "keras3_acts", "keras3_td"])
def test_no_keras3_only_keys_or_policy_objects_survive(name: str) -> None:
    config = translate(name).model_config
    keys = {item for item in walk(config) if isinstance(item, str)}
    assert not keys & {"module", "registered_name", "build_config", "batch_shape", "optional",
                       "ragged", "__keras_tensor__", "keras_history", "DTypePolicy", "Functional",
                       "quantization_config", "args", "kwargs"}
    for item in walk(config):
        if isinstance(item, dict) and "dtype" in item and "class_name" not in item:
            assert isinstance(item["dtype"], str), item


def test_merge_layers_get_one_node_with_every_input() -> None:
    config = translate("keras3_multi_io").model_config
    layers = layers_by_name(config)
    assert layers["add"]["inbound_nodes"] == [[["da", 0, 0, {}], ["db", 0, 0, {}]]]
    assert layers["add2"]["inbound_nodes"] == [[["add", 0, 0, {}], ["mul", 0, 0, {}]]]
    assert layers["cat"]["config"]["axis"] == -1
    assert config["config"]["input_layers"] == [["a", 0, 0], ["b", 0, 0]]
    assert config["config"]["output_layers"] == [["o1", 0, 0], ["o2", 0, 0]]


def test_shared_nested_functional_called_twice() -> None:
    config = translate("keras3_shared_nested_fn").model_config
    layers = layers_by_name(config)
    assert layers["shared"]["inbound_nodes"] == [[["x", 0, 0, {}]], [["y", 0, 0, {}]]]
    assert layers["inner_f"]["class_name"] == "Model"
    assert layers["inner_f"]["inbound_nodes"] == [[["shared", 0, 0, {}]], [["shared", 1, 0, {}]]]
    assert layers["mx"]["inbound_nodes"] == [[["inner_f", 1, 0, {}], ["inner_f", 2, 0, {}]]]
    # Keras 3 already counts a nested Functional's inner node in output_layers: no shift there.
    assert config["config"]["output_layers"] == [["inner_f", 1, 0], ["mx", 0, 0]]


def test_outputs_straight_from_nested_models() -> None:
    config = translate("keras3_direct_nested_out").model_config
    layers = layers_by_name(config)
    assert layers["addn"]["inbound_nodes"] == [[["sq", 2, 0, {}], ["fn", 2, 0, {}]]]
    # Keras 3 wrote [["sq", 0, 0], ["fn", 1, 0], ...]: only the Sequential is off by one there.
    assert config["config"]["output_layers"] == [["sq", 1, 0], ["fn", 1, 0], ["addn", 0, 0]]


def test_leaky_relu_negative_slope_becomes_alpha_in_place() -> None:
    layers = layers_by_name(translate("keras3_acts").model_config)
    leaky = next(layer for layer in layers.values() if layer["class_name"] == "LeakyReLU")
    assert list(leaky["config"]) == ["name", "trainable", "dtype", "alpha"]
    assert leaky["config"]["alpha"] == 0.3
    elu = next(layer for layer in layers.values() if layer["class_name"] == "ELU")
    assert elu["config"]["alpha"] == 1.0


def test_bidirectional_inner_layer_loses_keras3_forward_prefix() -> None:
    layers = layers_by_name(translate("keras3_rnn").model_config)
    bi = layers["bi"]["config"]
    assert "backward_layer" not in bi
    assert bi["layer"]["class_name"] == "LSTM"
    assert bi["layer"]["config"]["name"] == "lstm"  # TF.js itself names it forward_lstm
    assert layers["gru"]["config"]["reset_after"] is False
    assert layers["gru"]["config"]["recurrent_initializer"] == {"class_name": "Orthogonal",
                                                                "config": {"seed": None, "gain": 1.0}}


def test_tf_keras_separable_conv_loses_kernel_fields_only() -> None:
    raw = load("keras2_convs")["model_config"]
    raw_sep = next(layer for layer in raw["config"]["layers"] if layer["class_name"] == "SeparableConv2D")
    assert {"kernel_initializer", "kernel_regularizer", "kernel_constraint"} <= set(raw_sep["config"])
    layers = layers_by_name(translate("keras2_convs").model_config)
    sep = layers["sep"]["config"]
    assert not {"kernel_initializer", "kernel_regularizer", "kernel_constraint"} & set(sep)
    assert sep["depthwise_initializer"] == {"class_name": "GlorotUniform", "config": {"seed": None}}
    assert layers["sep"]["inbound_nodes"] == [[["dw", 0, 0, {}]]]
    assert layers["img"]["config"]["batch_input_shape"] == [None, 10, 10, 3]


def test_keras2_wiring_is_left_alone() -> None:
    raw = load("keras2_rnn")["model_config"]
    result = translate("keras2_rnn").model_config
    for before, after in zip(raw["config"]["layers"], result["config"]["layers"]):
        assert after["inbound_nodes"] == before["inbound_nodes"]
    assert result["config"]["output_layers"] == raw["config"]["output_layers"]


# --- weight names ---------------------------------------------------------------------------------

EXPECTED_KERAS3_NAMES = {
    # Checked against tfjs-layers 4.22 LayerVariable.originalName of the translated topologies.
    "keras3_nested": ["dense_5/kernel", "dense_5/bias", "dense_6/kernel", "dense_6/bias",
                      "head/kernel", "head/bias"],
    "keras3_seq_nested": ["depthwise_conv2d/depthwise_kernel", "depthwise_conv2d/bias", "conv2d/kernel",
                          "conv2d/bias", "batch_normalization/gamma", "batch_normalization/beta",
                          "batch_normalization/moving_mean", "batch_normalization/moving_variance",
                          "dense/kernel", "dense/bias"],
    "keras3_td": ["td/kernel", "td/bias", "c1d/kernel", "c1d/bias", "gru/kernel", "gru/recurrent_kernel",
                  "gru/bias"],
    "keras3_rnn": ["emb/embeddings", "lstm/kernel", "lstm/recurrent_kernel", "lstm/bias", "gru/kernel",
                   "gru/recurrent_kernel", "gru/bias", "bi/forward_lstm/kernel",
                   "bi/forward_lstm/recurrent_kernel", "bi/forward_lstm/bias", "bi/backward_lstm/kernel",
                   "bi/backward_lstm/recurrent_kernel", "bi/backward_lstm/bias", "srnn/kernel",
                   "srnn/recurrent_kernel", "srnn/bias"],
    "keras3_convs": ["dw/depthwise_kernel", "dw/bias", "sep/depthwise_kernel", "sep/pointwise_kernel",
                     "sep/bias", "ct/kernel", "ct/bias", "batch_normalization/gamma",
                     "batch_normalization/beta", "batch_normalization/moving_mean",
                     "batch_normalization/moving_variance"],
    "keras3_direct_nested_out": ["sq_d/kernel", "sq_d/bias", "fn_d/kernel", "fn_d/bias"],
    "keras3_shared_nested_fn": ["shared/kernel", "shared/bias", "f_dense/kernel", "f_dense/bias"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_KERAS3_NAMES))
def test_keras3_weight_names_match_tfjs_variable_names(name: str) -> None:
    result = translate(name)
    stored = [w for names in load(name)["weight_names"].values() for w in names]
    names = [keras3_weight_name(w, result.layer_classes, result.model_names) for w in stored]
    assert names == EXPECTED_KERAS3_NAMES[name]


def test_keras2_weight_names_only_lose_the_variable_suffix() -> None:
    stored = [w for names in load("keras2_rnn")["weight_names"].values() for w in names]
    names = [keras2_weight_name(w) for w in stored]
    assert names[:4] == ["emb/embeddings", "lstm/lstm_cell/kernel", "lstm/lstm_cell/recurrent_kernel",
                         "lstm/lstm_cell/bias"]
    assert all(":" not in n for n in names) and len(names) == 16


# --- refusals -------------------------------------------------------------------------------------

def functional(*layers: dict[str, Any]) -> dict[str, Any]:
    inp = {"class_name": "InputLayer", "name": "in",
           "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "in"}, "inbound_nodes": []}
    return {"class_name": "Functional", "config": {"name": "m", "layers": [inp, *layers],
                                                   "input_layers": ["in", 0, 0],
                                                   "output_layers": [layers[-1]["name"], 0, 0]}}


def layer(cls: str, name: str, **config: Any) -> dict[str, Any]:
    node = {"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": ["in", 0, 0]}}],
            "kwargs": {}}
    return {"module": "keras.layers", "class_name": cls, "name": name,
            "config": {"name": name, **config}, "inbound_nodes": [node]}


def test_unknown_classes_are_listed_together_before_anything_else() -> None:
    config = functional(layer("GroupNormalization", "gn"), layer("Dense", "d", units=2),
                        layer("UnitNormalization", "un"), layer("GroupNormalization", "gn2"))
    with pytest.raises(UnsupportedLayersError) as info:
        translate_model_config(config, Path("m.h5"), keras3=True)
    assert info.value.classes == ["GroupNormalization", "UnitNormalization"]
    message = str(info.value)
    assert message.startswith("m.h5: layer classes TF.js 4.22 (tfjs-layers) does not have: "
                              "GroupNormalization, UnitNormalization")
    assert message.endswith("; layers 'gn' (GroupNormalization), 'gn2' (GroupNormalization), "
                            "'un' (UnitNormalization)")
    assert "\n" not in message


def test_lambda_is_refused_with_the_reason_and_its_bytecode_untouched() -> None:
    # A real Keras 3 Lambda config carries marshalled bytecode; it must never be decoded.
    code = {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA", "defaults": None, "closure": None}}
    config = functional(layer("Lambda", "lam", function=code, arguments={}),
                        layer("Wobble", "w"))
    with pytest.raises(UnsupportedLayersError) as info:
        translate_model_config(config, Path("lam.h5"), keras3=True)
    assert isinstance(info.value, UnsupportedError)
    assert info.value.classes == ["Lambda", "Wobble"]
    assert "Python bytecode, which tfjsconv never runs and TF.js cannot run" in str(info.value)
    assert code["config"]["code"] == "4wEAAAAAAAAA"


@pytest.mark.parametrize("bad, reason", [
    (layer("GRU", "g", units=2, reset_after=True), "reset_after=True"),
    (layer("ELU", "e", alpha=0.5), "alpha=0.5"),
    (layer("Conv1D", "c", filters=2, kernel_size=[2], padding="causal"), "padding='causal'"),
    (layer("Conv2D", "c", filters=2, kernel_size=[1, 1], groups=2), "groups > 1"),
    (layer("Dense", "d", units=2, activation="hard_silu"), "activation='hard_silu'"),
    (layer("Dense", "d", units=2, activation="hard_sigmoid"), "relu6(x+3)/6"),
    (layer("Dense", "d", units=2, lora_rank=4), "LoRA"),
    (layer("UpSampling2D", "u", interpolation="bicubic"), "interpolation='bicubic'"),
    (layer("UpSampling2D", "u", interpolation="bilinear"), "no half-pixel centers"),
    (layer("ReLU", "r", negative_slope=0.2), "negative_slope"),
    (layer("BatchNormalization", "b", renorm=True), "renorm=True"),
    (layer("LayerNormalization", "n", rms_scaling=True), "rms_scaling=True"),
    (layer("GlobalAveragePooling2D", "g", keepdims=True), "keepdims=True"),
    (layer("Resizing", "r", height=3, width=3), "fails at predict time"),
    (layer("CenterCrop", "c", height=3, width=3), "predict rejects real inputs"),
])
def test_configs_tfjs_would_reject_or_misread_are_refused(bad: dict[str, Any], reason: str) -> None:
    with pytest.raises(UnsupportedError) as info:
        translate_model_config(functional(bad), Path("x.h5"), keras3=True)
    assert reason in str(info.value)
    assert not isinstance(info.value, UnsupportedLayersError)


def test_all_config_problems_are_reported_in_one_error() -> None:
    config = functional(layer("GRU", "g", units=2, reset_after=True), layer("ELU", "e", alpha=2.0))
    with pytest.raises(UnsupportedError) as info:
        translate_model_config(config, Path("x.h5"), keras3=True)
    assert "layer 'g' (GRU)" in str(info.value) and "layer 'e' (ELU)" in str(info.value)


def test_training_only_objects_tfjs_lacks_are_dropped_with_a_warning() -> None:
    dense = layer("Dense", "d", units=2, activation="silu",
                  kernel_initializer={"module": "keras.initializers", "class_name": "OrthogonalInitializer",
                                      "config": {"gain": 1.0, "seed": None}},
                  bias_initializer={"class_name": "STFT", "config": {}},
                  kernel_regularizer={"class_name": "L2", "config": {"l2": 0.01}},
                  bias_regularizer={"class_name": "OrthogonalRegularizer", "config": {}},
                  activity_regularizer={"class_name": "L1", "config": {"l1": 0.1}},
                  kernel_constraint={"class_name": "NonNeg", "config": {}},
                  bias_constraint={"class_name": "Custom>Clip", "config": {}})
    result = translate_model_config(functional(dense), keras3=True)
    config = layers_by_name(result.model_config)["d"]["config"]
    assert config == {"name": "d", "units": 2, "activation": "swish",
                      "kernel_initializer": {"class_name": "Orthogonal",
                                             "config": {"gain": 1.0, "seed": None}},
                      "kernel_regularizer": {"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.01}},
                      "kernel_constraint": {"class_name": "NonNeg", "config": {}}}
    assert len(result.warnings) == 4
    assert any("activity_regularizer" in w for w in result.warnings)
    assert any("'STFT'" in w for w in result.warnings)


def test_translate_class_names_like_the_official_converter() -> None:
    config = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "BatchNormalizationV1", "config": {}},
        {"class_name": "Bidirectional", "config": {"layer": {"class_name": "UnifiedLSTM", "config": {}}}},
        {"class_name": "UnifiedGRU", "config": {"name": "class_name"}}]}}
    out = translate_class_names(config)
    classes = [layer["class_name"] for layer in out["config"]["layers"]]
    assert classes == ["BatchNormalization", "Bidirectional", "GRU"]
    assert out["config"]["layers"][1]["config"]["layer"]["class_name"] == "LSTM"
    assert out["config"]["layers"][2]["config"]["name"] == "class_name"
    assert config["config"]["layers"][0]["class_name"] == "BatchNormalizationV1"  # input untouched


def test_camel_case_matches_tfjs() -> None:
    assert to_camel_case("hard_sigmoid") == "hardSigmoid"
    assert to_camel_case("log__softmax") == "logSoftmax"
    assert to_camel_case("relu") == "relu"
    assert to_camel_case("a_") == "a"


# --- the catalog ----------------------------------------------------------------------------------

def test_catalog_holds_what_tfjs_layers_registers() -> None:
    catalog = tfjs_catalog()
    assert {"Dense", "LSTM", "Bidirectional", "TimeDistributed", "Sequential", "Model", "InputLayer",
            "SeparableConv2D", "DepthwiseConv2D", "PReLU"} <= catalog["layers"]
    assert not {"Lambda", "GroupNormalization", "Conv1DTranspose", "TFOpLambda"} & catalog["layers"]
    assert "hardSigmoid" in catalog["activations"] and "L1L2" in catalog["regularizers"]


def test_catalog_is_fresh(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (REPO / "tests" / "js" / "node_modules" / "@tensorflow" / "tfjs").is_dir():
        pytest.fail("node and tests/js/node_modules are needed (run npm ci in tests/js)")
    out = tmp_path / "catalog.json"
    subprocess.run([node, str(REPO / "scripts" / "gen_tfjs_layers_catalog.mjs"), str(out)], check=True,
                   capture_output=True)
    committed = REPO / "tfjsconv" / "readers" / "keras" / "tfjs_layers_catalog.json"
    assert json.loads(out.read_text()) == json.loads(committed.read_text())


def test_endpoint_forms_become_lists_of_triples() -> None:
    config = functional(layer("Dense", "d", units=2), layer("Dense", "e", units=2))
    config["config"]["input_layers"] = {"in": ["in", 0, 0]}
    config["config"]["output_layers"] = {"first": ["d", 0, 0], "second": ["e", 0, 0]}
    out = translate_model_config(config, keras3=True).model_config["config"]
    assert out["input_layers"] == [["in", 0, 0]]
    assert out["output_layers"] == [["d", 0, 0], ["e", 0, 0]]


def test_tensors_in_call_kwargs_are_refused() -> None:
    bad = layer("LSTM", "l", units=2)
    bad["inbound_nodes"][0]["kwargs"] = {"initial_state": [
        {"class_name": "__keras_tensor__", "config": {"keras_history": ["in", 0, 0]}}], "training": None}
    with pytest.raises(UnsupportedError, match="keyword arguments \\(initial_state\\)"):
        translate_model_config(functional(bad), keras3=True)


def test_mixed_precision_policy_becomes_float32() -> None:
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "mixed_float16"},
              "registered_name": None}
    dense = layer("Dense", "d", units=2, dtype=policy)
    out = layers_by_name(translate_model_config(functional(dense), keras3=True).model_config)
    assert out["d"]["config"]["dtype"] == "float32"


STACKED_TFJS = ["rnn/RNNCell_0/kernel", "rnn/RNNCell_0/recurrent_kernel", "rnn/RNNCell_0/bias",
                "rnn/RNNCell_1/kernel", "rnn/RNNCell_1/recurrent_kernel", "rnn/RNNCell_1/bias",
                "rnn/RNNCell_2/kernel", "rnn/RNNCell_2/recurrent_kernel", "rnn/RNNCell_2/bias",
                "time_distributed/kernel", "time_distributed/bias"]


@pytest.mark.parametrize("name", ["keras2_stacked", "keras3_stacked"])
def test_stacked_rnn_cells_take_tfjs_cell_scopes(name: str) -> None:
    # RNN([LSTMCell, GRUCell, SimpleRNNCell]): tfjs-layers scopes the cells as RNNCell_<i>.
    data = load(name)
    result = translate(name)
    names = []
    for stored in data["weight_names"].values():
        for weight in stacked_cells_to_tfjs(stored):
            names.append(keras3_weight_name(weight, result.layer_classes, result.model_names)
                         if name.startswith("keras3") else keras2_weight_name(weight))
    assert names == STACKED_TFJS


def test_reshape_minus_one_is_resolved_from_keras3_shapes() -> None:
    # tfjs-layers 4.22 cannot infer -1 while building (its Reshape counts the batch axis as unknown).
    from_node = layer("Reshape", "r", target_shape=[-1, 2])
    from_node["inbound_nodes"][0]["args"][0]["config"]["shape"] = [None, 4, 3]
    from_build = {"class_name": "Reshape", "config": {"name": "r2", "target_shape": [3, -1]},
                  "build_config": {"input_shape": [None, 2, 3, 2]}}
    seq = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 2, 3, 2], "name": "i"}}, from_build]}}
    result = translate_model_config(functional(from_node), keras3=True)
    assert layers_by_name(result.model_config)["r"]["config"]["target_shape"] == [6, 2]
    inner = translate_model_config(seq, keras3=True).model_config["config"]["layers"][1]
    assert inner == {"class_name": "Reshape", "config": {"name": "r2", "target_shape": [3, 4]}}
    assert result.warnings == ()


def test_reshape_minus_one_without_shapes_is_kept_with_a_warning() -> None:
    # A variable-length input: not even the inferred shapes (keras_shapes) can resolve the -1.
    keras2 = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, None, 6], "name": "i"}},
        {"class_name": "Reshape", "config": {"name": "r", "target_shape": [-1, 2]}}]}}
    result = translate_model_config(keras2)
    assert result.model_config["config"]["layers"][1]["config"]["target_shape"] == [-1, 2]
    assert len(result.warnings) == 1 and "keeps its -1" in result.warnings[0]


def test_reshape_minus_one_resolved_from_the_tf_keras_input_shape() -> None:
    keras2 = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 6], "name": "i"}},
        {"class_name": "Reshape", "config": {"name": "r", "target_shape": [-1, 2]}}]}}
    result = translate_model_config(keras2)
    assert result.model_config["config"]["layers"][1]["config"]["target_shape"] == [3, 2]
    assert not result.warnings
