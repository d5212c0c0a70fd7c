"""Same input, same flags -> byte-identical output, across runs and PYTHONHASHSEED values.

Every fixture case (base options and variants) is converted by one child process per hash seed, and
the two output trees must match file for file, byte for byte: set iteration order, dict order from
hashing, timestamps or temporary names leaking into model.json or the shards would all show here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from e2e.fixture_cases import REPO_ROOT

_CONVERT_ALL = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from e2e.fixture_cases import discover_cases
import tfjsconv
out = Path(sys.argv[1])
for case in discover_cases():
    tfjsconv.convert(str(case.source), str(out / case.case_id), **case.convert_options())
"""


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _convert_all(out: Path, hash_seed: str) -> None:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    result = subprocess.run([sys.executable, "-c", _CONVERT_ALL, str(out), str(REPO_ROOT / "tests")],
                            capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]


def test_every_fixture_converts_to_identical_bytes(tmp_path: Path) -> None:
    first, second = tmp_path / "seed0", tmp_path / "seed4242"
    _convert_all(first, "0")
    _convert_all(second, "4242")
    a, b = _tree(first), _tree(second)
    assert a.keys() == b.keys()
    differing = sorted(name for name in a if a[name] != b[name])
    assert not differing, f"{len(differing)} file(s) differ between hash seeds: {differing[:10]}"
    assert len({name.split("/", 1)[0] for name in a}) >= 80  # every fixture case really ran
