"""Running the tfjsconv command as a user does, and what every failed conversion must look like."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfjsconv", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=120)


def assert_clean_failure(result: subprocess.CompletedProcess, output: Path, *needles: str) -> str:
    """One ``tfjsconv: error:`` line holding every needle, a non-zero exit, no traceback, and neither
    the output directory nor a leftover staging directory next to it."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tfjsconv: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not output.exists()
    if output.parent.is_dir():
        assert not [p for p in output.parent.iterdir() if ".tfjsconv-" in p.name]
    return lines[0]
