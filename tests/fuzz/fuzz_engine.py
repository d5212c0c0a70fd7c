"""Runs mutated cases through a reader and sorts what happens into expected outcomes and findings.

Expected: the model converts, or a ``ConverterError`` refuses it - with no output directory left and
the input files unchanged.  Findings: any other exception (including a ``MemoryError`` or
``RecursionError`` a reader let through), a refusal that leaves output behind or edits the input, a
"ran out of memory" refusal (a size that was not checked before allocating), and a run longer than
the hang limit.  Each finding is saved as an encoded case (``fuzz_cases.encode``) for minimizing.

The loop keeps a small corpus: a mutant whose refusal message has a shape not seen before is kept as
a parent for later mutations (a cheap stand-in for coverage feedback when atheris is not used).
"""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import tempfile
import time
import traceback
from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from cpu_limit import cpu_time_limit
from fuzz_cases import Case, encode, seeds
from fuzz_mutators import mutate

HANG_SECONDS = 10.0
FUZZ_MAX_TENSOR_BYTES = 8 * 1024 * 1024  # above every seed tensor; mutants that declare more are refused


class Hang(Exception):
    """Raised by the interval timer when one execution runs past HANG_SECONDS."""


@dataclass
class Outcome:
    kind: str  # "converted" | "refused" | "finding"
    detail: str  # refusal template, or the finding's signature


@dataclass
class Stats:
    reader: str
    execs: int = 0
    outcomes: Counter = field(default_factory=Counter)
    findings: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self) -> str:
        return (f"{self.reader}: {self.execs} execs in {self.seconds:.0f} s "
                f"({self.execs / max(self.seconds, 1e-9):.0f}/s), converted {self.outcomes['converted']}, "
                f"refused {self.outcomes['refused']}, findings {sum(self.findings.values())}")


# ----- one execution ----------------------------------------------------------------------------------

def _convert(entry: Path, out: Path, **options: Any) -> None:
    import tfjsconv

    tfjsconv.convert(str(entry), str(out), max_tensor_bytes=FUZZ_MAX_TENSOR_BYTES, **options)


def _read_checkpoint(entry: Path, out: Path, **_: Any) -> None:
    from tfjsconv import limits
    from tfjsconv.readers.tf.bundle import TensorBundle

    with limits.applied(limits.Limits(max_tensor_bytes=FUZZ_MAX_TENSOR_BYTES)):
        with TensorBundle.open(entry) as bundle:
            for key in bundle.keys():
                bundle.read(key)
            bundle.object_graph()
            bundle.verify()


def _target(reader: str, case: Case) -> tuple[Callable[..., None], dict[str, Any]]:
    if reader == "checkpoint":
        return _read_checkpoint, {}
    options: dict[str, Any] = {}
    if reader == "onnx":
        options["input_format"] = "onnx"
    elif reader == "saved_model":
        # A tf-keras SavedModel has a second route: keras_metadata.pb's layer configs -> layers model.
        metadata = case.files.get(f"{case.entry}/keras_metadata.pb")
        if metadata is not None and hashlib.sha1(metadata).digest()[0] % 2:
            options["input_format"] = "keras_saved_model"
    elif reader == "graph_model":
        options["input_format"] = "tfjs_graph_model"
        digest = hashlib.sha1(case.files.get(case.entry, b"")).digest()[0]
        options["output_format"] = "tf_saved_model" if digest % 2 else "tf_frozen_model"
    elif reader == "layers":
        options["input_format"] = "tfjs_layers_model"
        # The routes out of a layers model: re-sharding it, lowering it, writing a Keras .h5, a .keras
        # archive or a tf-keras SavedModel.
        digest = hashlib.sha1(case.files.get(case.entry, b"")).digest()[0]
        options["output_format"] = ("keras", "tfjs_layers_model", "tfjs_graph_model", "keras_keras",
                                    "keras_saved_model")[digest % 5]
    elif reader in ("h5", "zip"):
        # Keras files have two routes: the layers model and the lowering to a graph model.
        digest = hashlib.sha1(case.files.get(case.entry, b"")).digest()[0]
        options["output_format"] = "tfjs_graph_model" if digest % 2 else "tfjs_layers_model"
    if case.extras.get("output_format"):  # a corpus case pinned to the route it was found on
        options["output_format"] = case.extras["output_format"]
    if case.extras.get("output_node_names"):
        options["output_node_names"] = case.extras["output_node_names"]
    return _convert, options


