"""A long fuzzing campaign on a shared machine: scripts/fuzz.py in chunks, one worker at a time.

    python scripts/fuzz_campaign.py --until 13:20 [--chunk 240] [--tree DIR --follow main]

Each chunk runs the reader furthest below its target (``--target``, default 100,000 executions each,
counted from ``--log``) for ``--chunk`` seconds at nice 19 with a new seed.  Before a chunk, and during
it, the campaign waits while any ``/work/tools/QUIET.*`` file exists (someone is timing a benchmark):
the running chunk is paused with SIGSTOP and resumed with SIGCONT, and paused time is not counted.
With ``--tree DIR --follow REF``, DIR (a git worktree kept for the campaign, nothing else) is moved to
the newest REF before every chunk, so a campaign spanning hours fuzzes the code as other fixes land;
each chunk's commit goes to ``chunks.tsv`` beside the log.
"""

from __future__ import annotations

import argparse
import glob
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READERS = ("h5", "zip", "saved_model", "checkpoint", "onnx", "layers", "graph_model")


def _totals(log: Path) -> dict[str, int]:
    totals = dict.fromkeys(READERS, 0)
    if log.is_file():
        for line in log.read_text().splitlines()[1:]:
            fields = line.split("\t")
            if len(fields) > 2 and fields[1] in totals:
                totals[fields[1]] += int(fields[2])
    return totals


def _quiet(pattern: str) -> bool:
    return bool(glob.glob(pattern))


def _run_chunk(command: list[str], env: dict[str, str], seconds: float, quiet: str) -> None:
    proc = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    active, tick, stopped = 0.0, time.monotonic(), False
    while proc.poll() is None:
        time.sleep(1.0)
        now = time.monotonic()
        if _quiet(quiet) != stopped:
            stopped = not stopped
            os.killpg(proc.pid, signal.SIGSTOP if stopped else signal.SIGCONT)
        elif not stopped:
            active += now - tick
        tick = now
        if active >= seconds and not stopped:
            proc.send_signal(signal.SIGTERM)  # the supervisor stops its worker and logs the totals
            break
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
    for line in err.decode("utf-8", "replace").splitlines():
        if "finding" in line or "case saved" in line or "Traceback" in line:
            print(line, file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--until", required=True, help="UTC time HH:MM after which no chunk starts")
    parser.add_argument("--chunk", type=float, default=240.0, help="seconds of (unpaused) fuzzing per chunk")
    parser.add_argument("--target", type=int, default=100_000)
    parser.add_argument("--extra", default="checkpoint:400000",
                        help="reader:target pairs above --target (the cheap readers fill the 1M total)")
    parser.add_argument("--seed", type=int, default=100, help="first chunk's seed; +1 per chunk")
    parser.add_argument("--tree", default=str(ROOT), help="the source tree to fuzz")
    parser.add_argument("--follow", help="with --tree: check this git ref out in the tree before each chunk")
    parser.add_argument("--log", default=str(ROOT / "fuzz-runs" / "campaign.tsv"))
    parser.add_argument("--findings", default=str(ROOT / "fuzz-runs" / "findings"))
    parser.add_argument("--quiet", default="/work/tools/QUIET.*")
    args = parser.parse_args()
    targets = dict.fromkeys(READERS, args.target)
    for pair in filter(None, args.extra.split(",")):
        reader, count = pair.split(":")
        targets[reader] = int(count)
    log = Path(args.log)
    chunks = log.with_name("chunks.tsv")
    tree = Path(args.tree)
    env = {**os.environ, "PYTHONPATH": str(tree)}  # the tree's tfjsconv, whatever is installed
    seed = args.seed
    hour, minute = (int(x) for x in args.until.split(":"))
    while True:
        while _quiet(args.quiet):
            time.sleep(5)
        now = time.gmtime()
        if (now.tm_hour, now.tm_min) >= (hour, minute):
            break
        if args.follow:
            subprocess.run(["git", "-C", str(tree), "checkout", "-q", "--detach", args.follow], check=True)
        commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], check=True,
                                capture_output=True, text=True).stdout.strip()
        before = _totals(log)
        reader = min(READERS, key=lambda r: before[r] / targets[r])
        command = ["nice", "-n", "19", sys.executable, str(tree / "scripts" / "fuzz.py"), "--reader",
                   reader, "--execs", str(10 ** 9), "--seed", str(seed), "--log", str(log),
                   "--findings", args.findings]
        started = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        _run_chunk(command, env, args.chunk, args.quiet)
        after = _totals(log)
        new = not chunks.exists()
        with chunks.open("a") as handle:
            if new:
                handle.write("start\tcommit\treader\tseed\texecs\n")
            handle.write(f"{started}\t{commit}\t{reader}\t{seed}\t{after[reader] - before[reader]}\n")
        print(f"{started} {commit} {reader} seed {seed}: +{after[reader] - before[reader]} "
              f"(total {sum(after.values())}: {after})", flush=True)
        seed += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
