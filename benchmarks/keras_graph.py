"""Keras -> TF.js graph model against the official converter: conversion time, nodes, TF.js speed.

    python benchmarks/keras_graph.py [--models /work/bench-keras-graph]
        [--official-env /work/official-env] [--runs 20] [--rounds 3] [--backends cpu,wasm]

For each tf-keras ``.h5`` built by ``fixtures/generate/keras_bench_models.py`` (ResNet50, MobileNetV2 and
an LSTM text model), in the same run:

* converts it with the ``tfjsconv`` CLI and, given ``--official-env``, with the official
  ``tensorflowjs_converter`` (``--input_format=keras --output_format=tfjs_graph_model``), timing each
  command end to end (process start and imports included: what a user waits for);
* counts the nodes of both graph models (main graph + library functions);
* times both in TF.js 4.22 on cpu and wasm (Node): a warm-up round, then ``--rounds`` rounds that
  alternate which side goes first, each side in a fresh Node process, median of process CPU time over
  ``--runs`` samples per round (wall medians in brackets; each sample waits for the
  output values; ``execute`` where it works, ``executeAsync`` for graphs with control flow), and
  checks both against the Keras outputs (rtol = atol = 1e-4).

Models with recurrent layers are measured twice: by default (tfjsconv unrolls static-length loops;
the official converter lowers them to TF1 control flow) and with ``--control_flow_v2`` on both sides
(functional While loops on both).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))

from e2e.fixture_cases import FixtureCase, Tolerance, load_spec  # noqa: E402
from graph_quality import Measured, histogram, machine, measure  # noqa: E402
from tfjs_runner import TfjsRunner  # noqa: E402

SIDES = ("ours", "official")


def _case(directory: Path) -> FixtureCase:
    spec = load_spec(directory)
    return FixtureCase(directory.name, directory, spec, {}, directory.name, Tolerance(1e-4, 1e-4))


def _convert(side: str, source: Path, out: Path, flow_v2: bool,
             official_env: Optional[Path]) -> tuple[float, float]:
    """Runs one converter CLI; returns its wall time and its process CPU time (user + sys) in seconds."""
    # (the official parser takes a value after --control_flow_v2; ``=True`` works for both CLIs)
    args = ["--input_format=keras", "--output_format=tfjs_graph_model"] + (["--control_flow_v2=True"]
                                                                           if flow_v2 else [])
    if side == "ours":
        venv = REPO / ".venv" / "bin" / "python"
        cmd = [str(venv if venv.exists() else sys.executable), "-m", "tfjsconv", *args, str(source), str(out)]
    else:
        assert official_env is not None
        cmd = [str(official_env / "bin" / "tensorflowjs_converter"), *args, str(source), str(out)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0 or not (out / "model.json").is_file():
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        raise RuntimeError(lines[-1] if lines else f"exit code {proc.returncode}")
    return elapsed, cpu


def _recurrent(source: Path) -> bool:
    import h5py

    with h5py.File(source, "r") as f:
        text = f.attrs["model_config"]
    config = json.loads(text if isinstance(text, str) else text.decode())
    return any(layer.get("class_name") in ("LSTM", "GRU", "SimpleRNN", "Bidirectional", "RNN")
               for layer in config["config"]["layers"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=Path("/work/bench-keras-graph"))
    parser.add_argument("--official-env", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--sample-ms", type=float, default=20.0)
    parser.add_argument("--warmup-ms", type=float, default=500.0)
    parser.add_argument("--backends", default="cpu,wasm")
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    if args.official_env and not (args.official_env / "bin" / "tensorflowjs_converter").is_file():
        parser.error(f"no bin/tensorflowjs_converter in {args.official_env}")
    directories = sorted(p.parent for p in args.models.glob("*/fixture.json"))
    if args.only:
        directories = [d for d in directories if d.name in args.only]
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-keras-graph-"))
    runner = TfjsRunner(timeout=3600)
    lines = []
    try:
        for directory in directories:
            case = _case(directory)
            source = case.source
            for flow_v2 in ([False, True] if _recurrent(source) else [False]):
                label = case.name + (" --control_flow_v2" if flow_v2 else "")
                sides: dict[str, Measured] = {}
                seconds: dict[str, tuple[float, float]] = {}
                dirs: dict[str, Path] = {}
                for side in SIDES if args.official_env else ("ours",):
                    measured = sides[side] = Measured()
                    out = work / side / f"{case.name}_{int(flow_v2)}"
                    try:
                        seconds[side] = _convert(side, source, out, flow_v2, args.official_env)
                    except RuntimeError as exc:
                        measured.errors["convert"] = str(exc)[:200]
                        continue
                    measured.histogram = histogram(out)
                    measured.nodes = sum(measured.histogram.values())
                    dirs[side] = out
                for backend in backends:
                    for round_index in range(args.rounds + 1):  # round 0 warms up
                        order = list(dirs) if round_index % 2 == 0 else list(reversed(dirs))
                        for side in order:
                            # Each side in a fresh Node process: in one process the model loaded
                            # first ran up to 30 % slower on wasm (ResNet50, same graph loaded first
                            # or second), whichever side it was.
                            runner.node.stop()
                            measure(runner, backend, dirs[side], case, sides[side], args,
                                    record=round_index > 0)
                cells = [label]
                for side in ("ours", "official"):
                    cells.append(f"{seconds[side][1]:.1f} ({seconds[side][0]:.1f})" if side in seconds
                                 else "n/a")
                for side in ("ours", "official"):
                    m = sides.get(side)
                    cells.append("n/a" if m is None else "fails" if "convert" in m.errors else str(m.nodes))
                for backend in backends:
                    for side in ("ours", "official"):
                        m = sides.get(side)
                        if m is None or backend not in m.median_ms:
                            cells.append("n/a" if m is None else "fails")
                        else:
                            mark = "" if m.ok.get(backend) else " (wrong)"
                            cells.append(f"{m.median_ms[backend]:.2f} ({m.wall_ms[backend]:.2f}){mark}")
                lines.append("| " + " | ".join(cells) + " |")
                print(lines[-1], flush=True)
                for side, m in sides.items():
                    for where, message in m.errors.items():
                        print(f"  {side} {where}: {message}", flush=True)
    finally:
        runner.close()
        shutil.rmtree(work, ignore_errors=True)
    head = ["model", "convert s ours", "convert s official", "nodes ours", "nodes official"]
    for backend in backends:
        head += [f"{backend} ms ours", f"{backend} ms official"]
    print(f"\nMeasured on {machine()}; conversion: process CPU seconds (wall seconds), whole CLI run; "
          f"TF.js: median ms per inference (batch 1) of process CPU time (wall median), {args.rounds} "
          f"rounds x {args.runs} samples.\n")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
