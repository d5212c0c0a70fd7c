"""A bounded fuzzing run of every reader (marker ``fuzz``: about 2 minutes in all, once per CI run).

Each reader gets a fixed seed and a fixed number of executions; the structure-aware mutators of
fuzz_mutators.py edit seeds made from fixtures/models, and every execution must end as a conversion or a clean
refusal (see fuzz_engine.py).  Long campaigns: scripts/fuzz.py.  A finding fails the test with the
list of what was found; scripts/fuzz.py --replay / --minimize turn its saved case into a regression
file under tests/bad_inputs/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz_cases import READERS
from fuzz_engine import fuzz

# Executions per reader: about 15 s each on an idle 2-core machine, 2 minutes in all.  A count, not a
# time budget, so that a given tree always runs the same cases (a time budget would make a deep find
# appear or vanish with the machine's load).
EXECS = {"h5": 400, "zip": 1200, "saved_model": 400, "checkpoint": 4000, "onnx": 1500, "layers": 3500,
         "graph_model": 4000}

pytestmark = pytest.mark.fuzz


@pytest.mark.parametrize("reader", READERS)
def test_reader_survives_fuzzing(reader: str, tmp_path: Path) -> None:
    findings = tmp_path / "findings"
    stats = fuzz(reader, execs=EXECS[reader], seed=7, work=tmp_path / "work", findings_dir=findings)
    print(stats.line())
    assert stats.execs == EXECS[reader], stats.line()
    assert stats.outcomes["refused"] > 0  # and the mutations really reached its checks
    listing = "\n".join(f"{count} x {detail}" for detail, count in stats.findings.items())
    assert not stats.findings, f"{stats.line()}\n{listing}\n(cases saved in {findings})"
