"""Long fuzzing runs of one reader, in process, supervised; and replaying or minimizing what they find.

    python scripts/fuzz.py --reader h5 --execs 100000 [--workers 1] [--seed 1] [--findings DIR]
    python scripts/fuzz.py --reader onnx --execs 100000 --engine atheris   # coverage-guided
    python scripts/fuzz.py --replay DIR/h5-0123456789.case                 # run one case, show the error
    python scripts/fuzz.py --minimize DIR/h5-0123456789.case --out tests/bad_inputs/NAME
    python scripts/fuzz.py --minimize DIR/h5-0123456789.case --out tests/bad_inputs/fuzz/h5-0123456789.case
    python scripts/fuzz.py --rate 300 [--reader h5]                         # execs per CPU second

Readers: h5 (Keras HDF5), zip (.keras archives), saved_model (SavedModel and frozen GraphDef),
checkpoint (tensor-bundle index + data shards), onnx, layers (TF.js layers model.json + shards).
Mutators and the execution rules live in tests/fuzz/ (fuzz_mutators.py, fuzz_engine.py).

The loop engine runs in worker processes watched by this one: each worker writes the case it is
about to run, so a worker that dies (a crash inside a C library) or stops reporting for more than
the hang limit is replaced and that case saved as a finding.  Workers get an address-space budget of
their start-up size plus 1 GB, so a blow-up fails inside the worker instead of swapping the machine.
The atheris engine runs libFuzzer in process (-timeout 10, -rss_limit_mb 1536) with the same
mutators as its custom mutator; it is used only when ``import atheris`` works.

Totals are appended to --log (default fuzz-runs/totals.tsv) after every run: one line per worker,
so long campaigns can be split over several invocations and summed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fuzz"))

from fuzz_cases import READERS, Case, decode, encode  # noqa: E402
from fuzz_engine import HANG_SECONDS, Stats, execute, fuzz, save_finding  # noqa: E402

MEMORY_BUDGET = 1 << 30
_STOP = {"requested": False}  # set by SIGTERM/SIGINT: finish the current worker, log totals, exit


# ----- worker --------------------------------------------------------------------------------------------

def _limit_memory() -> None:
    import resource

    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[0])
    limit = pages * os.sysconf("SC_PAGE_SIZE") + MEMORY_BUDGET + (512 << 20)  # + room for mmapped shards
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _worker(args: argparse.Namespace) -> int:
    import tfjsconv  # noqa: F401  (loaded before the memory budget is measured)
    import tfjsconv.routes

    tfjsconv.routes.supported_pairs()
    try:
        import onnx  # noqa: F401
    except ImportError:
        pass
    _limit_memory()
    work = Path(args.work)
    print(json.dumps({"execs": 0, "outcomes": {}, "findings": {}, "seconds": 0.0}), flush=True)  # ready

    def report(stats: Stats) -> None:
        print(json.dumps({"execs": stats.execs, "outcomes": dict(stats.outcomes),
                          "findings": stats.findings, "seconds": stats.seconds}), flush=True)

    stats = fuzz(args.reader, args.execs, args.seed, work / "tmp", Path(args.findings),
                 current=work / "current.case", report=report, report_every=2.0)
    report(stats)
    return 0


# ----- supervisor ----------------------------------------------------------------------------------------

def _supervise(args: argparse.Namespace, worker_id: int) -> dict:
    """Runs workers until ``args.execs`` executions are done, restarting after a crash or hang."""
    work = Path(args.work) / f"{args.reader}-{worker_id}"
    work.mkdir(parents=True, exist_ok=True)
    done = 0
    totals: dict = {"execs": 0, "outcomes": {}, "findings": {}, "seconds": 0.0, "restarts": 0}
    seed = args.seed * 1000 + worker_id
    while done < args.execs:
        (work / "current.case").unlink(missing_ok=True)
        command = [sys.executable, __file__, "--worker", "--reader", args.reader, "--execs",
                   str(args.execs - done), "--seed", str(seed), "--work", str(work),
                   "--findings", args.findings]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                preexec_fn=lambda: os.nice(args.nice) if args.nice else None)
        last: dict = {"execs": 0, "outcomes": {}, "findings": {}, "seconds": 0.0}
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        heard_cpu = 0.0
        active = 0.0  # wall seconds since the last report while the worker was not paused (SIGSTOP)
        tick = time.monotonic()
        buffer = ""
        while proc.poll() is None:
            if _STOP["requested"]:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                break
            _write_status(work, totals, last)
            buffer += _read_available(proc.stdout.fileno())
            *lines, buffer = buffer.split("\n")
            cpu, paused = _cpu_seconds(proc.pid), _paused(proc.pid)
            now = time.monotonic()
            active += 0.0 if paused else min(now - tick, 5.0)  # (this process may be paused too)
            tick = now
            for line in lines:
                if line.startswith("{"):
                    last = json.loads(line)
                    heard_cpu, active = cpu, 0.0
            # Reports come every 2 s of work.  A worker that burns HANG_SECONDS + 10 s of CPU without
            # one is stuck in a C call the in-process timer cannot interrupt; wall time alone says
            # little on a shared machine at nice 19, so it only counts (generously) as a backstop,
            # and not while the worker is paused (SIGSTOP by someone who needs a quiet machine).
            stuck_cpu = cpu - heard_cpu > HANG_SECONDS + 10
            stuck_wall = active > 900
            if stuck_cpu or stuck_wall:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                what = f"{cpu - heard_cpu:.0f} s of CPU" if stuck_cpu else "900 s"
                _record_lost_case(work, args, f"hang: worker silent for {what}")
                break
            time.sleep(0.5)
        os.set_blocking(proc.stdout.fileno(), True)
        rest = proc.stdout.read().decode("utf-8", "replace")
        for line in (buffer + rest).split("\n"):
            if line.startswith("{"):
                last = json.loads(line)
        stopped = _STOP["requested"]
        # A worker that dies before running any case failed to start (an import error while the
        # sources are being edited): a restart, not a finding.
        lost = (work / "current.case").is_file()
        if proc.returncode not in (0, None) and proc.returncode != -signal.SIGKILL and not stopped and lost:
            _record_lost_case(work, args, f"worker died with exit status {proc.returncode}")
        totals["execs"] += last["execs"]
        totals["seconds"] += last["seconds"]
        for key, value in last["outcomes"].items():
            totals["outcomes"][key] = totals["outcomes"].get(key, 0) + value
        for key, value in last["findings"].items():
            totals["findings"][key] = totals["findings"].get(key, 0) + value
        if stopped:
            break
        done += last["execs"] + (0 if proc.returncode == 0 or not lost else 1)
        if proc.returncode != 0 and lost:
            totals["restarts"] += 1
            totals["execs"] += 1  # the case that crashed or hung the worker
        elif proc.returncode != 0:
            time.sleep(5)  # a start-up failure: wait for the sources to settle
        seed += 7919
    _write_status(work, totals, {"execs": 0, "outcomes": {}, "findings": {}, "seconds": 0.0})
    return totals


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0.0


def _paused(pid: int) -> bool:
    """True while the process is stopped (state T: SIGSTOP, or t: traced)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] in ("T", "t")
    except (OSError, IndexError):
        return False


