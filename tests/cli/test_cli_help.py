"""``tfjsconv --help`` / ``--version`` answered from stored texts: the same bytes as the typer app prints."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cli_checks import ROOT

from tfjsconv import cli_help

_TYPER = "import sys; from tfjsconv import cli; cli.main(sys.argv[1:])"
_ENTRY = "import sys; from tfjsconv.entry import main; main(sys.argv[1:])"
# Runs the entry point with stdout captured, then reports which heavy modules it imported.
_ENTRY_IMPORTS = (
    "import io, sys, contextlib\nfrom tfjsconv.entry import main\nout = io.StringIO()\n"
    "with contextlib.redirect_stdout(out):\n    main(sys.argv[1:])\n"
    "print(sorted(m for m in ('typer', 'click', 'numpy', 'h5py', 'google.protobuf', 'onnx',"
    " 'tfjsconv.errors', 'tfjsconv.cli_args') if m in sys.modules))"
)


def _run(code: str, *args: str, columns: str = "80") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["COLUMNS"] = columns
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    return result


def test_stored_help_is_what_the_typer_app_prints() -> None:
    rendered = _run(_TYPER, "--help").stdout
    # On a mismatch after an edit to cli.py: paste `rendered` into cli_help.ROOT_HELP.
    assert rendered == cli_help.ROOT_HELP
    assert _run(_ENTRY, "--help").stdout == rendered


@pytest.mark.parametrize("flag", ["--version", "-v"])
def test_stored_version_is_what_the_typer_app_prints(flag: str) -> None:
    rendered = _run(_TYPER, flag).stdout
    assert rendered.startswith("tfjsconv 0.")
    assert _run(_ENTRY, flag).stdout == rendered


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_import_no_library(args: list[str]) -> None:
    assert _run(_ENTRY_IMPORTS, *args).stdout.strip() == "[]"


def test_a_narrow_terminal_gets_the_typer_apps_wrapping() -> None:
    # click wraps to 48 columns here; the stored text (78) must not be used.
    rendered = _run(_TYPER, "--help", columns="50").stdout
    assert rendered != cli_help.ROOT_HELP
    assert _run(_ENTRY, "--help", columns="50").stdout == rendered


@pytest.mark.parametrize(("columns", "width"), [(200, 78), (80, 78), (79, 77), (40, 50)])
def test_click_width(columns: int, width: int) -> None:
    assert cli_help.click_width(columns) == width


def test_other_arguments_are_left_to_the_typer_app() -> None:
    for args in (["convert", "--help"], ["--help", "x"], ["-h"], [], ["in.h5", "out"]):
        assert cli_help.stored_answer(args) is None