def _deadline(seconds: float) -> AbstractContextManager[None]:
    """Raises Hang after ``seconds`` of CPU time: on a machine shared with other jobs, wall time would
    flag slow-but-finite runs."""
    return cpu_time_limit(seconds, lambda: Hang(f"no result after {seconds:.0f} s of CPU time"))


_TEMPLATE = re.compile(r"'[^']*'|\"[^\"]*\"|\d+|/[^\s:;,()]+")


def template(message: str) -> str:
    """A refusal message with its names and numbers blanked: the "shape" of the check that fired."""
    return _TEMPLATE.sub("_", message)[:160]


def _signature(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if "tfjsconv" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    return f"{type(error).__name__} at {where}"


def execute(reader: str, case: Case, work: Path) -> Outcome:
    from tfjsconv.errors import ConverterError

    directory = Path(tempfile.mkdtemp(prefix="case-", dir=work))
    try:
        entry = case.write(directory / "in")
        out = directory / "out"
        fn, options = _target(reader, case)
        try:
            with _deadline(HANG_SECONDS):
                fn(entry, out, **options)
        except ConverterError as error:
            message = str(error)
            if "ran out of memory" in message:
                return Outcome("finding", "unchecked allocation: " + template(message))
            if out.exists():
                return Outcome("finding", "refusal left output behind: " + template(message))
            changed = [n for n, data in case.files.items() if (directory / "in" / n).read_bytes() != data]
            if changed:
                return Outcome("finding", f"input modified: {changed[0]}")
            # "could not be lowered": the ONNX reader's net under its op handlers, counted apart.
            net = "net: " if "could not be lowered" in message else ""
            return Outcome("refused", net + template(message))
        except Hang as error:
            return Outcome("finding", f"hang: {error}")
        except BaseException as error:  # noqa: BLE001  (everything else is what fuzzing looks for)
            if isinstance(error, KeyboardInterrupt):
                raise
            return Outcome("finding", _signature(error) + ": " + " ".join(str(error).split())[:200])
        return Outcome("converted", "")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# ----- the loop ---------------------------------------------------------------------------------------

def save_finding(case: Case, outcome: Outcome, findings_dir: Path, reader: str) -> Path:
    findings_dir.mkdir(parents=True, exist_ok=True)
    key = outcome.detail.encode()
    if outcome.detail.startswith(("hang", "worker died")):  # no location in the detail: name by case
        key += encode(case)
    digest = hashlib.sha1(key).hexdigest()[:10]
    path = findings_dir / f"{reader}-{digest}.case"
    if not path.exists():
        path.write_bytes(encode(case))
        path.with_suffix(".txt").write_text(outcome.detail + "\n")
    return path


def fuzz(reader: str, execs: int, seed: int, work: Path, findings_dir: Optional[Path] = None,
         seconds: Optional[float] = None, current: Optional[Path] = None,
         report: Optional[Callable[[Stats], None]] = None, report_every: float = 30.0) -> Stats:
    """Up to ``execs`` executions (or ``seconds``); ``current`` receives each case before it runs, so
    a supervising process can save the one that crashed or hung the interpreter."""
    rng = random.Random(seed)
    corpus = seeds(reader)
    seen: set[str] = set()
    stats = Stats(reader)
    start = last = time.monotonic()
    work.mkdir(parents=True, exist_ok=True)
    while stats.execs < execs and (seconds is None or time.monotonic() - start < seconds):
        parent = rng.choice(corpus)
        if current is not None:
            current.unlink(missing_ok=True)  # a worker stuck in the mutator has no case to blame
        case = mutate(reader, parent, rng)
        if current is not None:
            current.write_bytes(encode(case))
        outcome = execute(reader, case, work)
        stats.execs += 1
        stats.outcomes[outcome.kind] += 1
        if outcome.detail.startswith("net: "):
            stats.outcomes["net"] += 1
        if outcome.kind == "finding":
            stats.findings[outcome.detail] = stats.findings.get(outcome.detail, 0) + 1
            if findings_dir is not None:
                save_finding(case, outcome, findings_dir, reader)
        elif outcome.detail not in seen and len(corpus) < 400:
            seen.add(outcome.detail)
            corpus.append(case)
        now = time.monotonic()
        stats.seconds = now - start
        if report is not None and now - last >= report_every:
            last = now
            report(stats)
    stats.seconds = time.monotonic() - start
    return stats
