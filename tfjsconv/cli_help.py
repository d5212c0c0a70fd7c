"""``tfjsconv --help`` and ``--version`` without the CLI library.

Importing typer and click takes longer than the whole answer should (issue 10 asks for 0.08 s), so the
two commonest no-work invocations print a stored text instead.  ``ROOT_HELP`` is exactly what the typer
app prints for ``tfjsconv --help`` at click's default width; tests/cli/test_cli_help.py renders the app
and fails when the two differ (after an edit to ``cli.py``, paste the new text here).  Where click would
wrap differently (a terminal narrower than 80 columns) the typer app answers as before.
"""

from __future__ import annotations

import os
import sys

from .version import __version__

TYPE_CHECKING = False  # typing itself is a few milliseconds of the budget
if TYPE_CHECKING:
    from typing import Optional

# click's HelpFormatter width: terminal columns clamped to 80, minus 2 (at least 50).
HELP_WIDTH = 78

ROOT_HELP = """\
Usage: tfjsconv [OPTIONS] COMMAND [ARGS]...

  Convert TensorFlow, Keras and ONNX models to TensorFlow.js, without
  TensorFlow. Flags take the official tensorflowjs_converter spelling
  (--input_format) or a dashed one (--input-format).

Options:
  -v, --version  Print the version and exit.
  --help         Show this message and exit.

Commands:
  convert  Convert INPUT_PATH into a TensorFlow.js model in OUTPUT_PATH.
"""


def terminal_columns() -> int:
    """``shutil.get_terminal_size().columns`` (what click wraps help to), without importing shutil."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
        columns = columns or 80
    return columns


def click_width(columns: int) -> int:
    return max(min(columns, 80) - 2, 50)


def stored_answer(args: list[str]) -> Optional[str]:
    """What ``tfjsconv ARGS`` prints when that needs no parsing at all, else None (the typer app)."""
    if args in (["--version"], ["-v"]):
        return f"tfjsconv {__version__}\n"
    if args == ["--help"] and click_width(terminal_columns()) == HELP_WIDTH:
        return ROOT_HELP
    return None
