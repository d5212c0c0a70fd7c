"""A/B of TF.js graph models converted from one source: one Node process, inferences interleaved.

    python benchmarks/ab_interleave.py OURS_DIR OFFICIAL_DIR [MORE_DIRS...] --backend cpu --rounds 10

Each directory holds a model.json; all are served over HTTP on 127.0.0.1 (as a browser fetches them)
and loaded by the pinned @tensorflow/tfjs of ``tests/js``.  Every round runs one inference of each
model, starting with a different model each round; inputs are random values of each model's
signature shape (unknown dims 1).  Reported per model: median and minimum wall time, median process
CPU time, and against the first directory the median of the per-round time ratios and how many
rounds it was faster.  A per-round ratio cancels what the machine was doing during that round, which
fresh-process medians cannot (a ResNet50 cpu inference takes 12 or 18 s depending on the moment).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import statistics
import subprocess
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JS_DIR = ROOT / "tests" / "js"


def _serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path,
                        help="model directories; the first is compared to the rest")
    parser.add_argument("--backend", default="cpu", choices=("cpu", "wasm"))
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1, help="untimed inferences of each model first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        names = []
        for i, directory in enumerate(args.dirs):
            name = f"m{i}"
            (Path(tmp) / name).symlink_to(directory.resolve(), target_is_directory=True)
            names.append(name)
        server, port = _serve(Path(tmp))
        try:
            urls = [f"http://127.0.0.1:{port}/{name}/model.json" for name in names]
            done = subprocess.run(["node", str(Path(__file__).with_name("ab_interleave.mjs")), str(JS_DIR),
                                   args.backend, str(args.rounds), str(args.warmup), *urls],
                                  capture_output=True, text=True, check=False)
        finally:
            server.shutdown()
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        print(lines[-1] if lines else f"node exited {done.returncode}")
        return 1
    results = json.loads(done.stdout)
    base = results[0]["wall_ms"]
    print(f"{args.backend}, {args.rounds} rounds, {args.warmup} warm-up inference(s) each, one Node process")
    print("| model | wall median ms | wall min ms | cpu median ms | first / this (median of rounds) "
          "| first faster in |")
    print("|---|---|---|---|---|---|")
    for directory, result in zip(args.dirs, results):
        wall, cpu = result["wall_ms"], result["cpu_ms"]
        ratios = [a / b for a, b in zip(base, wall)]
        print(f"| {directory} | {statistics.median(wall):.1f} | {min(wall):.1f} "
              f"| {statistics.median(cpu):.1f} | {statistics.median(ratios):.3f} "
              f"| {sum(r < 1 for r in ratios)} of {len(ratios)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
