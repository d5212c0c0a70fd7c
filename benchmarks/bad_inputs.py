"""Time and peak memory of every refusal of a hostile input (issue 7: each under 1 s and 100 MB RSS).

    python benchmarks/bad_inputs.py [--repeat 3] [--tfjsconv .venv/bin/tfjsconv]

Runs the installed command on every input under tests/bad_inputs/ and on the argument mistakes
(unknown formats, flags, a quantization pattern matching nothing under --strict), each in a fresh
process, and prints the exit code, the best wall and CPU (user + system) time of --repeat runs and the
peak RSS (from wait4).  Exits 1 when any refusal takes 1 s or more (wall, or CPU when other jobs
share the machine), 100 MB or more, or is not a one-line error.
The 10^6-node GraphDef is measured too (it only has to get a message, not meet the budget).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "tests" / "bad_inputs"
KERAS_H5 = ROOT / "fixtures" / "models" / "keras3_conv_pool" / "model.h5"
BUDGET_SECONDS = 1.0
BUDGET_BYTES = 100 * 1024 * 1024


def _input_of(directory: Path) -> Path:
    for name in ("saved_model", "model.keras", "model.h5", "model.onnx", "model.json", "web/model.json",
                 "model.pb"):
        if (directory / name).exists():
            return directory / name
    candidates = sorted(p for p in directory.iterdir() if not p.name.startswith("secret"))
    return candidates[0]


def _cases(scratch: Path) -> list[tuple[str, list[str], bool]]:
    """(label, argv after the command, held to the budget)."""
    out = str(scratch / "out")
    cases = [(d.name, [str(_input_of(d)), out], True) for d in sorted(BAD.iterdir())
             if d.is_dir() and d.name != "fuzz"]
    cases += [
        ("typo --input_format=kerass", ["--input_format=kerass", str(KERAS_H5), out], True),
        ("unknown --output_format", ["--output_format=keras_keras", str(KERAS_H5), out], True),
        ("unmatched pattern --strict", ["--strict", "--quantize_float16=dense*/kernel", str(KERAS_H5), out],
         True),
        ("unknown flag", ["--bogus", str(KERAS_H5), out], True),
        ("missing argument", ["convert", str(KERAS_H5)], True),
    ]
    chain = scratch / "chain.pb"
    chain.write_bytes(_million_node_graph())
    cases.append(("10^6-node GraphDef", ["--output_node_names=n999999", str(chain), out], False))
    return cases


def _million_node_graph() -> bytes:
    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
            value >>= 7
            if not value:
                return bytes(out)

    def field(number: int, payload: bytes) -> bytes:
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    nodes = [field(1, field(1, b"x") + field(2, b"Placeholder"))]
    nodes += [field(1, field(1, b"n%d" % i) + field(2, b"Neg") + field(3, b"n%d" % (i - 1) if i else b"x"))
              for i in range(10 ** 6)]
    return b"".join(nodes)


# Measures one command from a small launcher process: a child forked straight from this script would
# count this script's own pages (the 10^6-node graph) in its peak RSS.
_LAUNCHER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(json.dumps([os.waitstatus_to_exitcode(status), time.perf_counter() - start,
                  usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024]))
"""


def _run(command: list[str]) -> tuple[int, float, float, int, str]:
    """(exit code, wall seconds, CPU seconds, peak RSS bytes, stderr) of ``command``."""
    with tempfile.TemporaryFile("w+") as err:
        result = subprocess.run([sys.executable, "-c", _LAUNCHER, *command], stdout=subprocess.PIPE,
                                stderr=err, text=True, check=True)
        err.seek(0)
        stderr = err.read()
    code, wall, cpu, peak = json.loads(result.stdout.strip().splitlines()[-1])
    return code, wall, cpu, peak, stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tfjsconv", default=shutil.which("tfjsconv") or "tfjsconv")
    args = parser.parse_args()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="tfjsconv-bad-") as tmp:
        scratch = Path(tmp)
        print(f"{'case':30} {'exit':>4} {'wall s':>6} {'cpu s':>6} {'peak MB':>7}  error line")
        for label, argv, budgeted in _cases(scratch):
            runs = [_run([args.tfjsconv, *argv]) for _ in range(args.repeat)]
            code = runs[0][0]
            best = min(r[1] for r in runs)
            cpu = min(r[2] for r in runs)
            peak = max(r[3] for r in runs)
            lines = [line for line in runs[0][4].splitlines() if line.strip()]
            ok = (code not in (0, 70) and len(lines) == 1 and lines[0].startswith("tfjsconv: error:")
                  and not (scratch / "out").exists())
            if budgeted:
                ok = ok and min(best, cpu) < BUDGET_SECONDS and peak < BUDGET_BYTES
            failed += not ok
            line = lines[0] if len(lines) == 1 else f"{len(lines)} lines"
            print(f"{label:30} {code:>4} {best:6.3f} {cpu:6.3f} {peak / 2**20:7.1f}  {'' if ok else 'FAIL '}"
                  f"{line[:100]}")
    print(f"{failed} case(s) over budget or not a clean one-line refusal" if failed else "all within budget")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
