"""Runs the onnx package's backend test suite through tfjsconv and real TF.js, and writes the table.

    nice python benchmarks/onnx_conformance.py [--jobs N] [--kinds node,simple,...] [--only REGEX]
        [--backend cpu|wasm] [--json PATH] [--table PATH]

Every case of ``onnx.backend.test.loader.load_model_tests`` for the node, simple, pytorch-converted
and pytorch-operator sets is converted and run in TF.js 4.22 (tests/js; one Node process per
worker), then classified as pass / wrong / runtime error / crash / refused / not-tensor (see
tests/onnx_conformance.py).  Cases computed in float32 instead of float16/bfloat16/float64 are
counted in their own column.  Writes the per-case results (--json, default
benchmarks/onnx_conformance.json) and the summary table (--table, default
benchmarks/ONNX_CONFORMANCE.md) unless --only narrows the run.  Exit status 1 when any case is wrong,
a runtime error or a crash outside the reduced-precision column.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import onnx_conformance as conf  # noqa: E402

_STATE: dict[str, Any] = {}
LABELS = {
    "pass": "pass",
    "wrong": "wrong",
    "runtime_error": "TF.js runtime error",
    "crash": "crash (internal error)",
    "refused": "refused with a clean message",
    "not_tensor": "not tensor I/O",
}


def _worker_init(niceness: int, backend: str) -> None:
    from multiprocessing import util

    from tfjs_runner import TfjsRunner

    if niceness:
        os.nice(niceness)  # the Node child inherits it
    runner = TfjsRunner(timeout=90)
    work = conf.new_workdir()
    _STATE.update(runner=runner, work=work, backend=backend)
    util.Finalize(None, _worker_close, exitpriority=10)


def _worker_close() -> None:
    import shutil

    runner = _STATE.pop("runner", None)
    if runner is not None:
        runner.close()
    work = _STATE.pop("work", None)
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)


def _run(case: conf.Case) -> dict[str, Any]:
    result = conf.run_case(case, _STATE["runner"], _STATE["work"], _STATE["backend"])
    data = result.to_json()
    data.pop("warnings", None)  # the same float32 note on every reduced case: not worth committing
    return data


def run_all(cases: list[conf.Case], jobs: int, niceness: int, backend: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    ctx = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    pool = ctx.Pool(jobs, initializer=_worker_init, initargs=(niceness, backend), maxtasksperchild=400)
    try:
        for i, data in enumerate(pool.imap_unordered(_run, cases, chunksize=2), start=1):
            results.append(data)
            if data["status"] in ("wrong", "runtime_error", "crash"):
                detail = data.get("detail", "")[:160]
                print(f"  {data['status']:>13}  {data['case_id']}: {detail}", flush=True)
            if i % 100 == 0:
                print(f"  {i}/{len(cases)} cases", flush=True)
    finally:
        pool.close()
        pool.join()
    results.sort(key=lambda r: r["case_id"])
    return results


def _counts(results: list[dict[str, Any]]) -> tuple[Counter, Counter]:
    main: Counter = Counter()
    reduced: Counter = Counter()
    for r in results:
        (reduced if r.get("reduced") else main)[r["status"]] += 1
    return main, reduced


def render_table(results: list[dict[str, Any]], command: str, versions: str, seconds: float) -> str:
    main, reduced = _counts(results)
    lines = [
        "# ONNX backend-test conformance",
        "",
        f"Written by `{command}` ({versions}; {len(results)} cases, {seconds:.0f} s).",
        "",
        "Every case of `onnx.backend.test.loader.load_model_tests(kind=...)` for the node, simple,",
        "pytorch-converted and pytorch-operator sets is converted with tfjsconv and run in TF.js",
        "(tests/js, cpu backend).  Floats pass within rtol = atol = 1e-4 or within the case's own onnx",
        "tolerance; integers and booleans must match exactly.  The reduced-precision column holds the",
        "cases whose model uses float16, bfloat16 or float64 (tfjsconv computes them in float32 and",
        "warns) or 64-bit integer data outside int32: those are compared with onnx's own tolerance only.",
        "",
        "| result | float32 / integer cases | reduced precision | all |",
        "| --- | ---: | ---: | ---: |",
    ]
    for status in conf.STATUSES:
        total = main[status] + reduced[status]
        lines.append(f"| {LABELS[status]} | {main[status]} | {reduced[status]} | {total} |")
    lines.append(f"| **total** | {sum(main.values())} | {sum(reduced.values())} | {len(results)} |")
    lines += ["", "## Refusals by reason", "",
              "A case refused for several reasons (all offending nodes are reported at once) counts",
              "once under each.", "", "| reason | cases |", "| --- | ---: |"]
    reasons: Counter = Counter()
    for r in results:
        if r["status"] == "refused":
            for reason in r.get("reasons") or [r.get("detail", "?")]:
                reasons[reason] += 1
    for reason, count in sorted(reasons.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"| {_md(reason)} | {count} |")
    bad = [r for r in results if r["status"] in ("wrong", "runtime_error", "crash")]
    lines += ["", "## Wrong, runtime errors and crashes", ""]
    if not bad:
        lines.append("None.")
    for r in bad:
        tag = " (reduced precision: " + ", ".join(r["reduced"]) + ")" if r.get("reduced") else ""
        lines.append(f"- `{r['case_id']}` {r['status']}{tag}: {_md(r.get('detail', ''))}")
    red = [r for r in results if r.get("reduced") and r["status"] in ("pass", "wrong")]
    lines += ["", "## Reduced-precision cases that ran", "", "| case | types | result |",
              "| --- | --- | --- |"]
    for r in red:
        lines.append(f"| `{r['case_id']}` | {', '.join(r['reduced'])} | {r['status']} |")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _versions() -> str:
    import onnx

    package = REPO / "tests" / "js" / "node_modules" / "@tensorflow" / "tfjs" / "package.json"
    tfjs = json.loads(package.read_text())["version"] if package.is_file() else "?"
    return f"onnx {onnx.__version__}, TF.js {tfjs}"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--kinds", default=",".join(conf.KINDS))
    parser.add_argument("--only", default=None, help="regex on case ids (kind/name); no files written")
    parser.add_argument("--backend", default="cpu", choices=("cpu", "wasm"))
    parser.add_argument("--nice", type=int, default=10, help="niceness of the workers (0: none)")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "onnx_conformance.json")
    parser.add_argument("--table", type=Path, default=REPO / "benchmarks" / "ONNX_CONFORMANCE.md")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    cases = conf.load_cases([k for k in args.kinds.split(",") if k])
    if args.only:
        pattern = re.compile(args.only)
        cases = [c for c in cases if pattern.search(c.case_id)]
    print(f"{len(cases)} cases, {args.jobs} workers", flush=True)
    results = run_all(cases, max(1, args.jobs), args.nice, args.backend)
    seconds = time.perf_counter() - start
    main_counts, reduced_counts = _counts(results)
    print("float32/int:", dict(main_counts))
    print("reduced    :", dict(reduced_counts))
    if args.only:  # a narrowed run while developing: show why cases were refused
        reasons = Counter(reason for r in results if r["status"] == "refused"
                          for reason in r.get("reasons", []))
        for reason, count in reasons.most_common():
            print(f"  {count:4d}  {reason}")
    else:
        command = "python benchmarks/onnx_conformance.py"
        if args.backend != "cpu":
            command += f" --backend {args.backend}"
        lines = ",\n".join(json.dumps(r, sort_keys=True) for r in results)
        args.json.write_text(f"[\n{lines}\n]\n", encoding="utf-8")
        args.table.write_text(render_table(results, command, _versions(), seconds), encoding="utf-8")
        print(f"wrote {args.table} and {args.json}")
    bad = sum(main_counts[s] for s in ("wrong", "runtime_error", "crash"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
