"""A window argument Keras itself refuses (a zero or negative stride, kernel, pool or upsampling
size) is refused on both Keras routes, before anything divides by it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import h5py
import pytest

import tfjsconv
from tfjsconv.errors import InputError
from tfjsconv.readers.keras.layer_args import check_window_args

SOURCE = Path(__file__).resolve().parents[3] / "fixtures" / "models" / "keras2_conv_pool" / "model.h5"


def _with_conv_arg(tmp_path: Path, key: str, value: Any) -> Path:
    path = tmp_path / "model.h5"
    shutil.copy(SOURCE, path)
    with h5py.File(path, "r+") as handle:
        config = json.loads(handle.attrs["model_config"])
        conv = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Conv2D")
        conv["config"][key] = value
        handle.attrs["model_config"] = json.dumps(config)
    return path


@pytest.mark.parametrize("output_format", ["tfjs_layers_model", "tfjs_graph_model"])
@pytest.mark.parametrize("key, value", [("strides", [0, 0]), ("kernel_size", [3, -1]),
                                        ("dilation_rate", 0)])
def test_zero_or_negative_window_is_refused(tmp_path: Path, output_format: str, key: str, value: Any) -> None:
    # Found by fuzzing: strides 0 reached the graph route's window arithmetic (ZeroDivisionError).
    path = _with_conv_arg(tmp_path, key, value)
    out = tmp_path / "out"
    with pytest.raises(InputError) as caught:
        tfjsconv.convert(str(path), str(out), output_format=output_format)
    expected = f"(Conv2D) has {key}={value!r}; Keras requires every dimension to be at least 1"
    assert expected in str(caught.value)
    assert not out.exists()


def test_nested_and_class_specific_arguments_are_checked() -> None:
    wrapped = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "TimeDistributed", "config": {"name": "td", "layer": {
            "class_name": "MaxPooling1D", "config": {"name": "pool", "pool_size": [0], "strides": None}}}}]}}
    with pytest.raises(ValueError, match=r"layer pool \(MaxPooling1D\) has pool_size=\[0\]"):
        check_window_args(wrapped)
    upsampling = {"class_name": "UpSampling2D", "config": {"name": "up", "size": [2, float("nan")]}}
    with pytest.raises(ValueError, match="layer up"):
        check_window_args(upsampling)
    # `size` is a window only for UpSampling; pooling strides may be None (= pool_size).
    check_window_args({"class_name": "Bogus", "config": {"size": 0}})
    check_window_args({"class_name": "MaxPooling2D", "config": {"pool_size": [2, 2], "strides": None}})
