"""Every case fuzzing found (tests/bad_inputs/fuzz/*.case, with the original finding in the .txt
beside it) must now end as a conversion or a clean refusal: no exception escapes, nothing is left
in the output directory, the input is unchanged (the rules of fuzz_engine.execute)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz_cases import ROOT, decode
from fuzz_engine import execute

FOUND = sorted((ROOT / "tests" / "bad_inputs" / "fuzz").glob("*.case"))


def test_the_corpus_is_there() -> None:
    assert len(FOUND) >= 10
    for path in FOUND:
        assert path.with_suffix(".txt").is_file(), f"{path.name} lacks the note of what it found"


@pytest.mark.parametrize("path", FOUND, ids=[p.stem for p in FOUND])
def test_found_case_is_handled(path: Path, tmp_path: Path) -> None:
    case = decode(path.read_bytes())
    assert case is not None
    reader = path.name.split("-", 1)[0]
    if reader == "onnx":
        pytest.importorskip("onnx")
    outcome = execute(reader, case, tmp_path)
    first = path.with_suffix(".txt").read_text().strip()
    assert outcome.kind != "finding", f"{outcome.detail} (first found as: {first})"
