"""Graph quality against the official converter: node count, op histogram, TF.js inference time.

    python benchmarks/graph_quality.py [--official-env /work/official-env] [--models /work/bench-models]
        [--runs 20] [--rounds 3] [--large-rounds N] [--backends cpu,wasm,webgl] [--only NAME ...]
        [--official-cache DIR] [--quiet-file /work/tools/QUIET.name] [--markdown FILE]

For every graph fixture (fixtures/models, TF and ONNX sources) and every large model under
``--models`` (built by ``fixtures/generate/bench_models.py``: MobileNetV2, ResNet50, EfficientNetB0,
a small Transformer encoder), converts the model with tfjsconv and, given ``--official-env`` (a venv
holding the official ``tensorflowjs_converter``), with the official converter too: all official
conversions run first, in one process of that venv (``official_worker.py``: TensorFlow's ~25 s start-up
once, and none during the timing), into ``--official-cache`` when given (kept and reused by later runs,
failures included).  Both outputs are
then measured in the same run, alternating between them:

* node count (graph + function bodies) and op histogram;
* TF.js 4.22 inference median over ``--runs`` samples per round (after a warm-up round, three
  recorded rounds, order swapped each time) on
  cpu and wasm in Node and on webgl in headless Chromium (SwiftShader); a sample is the mean of
  enough inferences to last ``--sample-ms`` (a browser clock ticks in 0.1 ms), each inference
  waiting for its output values.  In Node the figure compared is the process's CPU time per
  inference (the cpu and wasm backends compute on that one thread, so it is the model's cost even on
  a machine busy with other work); wall-time medians are printed too.  In Chromium it is wall time;
* whether the outputs match the framework's (expected.npz): rtol = atol = 1e-4 on cpu and wasm,
  1e-3 on webgl (its GLSL transcendental built-ins, see tests/e2e/test_browser.py), plus the max
  absolute error.

``--markdown`` writes the same tables as Markdown (the section committed to benchmarks/RESULTS.md).
The official converter reads no ONNX: ONNX fixtures have no official column.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from browser_runner import BrowserRunner  # noqa: E402
from e2e.fixture_cases import FixtureCase, Tolerance, compare_outputs, discover_cases, load_spec  # noqa: E402
from tfjs_runner import TfjsRunner  # noqa: E402

NODE_BACKENDS = ("cpu", "wasm")
OFFICIAL_FORMATS = {"tf_saved_model", "tf_frozen_model", "tf_hub", "keras", "keras_keras",
                    "keras_saved_model"}
SIDES = ("ours", "official")


@dataclass
class Measured:
    nodes: int = 0
    histogram: Counter = field(default_factory=Counter)
    median_ms: dict[str, float] = field(default_factory=dict)  # the compared figure (see module doc)
    wall_ms: dict[str, float] = field(default_factory=dict)  # wall-time medians, for reference
    max_err: dict[str, float] = field(default_factory=dict)
    ok: dict[str, bool] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # backend (or "convert") -> message
    times: dict[str, list[float]] = field(default_factory=dict)
    walls: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Row:
    case: FixtureCase
    large: bool
    sides: dict[str, Measured] = field(default_factory=dict)


def histogram(model_dir: Path) -> Counter:
    model = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
    topology = model["modelTopology"]
    counts = Counter(node["op"] for node in topology.get("node", []))
    for function in (topology.get("library") or {}).get("function", []):
        counts.update(node["op"] for node in function.get("nodeDef", []))
    return counts


def convert_ours(case: FixtureCase, out: Path) -> None:
    import tfjsconv

    tfjsconv.convert(str(case.source), str(out), **case.convert_options())


def official_argv(case: FixtureCase, out: Path) -> list[str]:
    options = case.convert_options()
    argv = [f"--input_format={options['input_format']}", "--output_format=tfjs_graph_model"]
    for key in ("output_node_names", "signature_name", "saved_model_tags"):
        if options.get(key):
            argv.append(f"--{key}={options[key]}")
    return argv + [str(case.source), str(out)]


def convert_official_all(cases: list[FixtureCase], env: Path, cache: Path) -> dict[str, str]:
    """Converts every case with the official converter into ``cache/<case id>`` (kept: a later run with
    the same cache reuses it), all in one process (``official_worker.py``); returns case id -> error."""
    errors: dict[str, str] = {}
    todo = []
    for case in cases:
        out, failed = cache / case.case_id, cache / f"{case.case_id}.error"
        if (out / "model.json").is_file():
            continue
        if failed.is_file():
            errors[case.case_id] = failed.read_text(encoding="utf-8")
            continue
        shutil.rmtree(out, ignore_errors=True)
        todo.append(case)
    if not todo:
        return errors
    cache.mkdir(parents=True, exist_ok=True)
    script = Path(__file__).with_name("official_worker.py")
    log = (cache / "official_worker.log").open("a", encoding="utf-8")
    worker = subprocess.Popen([str(env / "bin" / "python"), str(script)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=log, text=True,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert worker.stdin is not None and worker.stdout is not None
    try:
        for case in todo:
            out = cache / case.case_id
            worker.stdin.write(json.dumps({"argv": official_argv(case, out)}) + "\n")
            worker.stdin.flush()
            line = worker.stdout.readline()
            if not line:
                raise RuntimeError(f"the official converter's worker died on {case.case_id}")
            answer = json.loads(line)
            if answer["ok"] and (out / "model.json").is_file():
                print(f"official: converted {case.case_id}", flush=True)
                continue
            message = (answer.get("error") or "no model.json written")[:300]
            shutil.rmtree(out, ignore_errors=True)
            (cache / f"{case.case_id}.error").write_text(message, encoding="utf-8")
            errors[case.case_id] = message
            print(f"official: {case.case_id} fails: {message}", flush=True)
    finally:
        worker.stdin.close()
        worker.wait()
        log.close()
    return errors


def _max_err(actual: list[np.ndarray], expected: list[tuple[str, np.ndarray]]) -> float:
    worst = 0.0
    for got, (_, want) in zip(actual, expected):
        if want.dtype.kind in "fc" and want.size and got.shape == want.shape:
            worst = max(worst, float(np.max(np.abs(got.astype(np.complex128) - want))))
    return worst


def measure(runner: TfjsRunner, backend: str, model_dir: Path, case: FixtureCase, side: Measured,
            args: argparse.Namespace, record: bool = True) -> None:
    if backend in side.errors:
        return
    tolerance = case.tolerance
    if backend == "webgl":
        tolerance = Tolerance(max(tolerance.rtol, 1e-3), max(tolerance.atol, 1e-3),
                              tolerance.atol_range_fraction)
    expected = case.expected()
    try:  # the warm-up round times only 2 samples: it is there for the JIT and the caches
        run = runner.execute(model_dir, "graph", case.inputs(), list(case.spec["outputs"]), backend=backend,
                             label=case.case_id, runs=args.runs if record else 2, warmup=args.warmup,
                             sample_ms=args.sample_ms, warmup_ms=args.warmup_ms)
    except AssertionError as exc:
        first = next((ln for ln in str(exc).splitlines() if "failed on" in ln), str(exc).splitlines()[0])
        side.errors[backend] = first.split(": ", 1)[-1][:200]
        # A failed model can leave the backend broken (the wasm heap, a lost webgl context): the next
        # model gets a fresh process, so one failure does not fail everything after it.
        runner.node.stop(graceful=False)
        return
    actual = [array for _, array in run.outputs]
    if not record:
        return
    side.times.setdefault(backend, []).extend(run.cpu_times_ms or run.times_ms)
    side.walls.setdefault(backend, []).extend(run.times_ms)
    side.median_ms[backend] = statistics.median(side.times[backend])
    side.wall_ms[backend] = statistics.median(side.walls[backend])
    side.max_err[backend] = max(side.max_err.get(backend, 0.0), _max_err(actual, expected))
    try:
        compare_outputs(actual, expected, tolerance, case.case_id)
        side.ok.setdefault(backend, True)
    except AssertionError:
        side.ok[backend] = False


def large_cases(models: Optional[Path]) -> list[FixtureCase]:
    found: list[FixtureCase] = []
    if models is None or not models.is_dir():
        return found
    for spec_path in sorted(models.glob("*/fixture.json")):
        spec = load_spec(spec_path.parent)
        found.append(FixtureCase(spec_path.parent.name, spec_path.parent, spec, {}, spec_path.parent.name,
                                 Tolerance(float(spec.get("rtol", 1e-4)), float(spec.get("atol", 1e-4)))))
    return found


# ----- reporting ------------------------------------------------------------------------------------

def _cell_ms(side: Optional[Measured], backend: str) -> str:
    if side is None:
        return "n/a"
    if backend in side.errors:
        return "fails"
    if backend not in side.median_ms:
        return "-"
    mark = "" if side.ok.get(backend, False) else " (wrong)"
    value = side.median_ms[backend]
    return (f"{value:.3f}" if value < 10 else f"{value:.1f}") + mark


def table_lines(rows: list[Row], backends: list[str]) -> list[str]:
    head = ["model", "nodes ours", "nodes official"]
    for backend in backends:
        head += [f"{backend} ms ours", f"{backend} ms official"]
    head += ["max err ours", "max err official"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        ours, official = row.sides.get("ours"), row.sides.get("official")
        name = f"**{row.case.case_id}**" if row.large else row.case.case_id
        cells = [name]
        for side in (ours, official):
            if side is None:
                cells.append("n/a")
            elif "convert" in side.errors:
                cells.append("fails")
            else:
                cells.append(str(side.nodes))
        for backend in backends:
            cells += [_cell_ms(ours, backend), _cell_ms(official, backend)]
        for side in (ours, official):
            errs = [] if side is None else [side.max_err[b] for b in ("cpu", "wasm") if b in side.max_err]
            cells.append(f"{max(errs):.1e}" if errs else "n/a")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def wall_lines(rows: list[Row], backends: list[str]) -> list[str]:
    """Wall-time medians for the Node backends (the main table compares CPU time there)."""
    node = [b for b in backends if b in NODE_BACKENDS]
    head = ["model"] + [f"{b} wall ms {side}" for b in node for side in SIDES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row.case.case_id]
        for backend in node:
            for name in SIDES:
                side = row.sides.get(name)
                value = None if side is None else side.wall_ms.get(backend)
                cells.append("-" if value is None else (f"{value:.3f}" if value < 10 else f"{value:.1f}"))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def histogram_lines(rows: list[Row]) -> list[str]:
    lines = []
    for row in rows:
        ours, official = row.sides.get("ours"), row.sides.get("official")
        if ours is None or "convert" in ours.errors:
            continue
        if official is None or "convert" in official.errors:
            hist = ", ".join(f"{op} {n}" for op, n in sorted(ours.histogram.items()))
            lines.append(f"- {row.case.case_id}: {hist}")
            continue
        ops = sorted(set(ours.histogram) | set(official.histogram))
        diff = [f"{op} {ours.histogram[op]}/{official.histogram[op]}" for op in ops
                if ours.histogram[op] != official.histogram[op]]
        same = sum(ours.histogram[op] for op in ops if ours.histogram[op] == official.histogram[op])
        lines.append(f"- {row.case.case_id}: " + (", ".join(diff) or "identical") + f" (+{same} same)")
    return lines


def summary_lines(rows: list[Row], backends: list[str]) -> list[str]:
    """How often ours is at most the official output's, in nodes and per-backend median time."""
    pairs = [(r.case.case_id, r.sides["ours"], r.sides["official"]) for r in rows if "official" in r.sides]
    pairs = [(name, o, f) for name, o, f in pairs if "convert" not in o.errors and "convert" not in f.errors]
    more = [f"{name} ({o.nodes} vs {f.nodes})" for name, o, f in pairs if o.nodes > f.nodes]
    lines = [f"- nodes: ours <= official on {len(pairs) - len(more)} of {len(pairs)} models both convert"
             + (f"; more on {', '.join(more)}" if more else "")]
    for backend in backends:
        ran = [(n, o, f) for n, o, f in pairs if backend in o.median_ms and backend in f.median_ms]
        # A time is compared only when both outputs are right: a wrong answer fast is no answer.
        timed = [(n, o, f) for n, o, f in ran if o.ok.get(backend) and f.ok.get(backend)]
        slower = [f"{n} ({o.median_ms[backend]:.3g} vs {f.median_ms[backend]:.3g} ms)"
                  for n, o, f in timed if o.median_ms[backend] > f.median_ms[backend]]
        only_ours = [n for n, o, f in pairs if backend in o.median_ms and backend in f.errors]
        official_wrong = [n for n, o, f in ran if o.ok.get(backend) and not f.ok.get(backend)]
        ours_wrong = [n for n, o, f in pairs if backend in o.median_ms and not o.ok.get(backend)]
        text = (f"- {backend}: ours <= official on {len(timed) - len(slower)} of {len(timed)} models both "
                "run right")
        text += f"; slower on {', '.join(slower)}" if slower else ""
        text += f"; the official output fails where ours runs: {', '.join(only_ours)}" if only_ours else ""
        text += f"; the official output is wrong where ours is right: {', '.join(official_wrong)}" \
            if official_wrong else ""
        text += f"; OURS WRONG: {', '.join(ours_wrong)}" if ours_wrong else ""
        lines.append(text)
    ours_only = [r for r in rows if "official" not in r.sides or "convert" in r.sides["official"].errors]
    for backend in backends:
        bad = [r.case.case_id for r in ours_only if "ours" in r.sides
               and "convert" not in r.sides["ours"].errors and not r.sides["ours"].ok.get(backend)]
        runs = [r for r in ours_only if "ours" in r.sides and backend in r.sides["ours"].median_ms]
        lines.append(f"- {backend}, models with no official output (it fails to convert, or ONNX): "
                     f"{len(runs) - len(bad)} of {len(runs)} run and "
                     "match" + (f"; failing or wrong: {', '.join(bad)}" if bad else ""))
    return lines


