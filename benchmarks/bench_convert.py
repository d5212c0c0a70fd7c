"""Conversion speed and peak memory on a large synthetic Keras model, plus CLI start-up time.

    python benchmarks/bench_convert.py [--megabytes 400] [--repeat 3]

Builds (with h5py only) a tf-keras-2-layout .h5 holding a stack of Dense layers whose float32
weights add up to about --megabytes, converts it with the installed `tfjsconv` in a child process,
and prints wall time, throughput and the child's peak RSS.  Peak RSS well below the model size shows
that weights stream through the writer instead of being held at once.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np


def build_model(path: Path, megabytes: int, width: int = 1024) -> int:
    per_layer = width * width * 4
    count = max(1, megabytes * 1024 * 1024 // per_layer)
    layers = [{"class_name": "InputLayer", "config": {"batch_input_shape": [None, width], "dtype": "float32",
                                                      "sparse": False, "ragged": False, "name": "input_1"}}]
    names = []
    for i in range(count):
        name = f"dense_{i}"
        names.append(name)
        layers.append({"class_name": "Dense", "config": {"name": name, "trainable": True, "dtype": "float32",
                                                         "units": width, "activation": "relu",
                                                         "use_bias": True}})
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.21.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        weights = f.create_group("model_weights")
        weights.attrs["layer_names"] = np.array([n.encode() for n in names], dtype="S")
        for name in names:
            group = weights.create_group(name)
            group.attrs["weight_names"] = np.array([f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()])
            group.create_dataset(f"{name}/kernel:0", data=rng.standard_normal((width, width), np.float32))
            group.create_dataset(f"{name}/bias:0", data=np.zeros(width, np.float32))
    return path.stat().st_size


def timed(cmd: list[str]) -> tuple[float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak_kib, before)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tool = [sys.executable, "-m", "tfjsconv"]
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-bench-"))
    try:
        help_times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run([*tool, "--help"], check=True, stdout=subprocess.DEVNULL)
            help_times.append(time.perf_counter() - start)
        print(f"tfjsconv --help: best {min(help_times):.3f} s of {args.repeat}")
        source = work / "big.h5"
        size = build_model(source, args.megabytes)
        print(f"model: {size / 2**20:.0f} MiB of float32 Dense weights")
        for quantize in ([], ["--quantize_uint8"]):
            best = None
            for _ in range(args.repeat):
                out = work / "out"
                shutil.rmtree(out, ignore_errors=True)
                elapsed, peak = timed([*tool, *quantize, str(source), str(out)])
                best = elapsed if best is None else min(best, elapsed)
            label = " ".join(quantize) or "float32"
            print(f"convert ({label}): best {best:.2f} s, {size / 2**20 / best:.0f} MiB/s, "
                  f"peak RSS of a conversion {peak / 1024:.0f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