def _read_available(fd: int) -> str:
    try:
        return os.read(fd, 1 << 16).decode("utf-8", "replace")
    except BlockingIOError:
        return ""


def _write_status(work: Path, totals: dict, running: dict) -> None:
    """Totals so far (finished workers plus the running one), for watching a long campaign."""
    now = time.monotonic()
    if now - _STATUS_WRITTEN.get(str(work), 0.0) < 10:
        return
    _STATUS_WRITTEN[str(work)] = now
    status = {"execs": totals["execs"] + running["execs"], "restarts": totals["restarts"],
              "findings": sum(totals["findings"].values()) + sum(running["findings"].values()),
              "seconds": totals["seconds"] + running["seconds"]}
    (work / "status.json").write_text(json.dumps(status) + "\n")


_STATUS_WRITTEN: dict[str, float] = {}


def _record_lost_case(work: Path, args: argparse.Namespace, detail: str) -> None:
    from fuzz_engine import Outcome

    current = work / "current.case"
    case = decode(current.read_bytes()) if current.is_file() else None
    if case is not None:
        path = save_finding(case, Outcome("finding", detail), Path(args.findings), args.reader)
        print(f"{args.reader}: {detail}; case saved as {path}", file=sys.stderr)


def _log_totals(args: argparse.Namespace, totals: dict, command: str) -> None:
    log = Path(args.log)
    log.parent.mkdir(parents=True, exist_ok=True)
    new = not log.exists()
    with log.open("a") as handle:
        if new:
            handle.write("time\treader\texecs\tconverted\trefused\tfindings\tseconds\trestarts\tcommand\n")
        handle.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\t{args.reader}\t{totals['execs']}\t"
                     f"{totals['outcomes'].get('converted', 0)}\t{totals['outcomes'].get('refused', 0)}\t"
                     f"{sum(totals['findings'].values()) + totals['restarts']}\t{totals['seconds']:.0f}\t"
                     f"{totals['restarts']}\t{command}\n")