def error_lines(rows: list[Row]) -> list[str]:
    lines = []
    for row in rows:
        for name, side in row.sides.items():
            for where, message in sorted(side.errors.items()):
                lines.append(f"- {row.case.case_id}, {name}, {where}: {message}")
    return lines


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} cores, {system}, node {node}, TF.js 4.22.0"


# ----- driver ---------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official-env", type=Path, default=None, help="venv with tensorflowjs_converter")
    parser.add_argument("--models", type=Path, default=Path("/work/bench-models"),
                        help="large models from fixtures/generate/bench_models.py")
    parser.add_argument("--runs", type=int, default=20, help="timed samples per round (>= 20)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="recorded rounds (after one warm-up round), ours/official order swapped each")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--sample-ms", type=float, default=5.0, help="least duration of one timed sample")
    parser.add_argument("--warmup-ms", type=float, default=500.0, help="least warm-up time per model load")
    parser.add_argument("--backends", default="cpu,wasm,webgl")
    parser.add_argument("--only", nargs="*", help="case ids to run (default: all)")
    parser.add_argument("--no-fixtures", action="store_true", help="only the large models")
    parser.add_argument("--markdown", type=Path, help="also write the tables as Markdown here")
    parser.add_argument("--large-rounds", type=int, default=None,
                        help="recorded rounds for the large models (default: --rounds)")
    parser.add_argument("--quiet-file", type=Path, default=None,
                        help="held (holding the expected end time) while one model's wall-clock webgl "
                             "timing runs, so that other jobs on a shared machine can pause")
    parser.add_argument("--official-cache", type=Path, default=None,
                        help="keep the official outputs here and reuse them (default: a temporary dir)")
    args = parser.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    if args.official_env and not (args.official_env / "bin" / "tensorflowjs_converter").is_file():
        parser.error(f"no bin/tensorflowjs_converter in {args.official_env}")

    cases = [] if args.no_fixtures else [c for c in discover_cases() if c.graph and c.case_id == c.name]
    large = large_cases(args.models)
    large_ids = {c.case_id for c in large}
    cases += large
    if args.only:
        cases = [c for c in cases if c.case_id in set(args.only)]

    work = Path(tempfile.mkdtemp(prefix="tfjsconv-gq-"))
    official_cache = args.official_cache or work / "official"
    official_cases = [c for c in cases if c.convert_options().get("input_format") in OFFICIAL_FORMATS]
    official_errors: dict[str, str] = {}
    started = time.time()
    if args.official_env:  # all converted first: TensorFlow's start-up once, and none during the timing
        official_errors = convert_official_all(official_cases, args.official_env, official_cache)
    node_runner = TfjsRunner(timeout=3600)
    browser = BrowserRunner(timeout=3600) if "webgl" in backends else None
    rows: list[Row] = []
    try:
        for case in cases:
            row = Row(case, case.case_id in large_ids)
            dirs: dict[str, Path] = {}
            sides = ["ours"]
            if args.official_env and case.convert_options().get("input_format") in OFFICIAL_FORMATS:
                sides.append("official")
            for name in sides:
                side = row.sides[name] = Measured()
                out = work / name / case.case_id if name == "ours" else official_cache / case.case_id
                try:
                    if name == "ours":
                        convert_ours(case, out)
                    elif case.case_id in official_errors:
                        raise RuntimeError(official_errors[case.case_id])
                except Exception as exc:  # a failed conversion is a result, not a crash
                    message = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                    side.errors["convert"] = message
                    continue
                dirs[name] = out
                side.histogram = histogram(out)
                side.nodes = sum(side.histogram.values())
            for backend in backends:
                runner = browser if backend == "webgl" else node_runner
                assert runner is not None
                quiet = args.quiet_file if backend == "webgl" else None  # cpu/wasm compare CPU time
                if quiet is not None:
                    end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
                    quiet.write_text(f"{end:%Y-%m-%d %H:%M:%S} UTC (graph_quality webgl: {case.case_id})\n")
                # Round 0 only warms up (JIT, shader caches shared by both sides); then the recorded
                # rounds alternate which side goes first, so drift favours neither.
                rounds = args.large_rounds if row.large and args.large_rounds is not None else args.rounds
                for round_index in range(rounds + 1):
                    order = list(dirs) if round_index % 2 == 0 else list(reversed(dirs))
                    for name in order:
                        measure(runner, backend, dirs[name], case, row.sides[name], args,
                                record=round_index > 0)
                if quiet is not None:
                    quiet.unlink(missing_ok=True)
            rows.append(row)
            print(table_lines([row], backends)[-1], flush=True)
    finally:
        if args.quiet_file is not None:
            args.quiet_file.unlink(missing_ok=True)
        node_runner.close()
        if browser is not None:
            browser.close()
        shutil.rmtree(work, ignore_errors=True)

    stamp = datetime.date.today().isoformat()
    header = [f"Measured {stamp} on {machine()}; {len(rows)} models, {args.rounds} rounds "
              f"({args.large_rounds if args.large_rounds is not None else args.rounds} for the large models) "
              f"x {args.runs} samples per backend and side, in {time.time() - started:.0f} s.",
              "Times are medians in ms per inference: cpu and wasm in Node, as process CPU time (wall "
              "times below); webgl in headless Chromium (SwiftShader), as wall time. "
              "**Bold**: large models. \"fails\": TF.js refused the model; \"(wrong)\": its "
              "outputs miss the framework's by more than the tolerance."]
    body = header + [""] + table_lines(rows, backends)
    body += ["", "Op histograms (ours/official where they differ):", ""]
    body += histogram_lines(rows)
    body += ["", "Summary:", ""] + summary_lines(rows, backends)
    if any(b in NODE_BACKENDS for b in backends):
        body += ["", "Wall-time medians in Node, for reference:", ""] + wall_lines(rows, backends)
    errors = error_lines(rows)
    if errors:
        body += ["", "Failures:", ""] + errors
    text = "\n".join(body) + "\n"
    print()
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
