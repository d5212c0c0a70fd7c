"""Builds the large synthetic models the benchmarks convert (outside the repository).

    TF_USE_LEGACY_KERAS=1 /work/fxenv/bin/python benchmarks/generate.py [--out /work/bench-models]
        [--only NAME[,NAME...]] [--gib 1.0]

Needs the ``fixtures`` extra (TensorFlow, tf-keras, Keras 3, onnx).  Writes into ``--out``:

| name                  | what                                                                      |
|-----------------------|---------------------------------------------------------------------------|
| resnet50.h5           | tf-keras 2 ``ResNet50(weights=None)`` saved as HDF5 (random weights)      |
| resnet50_saved_model/ | the same model as a TF2 SavedModel                                         |
| big.h5                | ~1 GiB tf-keras 2 Dense stack (2048 wide), HDF5                           |
| big.keras             | ~1 GiB Keras 3 Dense stack, ``.keras`` zip archive                         |
| big_saved_model/      | ~1 GiB 1x1-Conv2D + BatchNormalization stack, TF2 SavedModel (the batch    |
|                       | norms are folded by the graph optimizer, so weights go through it)        |
| big_frozen.pb         | the same network frozen into one GraphDef (weights as Const tensor_content) |
| big.onnx              | ~1 GiB ONNX MLP (Gemm with transB=1, MatMul, Add, Relu), one file          |
| big_external/         | the same ONNX model with its initializers in an external data file        |

Every weight tensor is 2048 x 2048 float32 (16 MiB), the largest single tensor of each big model, so
the memory bound the benchmarks check is 100 MiB + 16 MiB.  ``manifest.json`` records for each model
its path, input format, tfjsconv/official arguments, size and largest tensor.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tf.keras = Keras 2, `import keras` = Keras 3
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

WIDTH = 2048  # every big weight is WIDTH x WIDTH float32 = 16 MiB
TENSOR_BYTES = WIDTH * WIDTH * 4


def _layers_for(gib: float) -> int:
    return max(1, round(gib * 2**30 / TENSOR_BYTES))


def _dense_stack(keras_module: Any, count: int) -> Any:
    layers = keras_module.layers
    inputs = keras_module.Input((WIDTH,), name="x")
    x = inputs
    for i in range(count):
        x = layers.Dense(WIDTH, activation="relu", name=f"dense_{i}")(x)
    return keras_module.Model(inputs, x, name="big_dense")


def _random_weights(model: Any, seed: int = 0) -> None:
    """Small random weights (the initializers are slow for 1 GiB and the values do not matter)."""
    rng = np.random.default_rng(seed)
    model.set_weights(
        [(rng.standard_normal(w.shape, dtype=np.float32) * 0.02).astype(w.dtype) for w in model.get_weights()]
    )


def build_resnet50_h5(out: Path) -> dict:
    import tensorflow as tf

    model = tf.keras.applications.ResNet50(weights=None)
    path = out / "resnet50.h5"
    model.save(path)
    return {
        "path": path.name,
        "input_format": "keras",
        "tfjsconv_args": [],
        "official_args": ["--input_format=keras"],
        "largest_tensor": _largest(model),
    }


def build_resnet50_saved_model(out: Path) -> dict:
    import tensorflow as tf

    model = tf.keras.applications.ResNet50(weights=None)
    path = out / "resnet50_saved_model"
    shutil.rmtree(path, ignore_errors=True)
    tf.saved_model.save(model, str(path))
    return {
        "path": path.name,
        "input_format": "tf_saved_model",
        "tfjsconv_args": [],
        "official_args": ["--input_format=tf_saved_model"],
        "largest_tensor": _largest(model),
    }


def build_big_h5(out: Path, count: int) -> dict:
    import tensorflow as tf

    model = _dense_stack(tf.keras, count)
    _random_weights(model)
    path = out / "big.h5"
    model.save(path)
    return {
        "path": path.name,
        "input_format": "keras",
        "tfjsconv_args": [],
        "official_args": ["--input_format=keras"],
        "largest_tensor": TENSOR_BYTES,
    }


def build_big_keras(out: Path, count: int) -> dict:
    import keras

    model = _dense_stack(keras, count)
    _random_weights(model)
    path = out / "big.keras"
    model.save(path)
    return {
        "path": path.name,
        "input_format": "keras_keras",
        "tfjsconv_args": [],
        "official_args": ["--input_format=keras_keras", "--output_format=tfjs_layers_model"],
        "largest_tensor": TENSOR_BYTES,
    }


def _conv_bn_model(count: int) -> Any:
    import tensorflow as tf

    layers = tf.keras.layers
    inputs = tf.keras.Input((4, 4, WIDTH), name="x")
    x = inputs
    for i in range(count):
        x = layers.Conv2D(WIDTH, 1, use_bias=False, name=f"conv_{i}")(x)
        x = layers.BatchNormalization(name=f"bn_{i}")(x)
        x = layers.ReLU(name=f"relu_{i}")(x)
    model = tf.keras.Model(inputs, x, name="big_conv_bn")
    rng = np.random.default_rng(1)
    weights = []
    for w in model.get_weights():
        if w.ndim == 4:
            weights.append((rng.standard_normal(w.shape, dtype=np.float32) * 0.02).astype(w.dtype))
        else:  # batch norm gamma/beta/mean/variance: positive variance, nontrivial scale
            weights.append(rng.uniform(0.5, 1.5, w.shape).astype(w.dtype))
    model.set_weights(weights)
    return model


def build_big_saved_model(out: Path, count: int) -> dict:
    import tensorflow as tf

    model = _conv_bn_model(count)
    path = out / "big_saved_model"
    shutil.rmtree(path, ignore_errors=True)
    tf.saved_model.save(model, str(path))
    return {
        "path": path.name,
        "input_format": "tf_saved_model",
        "tfjsconv_args": [],
        "official_args": ["--input_format=tf_saved_model"],
        "largest_tensor": TENSOR_BYTES,
    }


def build_big_frozen(out: Path, count: int) -> dict:
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    model = _conv_bn_model(count)
    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec([1, 4, 4, WIDTH], tf.float32, name="x"))
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    output = frozen.outputs[0].name.split(":")[0]
    path = out / "big_frozen.pb"
    path.write_bytes(graph_def.SerializeToString())
    names = f"--output_node_names={output}"
    return {
        "path": path.name,
        "input_format": "tf_frozen_model",
        "tfjsconv_args": [names],
        "official_args": ["--input_format=tf_frozen_model", names],
        "largest_tensor": TENSOR_BYTES,
    }


def _onnx_mlp(count: int) -> Any:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(2)
    nodes, inits = [], []
    x = "x"
    for i in range(count):
        w = (rng.standard_normal((WIDTH, WIDTH), dtype=np.float32) * 0.02).astype(np.float32)
        b = (rng.standard_normal(WIDTH, dtype=np.float32) * 0.02).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        if i % 2 == 0:  # PyTorch's Linear export: Gemm with a transposed weight
            nodes.append(helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [f"g{i}"], transB=1))
        else:
            nodes.append(helper.make_node("MatMul", [x, f"w{i}"], [f"m{i}"]))
            nodes.append(helper.make_node("Add", [f"m{i}", f"b{i}"], [f"g{i}"]))
        nodes.append(helper.make_node("Relu", [f"g{i}"], [f"r{i}"]))
        x = f"r{i}"
    graph = helper.make_graph(
        nodes,
        "big_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, WIDTH])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, WIDTH])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="generate.py")


def build_big_onnx(out: Path, count: int) -> dict:
    import onnx

    path = out / "big.onnx"
    onnx.save_model(_onnx_mlp(count), str(path))
    return {
        "path": path.name,
        "input_format": "onnx",
        "tfjsconv_args": [],
        "official_args": None,
        "largest_tensor": TENSOR_BYTES,
    }


def build_big_onnx_external(out: Path, count: int) -> dict:
    import onnx

    directory = out / "big_external"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    onnx.save_model(
        _onnx_mlp(count),
        str(directory / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx.data",
        size_threshold=1024,
    )
    return {
        "path": "big_external/model.onnx",
        "size_of": "big_external",
        "input_format": "onnx",
        "tfjsconv_args": [],
        "official_args": None,
        "largest_tensor": TENSOR_BYTES,
    }


def _largest(model: Any) -> int:
    return max(int(np.prod(w.shape)) * 4 for w in model.weights)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/work/bench-models"))
    parser.add_argument("--only", default="", help="comma-separated builder names (see --list)")
    parser.add_argument("--gib", type=float, default=1.0, help="size of the big models")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    count = _layers_for(args.gib)
    builders: dict[str, Callable[[], dict]] = {
        "resnet50_h5": lambda: build_resnet50_h5(args.out),
        "resnet50_saved_model": lambda: build_resnet50_saved_model(args.out),
        "big_h5": lambda: build_big_h5(args.out, count),
        "big_keras": lambda: build_big_keras(args.out, count),
        "big_saved_model": lambda: build_big_saved_model(args.out, count),
        "big_frozen": lambda: build_big_frozen(args.out, count),
        "big_onnx": lambda: build_big_onnx(args.out, count),
        "big_onnx_external": lambda: build_big_onnx_external(args.out, count),
    }
    if args.list:
        print("\n".join(builders))
        return
    chosen = [n.strip() for n in args.only.split(",") if n.strip()] or list(builders)
    unknown = sorted(set(chosen) - set(builders))
    if unknown:
        sys.exit(f"unknown model(s): {', '.join(unknown)}; choose from {', '.join(builders)}")
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for name in chosen:
        entry = builders[name]()
        entry["bytes"] = _size(args.out / entry.get("size_of", entry["path"]))
        manifest[name] = entry
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
        print(f"{name}: {args.out / entry['path']} ({entry['bytes'] / 2**20:.0f} MiB)", flush=True)


if __name__ == "__main__":
    main()