# ----- atheris ---------------------------------------------------------------------------------------------

def _atheris(args: argparse.Namespace) -> int:
    import random
    import tempfile

    import atheris

    with atheris.instrument_imports(include=["tfjsconv"]):
        import tfjsconv.api  # noqa: F401
        import tfjsconv.readers.tf.bundle  # noqa: F401
        import tfjsconv.routes

        tfjsconv.routes.supported_pairs()  # imports every route, reader and writer module
    from fuzz_cases import seeds
    from fuzz_mutators import mutate

    corpus = seeds(args.reader)
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-atheris-"))
    totals: dict = {"execs": 0, "outcomes": {}, "findings": {}, "seconds": 0.0, "restarts": 0}
    start = time.monotonic()
    command = " ".join([Path(sys.executable).name, *sys.argv])

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        case = decode(data) or rng.choice(corpus)
        return encode(mutate(args.reader, case, rng))

    def test_one_input(data: bytes) -> None:
        case = decode(data)
        if case is None:
            return
        outcome = execute(args.reader, case, work)
        totals["execs"] += 1
        totals["outcomes"][outcome.kind] = totals["outcomes"].get(outcome.kind, 0) + 1
        if outcome.kind == "finding":  # saved, and the run goes on (libFuzzer would stop at a raise)
            save_finding(case, outcome, Path(args.findings), args.reader)
            totals["findings"][outcome.detail] = totals["findings"].get(outcome.detail, 0) + 1
        if totals["execs"] == args.execs:  # libFuzzer leaves through exit(): no atexit hook runs
            totals["seconds"] = time.monotonic() - start
            _log_totals(args, totals, command)

    corpus_dir = work / "corpus"
    corpus_dir.mkdir()
    for index, case in enumerate(corpus):
        (corpus_dir / f"seed{index}").write_bytes(encode(case))
    # libFuzzer's -timeout is wall time: generous, since a shared machine at nice 19 stalls for long.
    argv = [sys.argv[0], str(corpus_dir), f"-runs={args.execs + len(corpus)}", "-timeout=120",
            "-rss_limit_mb=1536", f"-seed={args.seed}", "-max_len=4000000"]
    atheris.Setup(argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()
    return 0


# ----- replay and minimize -----------------------------------------------------------------------------

def _load(path: Path) -> tuple[str, Case]:
    case = decode(path.read_bytes())
    if case is None:
        raise SystemExit(f"{path}: not an encoded fuzz case")
    reader = path.name.split("-", 1)[0]
    return reader, case


def _replay(args: argparse.Namespace) -> int:
    import tempfile
    import traceback

    reader, case = _load(Path(args.replay))
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-replay-"))
    os.environ["TFJSCONV_FUZZ_TRACEBACK"] = "1"
    outcome = execute(reader, case, work)
    print(f"{reader} ({case.label}): {outcome.kind}: {outcome.detail}")
    if outcome.kind == "finding" and args.traceback:
        from fuzz_engine import _target

        directory = work / "trace"
        entry = case.write(directory / "in")
        fn, options = _target(reader, case)
        try:
            fn(entry, directory / "out", **options)
        except Exception:  # noqa: BLE001
            traceback.print_exc()
    return 0 if outcome.kind != "finding" else 1


def _minimize(args: argparse.Namespace) -> int:
    import tempfile

    from fuzz_minimize import minimize

    reader, case = _load(Path(args.minimize))
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-minimize-"))
    target = execute(reader, case, work)
    if target.kind != "finding":
        print(f"does not reproduce: {target.kind} {target.detail}")
        return 1
    small = minimize(reader, case, work, target.detail, budget=args.budget)
    before = sum(len(v) for v in case.files.values())
    after = sum(len(v) for v in small.files.values())
    print(f"{target.detail}\n{before} -> {after} bytes in {len(small.files)} file(s)")
    if args.out and args.out.endswith(".case"):  # a regression case for tests/bad_inputs/fuzz/
        out = Path(args.out)
        out.write_bytes(encode(small))
        out.with_suffix(".txt").write_text(f"{target.detail} (minimized: {before} -> {after} bytes)\n")
        print(f"written to {out}")
    elif args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        small.write(out)
        print(f"written to {out} (input: {small.entry})")
    return 0


def _rate(args: argparse.Namespace) -> int:
    """Executions per second of process CPU time (robust on a shared machine), split into the time
    spent mutating and executing, for each reader (or --reader): same seed, same cases every run."""
    import random
    import tempfile

    from fuzz_cases import seeds
    from fuzz_mutators import mutate

    import tfjsconv.routes

    tfjsconv.routes.supported_pairs()  # imports every route: not charged to the first execution
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-rate-", dir=Path(args.work).parent))
    for reader in [args.reader] if args.reader else READERS:
        rng = random.Random(args.seed)
        corpus = seeds(reader)
        execute(reader, corpus[0], work)  # warm-up: lazy imports inside the reader
        spent = [0.0, 0.0]
        for _ in range(args.rate):
            start = time.process_time()
            case = mutate(reader, rng.choice(corpus), rng)
            middle = time.process_time()
            execute(reader, case, work)
            spent[0] += middle - start
            spent[1] += time.process_time() - middle
        print(f"{reader:12s} {args.rate} execs: mutate {1000 * spent[0] / args.rate:5.1f} ms, execute "
              f"{1000 * spent[1] / args.rate:5.1f} ms, {args.rate / sum(spent):6.1f} execs/s of CPU",
              flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reader", choices=READERS)
    parser.add_argument("--execs", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine", choices=("loop", "atheris"), default="loop")
    parser.add_argument("--findings", default=str(ROOT / "fuzz-runs" / "findings"))
    parser.add_argument("--work", default="/dev/shm/tfjsconv-fuzz" if Path("/dev/shm").is_dir() else
                        str(ROOT / "fuzz-runs" / "work"))
    parser.add_argument("--log", default=str(ROOT / "fuzz-runs" / "totals.tsv"))
    parser.add_argument("--nice", type=int, default=0, help="niceness added to the worker processes")
    parser.add_argument("--replay")
    parser.add_argument("--traceback", action="store_true", help="with --replay: print the traceback")
    parser.add_argument("--minimize")
    parser.add_argument("--budget", type=int, default=400, help="executions a minimization may use")
    parser.add_argument("--out", help="with --minimize: directory to write the minimized case's files "
                        "into, or NAME.case for the encoded case (+ NAME.txt)")
    parser.add_argument("--rate", type=int, help="measure execs per CPU second over this many cases")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replay:
        return _replay(args)
    if args.minimize:
        return _minimize(args)
    if args.rate:
        return _rate(args)
    if args.reader is None:
        parser.error("--reader is required")
    if args.worker:
        return _worker(args)
    if args.engine == "atheris":
        try:
            import atheris  # noqa: F401
        except ImportError:
            print("atheris is not installed here; using the plain mutation loop", file=sys.stderr)
        else:
            return _atheris(args)
    command = " ".join([Path(sys.executable).name, *sys.argv])

    def stop(signum: int, frame: object) -> None:
        _STOP["requested"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    per_worker = max(1, args.execs // args.workers)
    totals_all = []
    if args.workers == 1:
        totals_all.append(_supervise(argparse.Namespace(**{**vars(args), "execs": per_worker}), 0))
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(args.workers) as pool:
            futures = [pool.submit(_supervise, argparse.Namespace(**{**vars(args), "execs": per_worker}), i)
                       for i in range(args.workers)]
            totals_all = [f.result() for f in futures]
    for totals in totals_all:
        _log_totals(args, totals, command)
        found = sum(totals["findings"].values()) + totals["restarts"]
        print(f"{args.reader}: {totals['execs']} execs, {totals['outcomes']}, {found} finding(s), "
              f"{totals['restarts']} worker restart(s), {totals['seconds']:.0f} s")
        for detail, count in sorted(totals["findings"].items(), key=lambda kv: -kv[1]):
            print(f"  {count:6d}  {detail[:200]}")
    return 1 if any(t["findings"] or t["restarts"] for t in totals_all) else 0


if __name__ == "__main__":
    sys.exit(main())
