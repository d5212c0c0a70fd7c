"""Unrolled time loop vs functional StatelessWhile loops running k steps per iteration: which form of
a Keras RNN runs faster in TF.js, and what the default (tfjsconv's own choice) gives.

    python benchmarks/rnn_loop_speed.py [--lengths 8 32 128] [--units 64] [--ks 1 2 4 8] [--runs 15]

Builds tf-keras-2-layout .h5 text models with h5py (random weights, nothing from TensorFlow):
int32 tokens -> Embedding(1000, 64) -> <RNN>(units, return_sequences) -> <RNN>(units) -> Dense(10),
for LSTM, GRU (reset_after=True) and SimpleRNN, at each sequence length.  Each model is converted by
tfjsconv in several forms - fully unrolled, a While loop of k steps per iteration for each --ks value
(the first T mod k steps peeled in front), and the default policy - by setting the policy's two
constants (recurrent.UNROLL_UP_TO, recurrent.STEPS_PER_ITERATION) in this process; every form is timed
in TF.js 4.22 on cpu and wasm (Node), batch 1, in the same run: median of --runs samples (process CPU
time per inference) after a warm-up, each inference waiting for its output (``executeAsync``, as a
user must call a graph with loops; ``execute`` for a loop-free graph).  All outputs are checked
against the unrolled form's (same numbers, 1e-4).

Prints one Markdown table: per form, nodes (graph + loop bodies) and median ms per backend.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from tfjs_runner import TfjsRunner  # noqa: E402

VOCAB, EMBED = 1000, 64
GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}
CELLS = {"LSTM": "lstm_cell", "GRU": "gru_cell", "SimpleRNN": "simple_rnn_cell"}


def _layer(cls: str, name: str, source: str, **config: Any) -> dict[str, Any]:
    return {"class_name": cls, "name": name, "inbound_nodes": [[[source, 0, 0, {}]]],
            "config": {"name": name, "trainable": True, "dtype": "float32", **config}}


def build_model(path: Path, cls: str, steps: int, units: int) -> None:
    """A tf-keras 2 .h5 text model (config + weights) written with h5py."""
    rnn = {"activation": "tanh", "use_bias": True, "recurrent_activation": "sigmoid"}
    if cls == "GRU":
        rnn["reset_after"] = True
    if cls == "SimpleRNN":
        del rnn["recurrent_activation"]
    layers = [
        {"class_name": "InputLayer", "name": "tokens", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, steps], "dtype": "int32", "name": "tokens"}},
        _layer("Embedding", "embed", "tokens", input_dim=VOCAB, output_dim=EMBED),
        _layer(cls, "rnn_1", "embed", units=units, return_sequences=True, **rnn),
        _layer(cls, "rnn_2", "rnn_1", units=units, return_sequences=False, **rnn),
        _layer("Dense", "logits", "rnn_2", units=10, activation="linear", use_bias=True),
    ]
    config = {"class_name": "Functional", "config": {"name": "text", "layers": layers,
                                                     "input_layers": [["tokens", 0, 0]],
                                                     "output_layers": [["logits", 0, 0]]}}
    rng = np.random.default_rng(steps * 1000 + units)
    gates = GATES[cls] * units

    def rnn_weights(in_dim: int) -> dict[str, np.ndarray]:
        bias_shape = (2, gates) if cls == "GRU" else (gates,)
        return {"kernel": rng.normal(0, 1 / np.sqrt(in_dim), (in_dim, gates)),
                "recurrent_kernel": rng.normal(0, 1 / np.sqrt(units), (units, gates)),
                "bias": rng.normal(0, 0.1, bias_shape)}

    weights = {"embed": {"embeddings": rng.normal(0, 1, (VOCAB, EMBED))},
               "rnn_1": {f"{CELLS[cls]}/{k}": v for k, v in rnn_weights(EMBED).items()},
               "rnn_2": {f"{CELLS[cls]}/{k}": v for k, v in rnn_weights(units).items()},
               "logits": {"kernel": rng.normal(0, 0.1, (units, 10)), "bias": np.zeros(10)}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.21.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        group = f.create_group("model_weights")
        names = ["tokens", *weights]
        group.attrs["layer_names"] = np.array([n.encode() for n in names], dtype="S")
        group.create_group("tokens").attrs["weight_names"] = np.zeros((0,), "float64")
        for layer, arrays in weights.items():
            full = [f"{layer}/{w}:0" for w in arrays]
            sub = group.create_group(layer)
            sub.attrs["weight_names"] = np.array([n.encode() for n in full], dtype="S")
            for name, array in zip(full, arrays.values()):
                sub.create_dataset(name, data=np.asarray(array, np.float32))


def convert(source: Path, out: Path, style: str) -> int:
    """Converts with the loop form ``style`` ("unrolled", "k<N>" or "default")."""
    import tfjsconv
    from tfjsconv.lowering.keras.layers import recurrent

    saved = recurrent.UNROLL_UP_TO, recurrent.STEPS_PER_ITERATION
    if style == "unrolled":
        recurrent.UNROLL_UP_TO = 1 << 30
    elif style.startswith("k"):
        recurrent.UNROLL_UP_TO, recurrent.STEPS_PER_ITERATION = 0, int(style[1:])
    try:
        tfjsconv.convert(str(source), str(out), input_format="keras", output_format="tfjs_graph_model")
    finally:
        recurrent.UNROLL_UP_TO, recurrent.STEPS_PER_ITERATION = saved
    topology = json.loads((out / "model.json").read_text())["modelTopology"]
    bodies = (topology.get("library") or {}).get("function", [])
    return len(topology["node"]) + sum(len(f.get("nodeDef", [])) for f in bodies)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--units", type=int, nargs="+", default=[64])
    parser.add_argument("--cells", nargs="+", default=list(GATES), choices=list(GATES))
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--backends", nargs="+", default=["cpu", "wasm"])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    styles = ["unrolled", *[f"k{k}" for k in args.ks], "default"]
    work = Path(tempfile.mkdtemp(prefix="rnn_loop_speed_"))
    runner = TfjsRunner(timeout=1800)
    rows = []
    try:
        for cls in args.cells:
            for units in args.units:
                for steps in args.lengths:
                    source = work / f"{cls}_{units}_{steps}.h5"
                    build_model(source, cls, steps, units)
                    tokens = np.random.default_rng(steps).integers(0, VOCAB, (1, steps)).astype(np.int32)
                    nodes, times, outs = {}, {}, {}
                    for style in styles:
                        out = work / f"{source.stem}_{style}"
                        nodes[style] = convert(source, out, style)
                        for backend in args.backends:
                            runner.node.stop()  # each form in a fresh Node process
                            run = runner.execute(out, "graph", [("tokens", tokens)], ["logits"],
                                                 backend=backend, runs=args.runs, warmup=3, sample_ms=20.0)
                            # process CPU time per inference (robust on a busy machine), else wall
                            times[(style, backend)] = statistics.median(run.cpu_times_ms or run.times_ms)
                            outs[(style, backend)] = run.outputs[0][1]
                    for style in styles:
                        for backend in args.backends:
                            np.testing.assert_allclose(outs[(style, backend)], outs[("unrolled", backend)],
                                                       rtol=1e-4, atol=1e-4)
                    rows.append((cls, units, steps, nodes, times))
                    print(f"{cls} units={units} T={steps}: nodes {nodes}, ms "
                          + ", ".join(f"{k[0]}/{k[1]} {v:.3f}" for k, v in times.items()), flush=True)
    finally:
        runner.close()
        shutil.rmtree(work, ignore_errors=True)
    head = ["cell", "units", "T", *[f"nodes {s}" for s in styles]]
    for backend in args.backends:
        head += [f"{backend} ms {s}" for s in styles]
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for cls, units, steps, nodes, times in rows:
        cells = [cls, str(units), str(steps), *[str(nodes[s]) for s in styles]]
        for backend in args.backends:
            cells += [f"{times[(s, backend)]:.2f}" for s in styles]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
