"""A CI-sized subset of the onnx backend-test conformance run (benchmarks/onnx_conformance.py).

Runs every case listed in conformance_watch.txt (each was once wrong, a TF.js runtime error or a
converter crash) plus every third case of the committed results, through tfjsconv and real TF.js.
A case may never be wrong, a runtime error or a crash (reduced-precision cases excepted: they are
compared with onnx's own tolerance and reported apart), and a case the committed table records as
passing must still pass.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("onnx")
import onnx_conformance as conf  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
RESULTS = ROOT / "benchmarks" / "onnx_conformance.json"
WATCH = Path(__file__).with_name("conformance_watch.txt")
pytestmark = pytest.mark.conformance


def _recorded() -> dict[str, str]:
    return {r["case_id"]: r["status"] for r in json.loads(RESULTS.read_text(encoding="utf-8"))}


def _watched() -> list[str]:
    lines = WATCH.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _sample(case_id: str) -> bool:
    return hashlib.sha1(case_id.encode()).digest()[0] % 3 == 0


RECORDED = _recorded()
SELECTED = sorted(set(_watched()) | {c for c in RECORDED if _sample(c)})


@pytest.fixture(scope="module")
def cases() -> dict[str, conf.Case]:
    return {c.case_id: c for c in conf.load_cases(names=SELECTED)}


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    import shutil

    work = conf.new_workdir()
    yield work
    shutil.rmtree(work, ignore_errors=True)


def test_results_cover_the_whole_suite() -> None:
    assert len(RECORDED) == 2024
    assert set(_watched()) <= set(RECORDED), "conformance_watch.txt names a case the suite does not have"


@pytest.mark.parametrize("case_id", SELECTED)
def test_case(case_id: str, cases: dict[str, conf.Case], workdir: Path, tfjs: object) -> None:
    case = cases.get(case_id)
    assert case is not None, f"{case_id} is not in this onnx version's backend tests"
    result = conf.run_case(case, tfjs, workdir)
    if not result.reduced:
        assert result.status not in ("wrong", "runtime_error", "crash"), f"{result.status}: {result.detail}"
    if RECORDED.get(case_id) == "pass":
        assert result.status == "pass", f"{case_id} passed in the committed table, now {result.status}: " \
            f"{result.detail}"
