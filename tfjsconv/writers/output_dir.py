"""Atomic output: conversions write into a temporary directory that only a success moves into place.

The temporary directory is a sibling of the output so that the final step is a rename on the same
file system.  When the output directory already exists (a re-conversion into the same place, as the
official converter allows), the new files replace same-named ones and weight shards that the previous
model.json listed but the new one does not are removed; nothing else in that directory is touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

from ..errors import OutputError


def _writable_parent(output: Path) -> Path:
    parent = output.parent
    # Create missing ancestors (as the official converter does), but report failures as one line.
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputError(f"cannot create the output's parent directory: {reason}", output) from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError("the output location is not writable", parent)
    return parent


def _shards_listed(model_json: Path) -> set[str]:
    try:
        manifest = json.loads(model_json.read_text(encoding="utf-8")).get("weightsManifest") or []
        return {p for group in manifest for p in group.get("paths", []) if "/" not in p and "\\" not in p}
    except (OSError, ValueError, AttributeError):
        return set()


def _move_into_existing(staging: Path, output: Path) -> None:
    stale = _shards_listed(output / "model.json")
    new_names = {p.name for p in staging.iterdir()}
    for entry in staging.iterdir():
        target = output / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(entry, target)
    for name in stale - new_names:
        with contextlib.suppress(FileNotFoundError):
            (output / name).unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _staged(output: Path, place: Callable[[Path, Path], None]) -> Iterator[Path]:
    """Yields an empty sibling directory of ``output``; ``place(staging, output)`` runs on success,
    and the staging directory is gone afterwards either way."""
    parent = _writable_parent(output)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.tfjsconv-", dir=parent))
    except OSError as exc:
        raise OutputError(f"cannot write the output: {exc.strerror or exc}", output) from None
    try:
        yield staging
        try:
            place(staging, output)
        except OSError as exc:
            raise OutputError(f"cannot move the converted model into place: {exc.strerror or exc}",
                              output) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _place_dir(staging: Path, output: Path) -> None:
    # mkdtemp makes the directory private (0700); the model is meant to be served, so give it the
    # permissions a plain mkdir would have.
    os.chmod(staging, 0o777 & ~_umask())
    if output.is_dir():
        _move_into_existing(staging, output)
    else:
        os.replace(staging, output)


def _place_file(staging: Path, output: Path) -> None:
    written = [entry for entry in staging.iterdir() if entry.is_file()]
    if len(written) != 1:  # a route bug, not a user error
        raise RuntimeError(f"expected one output file, the route wrote {len(written)}")
    os.replace(written[0], output)


def atomic_output_dir(output: Path | str) -> contextlib.AbstractContextManager[Path]:
    """A directory output (model.json + shards) that appears only if the conversion succeeds."""
    output = Path(output).absolute()
    if output.exists() and not output.is_dir():
        raise OutputError("the output path exists and is not a directory", output)
    return _staged(output, _place_dir)


def atomic_output_file(output: Path | str) -> contextlib.AbstractContextManager[Path]:
    """A single-file output: the route writes one file into the staging directory, which then
    replaces ``output`` (an existing file included); on failure nothing changes."""
    output = Path(output).absolute()
    if output.is_dir():
        raise OutputError("the output path is a directory, but this output format is a single file", output)
    return _staged(output, _place_file)
