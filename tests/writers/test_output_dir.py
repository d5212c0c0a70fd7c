"""Atomic placement of converted models: all or nothing, servable permissions, existing outputs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tfjsconv.errors import OutputError
from tfjsconv.writers.output_dir import atomic_output_dir, atomic_output_file


def test_directory_appears_only_on_success_with_plain_permissions(tmp_path: Path) -> None:
    out = tmp_path / "web"
    with atomic_output_dir(out) as staging:
        (staging / "model.json").write_text("{}")
        assert not out.exists()
    mode = stat.S_IMODE(out.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o777 & ~umask
    assert (out / "model.json").read_text() == "{}"


def test_failure_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "web"
    with pytest.raises(ValueError), atomic_output_dir(out) as staging:
        (staging / "model.json").write_text("{}")
        raise ValueError("conversion failed")
    assert list(tmp_path.iterdir()) == []


def test_single_file_output_replaces_existing_file(tmp_path: Path) -> None:
    out = tmp_path / "model.h5"
    out.write_bytes(b"old")
    with atomic_output_file(out) as staging:
        (staging / "model.h5").write_bytes(b"new")
    assert out.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.h5"]


def test_single_file_output_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="single file"), atomic_output_file(tmp_path):
        pass
