"""The ``tfjsconv`` command's entry point: a plain conversion starts without the CLI library.

``cli_args.normalize_argv`` already turns every official spelling into one canonical form
(``--flag=value``, ``--flag`` / ``--no-flag``, two paths).  When that form holds only known flags with
valid values, the conversion runs straight away (``cli_run``); anything else - ``--help``,
``--version``, an unknown flag, a bad number, a missing path - goes to the typer app (``cli``),
which prints the help or the usage error.  Importing typer and click costs more than the
conversion of a small model.  ``tfjsconv --help`` and ``--version`` print stored texts
(``cli_help``) before anything else is imported.
"""

from __future__ import annotations

import sys

from .cli_help import stored_answer

# Nothing else is imported at module level: `tfjsconv --help` prints a stored text before
# cli_args/errors (and the pathlib and typing they pull in) load.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

_INT_FLAGS = ("quantization_bytes", "weight_shard_size_bytes", "max_tensor_bytes")
_STR_FLAGS = ("input_format", "output_format", "signature_name", "saved_model_tags", "output_node_names",
              "metadata")


def defaults() -> dict[str, Any]:
    """The typer command's defaults (tests/cli/test_entry.py checks them against it)."""
    from .cli_args import BOOL_FLAGS, QUANTIZE_FLAGS

    values: dict[str, Any] = {name: False for name in BOOL_FLAGS}
    values.update({name: None for name in (*QUANTIZE_FLAGS, *_INT_FLAGS, *_STR_FLAGS)})
    values.update(saved_model_tags="serve", strip_debug_ops=True)
    return values


def fast_arguments(args: list[str]) -> Optional[tuple[str, str, dict[str, Any]]]:
    """(input, output, options) of a canonical command line, or None to let the typer app parse it."""
    from .cli_args import BOOL_FLAGS, QUANTIZE_FLAGS

    if args[:1] == ["convert"]:
        args = args[1:]
    paths: list[str] = []
    options = defaults()
    for token in args:
        if not token.startswith("-") or token == "-":
            paths.append(token)
            continue
        name, sep, value = token[2:].partition("=")
        if not token.startswith("--"):
            return None
        if not sep:
            negated = name.startswith("no-")
            flag = name[3:] if negated else name
            if flag not in BOOL_FLAGS:
                return None
            options[flag] = not negated
        elif name in QUANTIZE_FLAGS or name in _STR_FLAGS:
            options[name] = value
        elif name in _INT_FLAGS:
            try:
                options[name] = int(value)
            except ValueError:
                return None  # typer words the error
        else:
            return None
    if len(paths) != 2:
        return None
    return paths[0], paths[1], options


def main(argv: Optional[list[str]] = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    answer = stored_answer(args)
    if answer is not None:
        sys.stdout.write(answer)
        sys.stdout.flush()
        return
    from .cli_args import normalize_argv
    from .errors import ConverterError

    try:
        canonical = normalize_argv(args)
    except ConverterError:
        canonical = None  # the typer path reports it, exactly as it always did
    parsed = fast_arguments(canonical) if canonical else None
    if parsed is None:
        from .cli import main as typer_main

        typer_main(args)
        return
    if argv is None:
        _single_blas_thread()
    from .cli_run import convert_command, guarded

    source, target, options = parsed
    try:
        guarded(lambda: convert_command(source, target, **options))
    except SystemExit as stop:
        if argv is None and stop.code == 0:
            _exit_now()
        raise


def _single_blas_thread() -> None:
    """Asks numpy's OpenBLAS for one thread, unless the user chose a number.

    At import, OpenBLAS starts a worker per core that spins while idle; on a 2-core machine that
    made a small conversion take ~175 ms of wall time instead of ~145 ms (the spinning thread competes
    with the conversion).  The conversion does no BLAS work worth a second thread: its numpy work is
    elementwise (folding, quantizing) or small kernel products.  Only for the command itself, before
    numpy is imported; a Python caller keeps its own setting.
    """
    import os

    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _exit_now() -> None:
    """Ends the command after a successful conversion without the interpreter's teardown.

    Unloading numpy, h5py and protobuf module by module takes ~25 ms of CPU, a sixth of a small
    conversion.  By now every output file is written and closed (the writers use ``with``; inputs are
    only read), so the only buffers left are stdout's and stderr's.  Used only when the process is the
    ``tfjsconv`` command itself (``main()`` without arguments), never for a caller in Python.
    """
    import os

    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # started with the descriptor closed: print() wrote nothing to it
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            return  # a closed or broken stream: let the normal exit report it
    os._exit(0)
