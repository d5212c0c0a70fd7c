"""Writes the hand-made hostile inputs under tests/bad_inputs/ (see tests/bad_inputs/README.md).

Each is the smallest file that shows one hole a converter must not have: HDF5 links and storage that
read other files, a zip member escaping its directory, a constant declaring 10^12 elements, a config
nested thousands of levels deep, function calls that multiply or recurse.  Nothing here needs
TensorFlow: files are built with h5py, zipfile and the project's own protos.

    python scripts/make_bad_inputs.py          # rewrite them all
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np

from tfjsconv._proto import saved_model_pb2

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "bad_inputs"
FIXTURES = ROOT / "fixtures" / "models"

MAKERS: dict[str, Callable[[Path], None]] = {}


def maker(name: str) -> Callable[[Callable[[Path], None]], Callable[[Path], None]]:
    def register(fn: Callable[[Path], None]) -> Callable[[Path], None]:
        MAKERS[name] = fn
        return fn
    return register


# ----- Keras HDF5 ---------------------------------------------------------------------------------

def _dense_config() -> dict[str, Any]:
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 3], "dtype": "float32",
                                                "sparse": False, "ragged": False, "name": "input_1"}},
        {"class_name": "Dense", "config": {"name": "dense", "trainable": True, "dtype": "float32",
                                           "units": 2, "activation": "linear", "use_bias": True}}]}}


def _keras_h5(path: Path, kernel: Callable[[h5py.Group, str], None],
              config_text: str = "") -> None:
    """A tf-keras 2 layout Dense model whose kernel dataset is made by ``kernel(group, name)``."""
    with h5py.File(path, "w", track_order=True) as f:
        f.attrs["keras_version"] = "2.21.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = config_text or json.dumps(_dense_config())
        weights = f.create_group("model_weights")
        weights.attrs["layer_names"] = np.array([b"dense"])
        layer = weights.create_group("dense")
        layer.attrs["weight_names"] = np.array([b"dense/kernel:0", b"dense/bias:0"])
        inner = layer.create_group("dense")
        kernel(inner, "kernel:0")
        inner.create_dataset("bias:0", data=np.zeros(2, np.float32))


def _secret(directory: Path) -> None:
    """The file a hostile link points at: what a conversion service must never leak."""
    with h5py.File(directory / "secret.h5", "w") as f:
        f.create_dataset("kernel", data=np.full((3, 2), 42.0, np.float32))
    (directory / "secret.bin").write_bytes(np.full((3, 2), 42.0, np.float32).tobytes())


@maker("h5_external_link")
def _external_link(d: Path) -> None:
    _secret(d)
    _keras_h5(d / "model.h5", lambda g, n: g.__setitem__(n, h5py.ExternalLink("secret.h5", "/kernel")))


@maker("h5_external_dataset")
def _external_dataset(d: Path) -> None:
    _secret(d)
    _keras_h5(d / "model.h5", lambda g, n: g.create_dataset(n, shape=(3, 2), dtype="<f4",
                                                            external=[("secret.bin", 0, 24)]))


@maker("h5_virtual_dataset")
def _virtual_dataset(d: Path) -> None:
    _secret(d)

    def make(group: h5py.Group, name: str) -> None:
        layout = h5py.VirtualLayout(shape=(3, 2), dtype="<f4")
        layout[:] = h5py.VirtualSource("secret.h5", "kernel", shape=(3, 2))
        group.create_virtual_dataset(name, layout)

    _keras_h5(d / "model.h5", make)


@maker("h5_soft_link_out")
def _soft_link_out(d: Path) -> None:
    """A soft link whose path runs through an external link placed deeper, where no reader looks."""
    _secret(d)

    def make(group: h5py.Group, name: str) -> None:
        group.file.create_group("a/b/c/d")["elsewhere"] = h5py.ExternalLink("secret.h5", "/")
        group[name] = h5py.SoftLink("/a/b/c/d/elsewhere/kernel")

    _keras_h5(d / "model.h5", make)


@maker("h5_nested_config")
def _nested_config(d: Path) -> None:
    # Built as text: json.dumps itself cannot write what is nested this deep.
    depth = 400  # 1200 JSON levels: more than the json module can parse
    head = '{"class_name": "Sequential", "config": {"name": "s", "layers": ['
    text = head * depth + json.dumps(_dense_config()) + "]}}" * depth
    _keras_h5(d / "model.h5", lambda g, n: g.create_dataset(n, data=np.ones((3, 2), np.float32)),
              config_text=text)


@maker("h5_huge_declared_dataset")
def _huge_dataset(d: Path) -> None:
    """A kernel declaring 10^12 float32 values with no storage allocated (reads as the fill value)."""
    _keras_h5(d / "model.h5", lambda g, n: g.create_dataset(n, shape=(10 ** 6, 10 ** 6), dtype="<f4"))


# ----- .keras archive -----------------------------------------------------------------------------

@maker("keras_zip_traversal")
def _zip_traversal(d: Path) -> None:
    target = d / "model.keras"
    shutil.copyfile(FIXTURES / "keras3zip_conv_pool" / "model.keras", target)
    with zipfile.ZipFile(target, "a") as archive:
        archive.writestr("../../escape.txt", "written outside the extraction directory\n")


# ----- TF.js layers model ---------------------------------------------------------------------------

@maker("layers_shard_traversal")
def _shard_traversal(d: Path) -> None:
    """A layers model whose weight shard path leaves its directory to read a file beside it."""
    import tfjsconv

    web = d / "web"
    tfjsconv.convert(str(FIXTURES / "keras3_conv_pool" / "model.h5"), str(web))
    document = json.loads((web / "model.json").read_text())
    shard = web / document["weightsManifest"][0]["paths"][0]
    (d / "secret.bin").write_bytes(b"\x2a" * shard.stat().st_size)  # what the path reaches instead
    shard.unlink()
    document["weightsManifest"][0]["paths"] = ["../secret.bin"]
    (web / "model.json").write_text(json.dumps(document))


# ----- SavedModel ---------------------------------------------------------------------------------

def _saved_model(directory: Path, build: Callable[[Any], None]) -> None:
    """A TF1-style SavedModel {serve} whose serving_default maps x:0 -> y:0 of the graph ``build`` makes."""
    model = saved_model_pb2.SavedModel()
    model.saved_model_schema_version = 1
    meta = model.meta_graphs.add()
    meta.meta_info_def.tags.append("serve")
    graph = meta.graph_def
    graph.versions.producer = 1800
    x = graph.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = 1
    build(graph)
    signature = meta.signature_def["serving_default"]
    signature.method_name = "tensorflow/serving/predict"
    signature.inputs["x"].name = "x:0"
    signature.inputs["x"].dtype = 1
    signature.outputs["y"].name = "y:0"
    signature.outputs["y"].dtype = 1
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "saved_model.pb").write_bytes(model.SerializeToString())


@maker("saved_model_huge_constant")
def _huge_constant(d: Path) -> None:
    def build(graph: Any) -> None:
        const = graph.node.add(name="c", op="Const")
        const.attr["dtype"].type = 1
        tensor = const.attr["value"].tensor
        tensor.dtype = 1
        tensor.tensor_shape.dim.add(size=10 ** 6)
        tensor.tensor_shape.dim.add(size=10 ** 6)
        tensor.float_val.append(1.0)  # TensorFlow repeats the last value: 4 TB of ones
        add = graph.node.add(name="y", op="AddV2", input=["x", "c"])
        add.attr["T"].type = 1

    _saved_model(d / "saved_model", build)


def _call(graph_or_fdef: Any, name: str, callee: str, inputs: list[str], in_function: bool) -> None:
    node = (graph_or_fdef.node_def if in_function else graph_or_fdef.node).add(
        name=name, op="StatefulPartitionedCall", input=inputs)
    node.attr["f"].func.name = callee
    node.attr["Tin"].list.type.append(1)
    node.attr["Tout"].list.type.append(1)


def _function(graph: Any, name: str, body: Callable[[Any], str]) -> None:
    fdef = graph.library.function.add()
    fdef.signature.name = name
    fdef.signature.input_arg.add(name="a", type=1)
    fdef.signature.output_arg.add(name="out", type=1)
    fdef.ret["out"] = body(fdef)


@maker("saved_model_call_cycle")
def _call_cycle(d: Path) -> None:
    """A function that calls itself: TensorFlow cannot run it either, inlining must stop with a message."""
    def build(graph: Any) -> None:
        def body(fdef: Any) -> str:
            _call(fdef, "again", "loop", ["a"], True)
            return "again:output:0"

        _function(graph, "loop", body)
        _call(graph, "y", "loop", ["x"], False)

    _saved_model(d / "saved_model", build)


@maker("saved_model_call_fanout")
def _call_fanout(d: Path) -> None:
    """40 functions, each calling the next twice: 2^40 nodes once inlined, from a 3 kB file."""
    depth = 40

    def build(graph: Any) -> None:
        for level in range(depth):
            def body(fdef: Any, level: int = level) -> str:
                if level == depth - 1:
                    node = fdef.node_def.add(name="leaf", op="Identity", input=["a"])
                    node.attr["T"].type = 1
                    return "leaf:output:0"
                _call(fdef, "left", f"f{level + 1}", ["a"], True)
                _call(fdef, "right", f"f{level + 1}", ["left:output:0"], True)
                return "right:output:0"

            _function(graph, f"f{level}", body)
        _call(graph, "y", "f0", ["x"], False)

    _saved_model(d / "saved_model", build)


def main() -> None:
    for name, make in MAKERS.items():
        directory = OUT / name
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        make(directory)
        size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
        print(f"{name}: {size} bytes")


if __name__ == "__main__":
    main()
