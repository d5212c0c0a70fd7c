"""What the ``tfjsconv`` command does once its arguments are parsed, without the CLI library.

``entry.main`` runs a plain conversion through here directly (typer and click are only imported
for ``--help``, ``--version`` and command lines it cannot take as they are); ``cli.convert``, the
typer command, calls the same ``convert_command``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

from .cli_args import QUANTIZE_ALL
from .errors import ConverterError, OptionsError

INTERNAL_ERROR_EXIT = 70


def parse_metadata(spec: Optional[str]) -> dict[str, object]:
    """``key:path.json[,key2:path2.json]``; only the first ``:`` splits, so ``C:\\m.json`` works."""
    result: dict[str, object] = {}
    if not spec:
        return result
    for item in spec.split(","):
        key, sep, path = item.partition(":")
        if not sep or not key.strip() or not path.strip():
            raise OptionsError(f"--metadata entries look like key:path.json, not {item!r}")
        try:
            with open(path.strip(), encoding="utf-8") as handle:
                result[key.strip()] = json.load(handle)
        except OSError as exc:
            raise OptionsError(f"cannot read metadata file: {exc.strerror or exc}", path.strip()) from None
        except ValueError as exc:
            raise OptionsError(f"metadata file is not valid JSON: {exc}", path.strip()) from None
    return result


def quantize_flag(value: Optional[str]):
    if value is None:
        return None
    if value == QUANTIZE_ALL:
        return True
    patterns = tuple(p.strip() for p in value.split(",") if p.strip())
    return patterns or True


def human(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


def _input_bytes(path: str) -> Optional[int]:
    """Size of the input on disk (all files of a directory); None for a URL or when unreadable."""
    if "://" in path:
        return None
    try:
        root = Path(path)
        if root.is_file():
            return root.stat().st_size
        return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    except OSError:
        return None


def _summary_line(report: Any) -> str:
    """format, nodes or layers, weight bytes, shards, time - in one line."""
    summary = report.summary
    parts = []
    if summary.nodes is not None:
        parts.append(f"{summary.nodes} node{'s' if summary.nodes != 1 else ''}")
    if summary.layers is not None:
        parts.append(f"{summary.layers} layer{'s' if summary.layers != 1 else ''}")
    if report.output_format.startswith("tfjs_"):
        parts.append(f"{human(summary.weight_bytes)} of weights in {summary.shards} "
                     f"shard{'s' if summary.shards != 1 else ''}")
    else:
        parts.append(human(report.total_bytes))
    return (f"Converted {report.input_format} to {report.output_format} in {report.seconds:.2f} s: "
            f"{', '.join(parts)} -> {report.output_dir}")


# How to load what the routes back to TensorFlow write ({path}: the output).
_PYTHON_LOADERS = {
    "tf_saved_model": "tf.saved_model.load('{path}').signatures['serving_default']",
    "tf_frozen_model": "tf.compat.v1.import_graph_def (run 'init_all_tables' first if the graph has it) "
                       "on the GraphDef in '{path}'",
    "keras_keras": "keras.saving.load_model('{path}')",
    "keras_saved_model": "tf.keras.models.load_model('{path}') with tf-keras (TF_USE_LEGACY_KERAS=1)",
}


def quiet_h5py_cleanup(default: Callable[[Any], None]) -> Callable[[Any], None]:
    """h5py reports errors closing objects of a damaged file from ``__dealloc__`` as "Exception
    ignored" blocks on stderr; the reader has already refused the file in one line, so drop them."""
    def hook(unraisable: Any) -> None:
        if "h5py" not in repr(getattr(unraisable, "object", "")):
            default(unraisable)
    return hook


def _print_summary(report: Any) -> None:
    if report.format_detected:
        print(f"Detected input format: {report.input_format}")
    if report.output_format.startswith("tfjs_"):
        loader = "loadLayersModel" if report.output_format == "tfjs_layers_model" else "loadGraphModel"
        print(f"Load it in TF.js with: await tf.{loader}('<where you serve "
              f"{Path(report.output_dir).name}>/model.json')")
        if report.summary.async_ops:
            ops = ", ".join(report.summary.async_ops)
            print(f"Run it with: await model.executeAsync(inputs) (it has {ops}, "
                  "which model.execute() refuses)")
    elif report.output_format in _PYTHON_LOADERS:
        loading = _PYTHON_LOADERS[report.output_format].format(path=report.output_dir)
        print(f"Load it in Python with: {loading}")
    print(_summary_line(report))


def convert_command(input_path: str, output_path: str, *, quiet: bool = False,
                    quantize_float16: Optional[str] = None, quantize_uint8: Optional[str] = None,
                    quantize_uint16: Optional[str] = None, metadata: Optional[str] = None,
                    quantization_bytes: Optional[int] = None, **options: Any) -> None:
    """One conversion as the command runs it: progress bar, warnings, summary line."""
    from . import progress
    from .api import convert as run_conversion
    from .memory import return_freed_memory

    return_freed_memory()
    reporter = progress.Reporter(sys.stderr) if progress.wanted(_input_bytes(input_path), quiet) else None
    with progress.reporting(reporter):
        report = run_conversion(
            input_path,
            output_path,
            quantize_float16=quantize_flag(quantize_float16),
            quantize_uint8=quantize_flag(quantize_uint8),
            quantize_uint16=quantize_flag(quantize_uint16),
            quantization_bytes=quantization_bytes,
            metadata=parse_metadata(metadata),
            **options,
        )
    if quantization_bytes is not None:
        _err("warning: --quantization_bytes is deprecated; use --quantize_uint8 or --quantize_uint16")
    for warning in report.warnings:
        _err(f"warning: {warning}")
    if not quiet:
        _print_summary(report)


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def guarded(run: Callable[[], None]) -> None:
    """Runs a command: a user error is one line and its exit code, a bug one line and exit 70."""
    sys.unraisablehook = quiet_h5py_cleanup(sys.unraisablehook)
    try:
        run()
    except ConverterError as error:
        _err(f"tfjsconv: error: {error}")
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        _err("tfjsconv: interrupted; nothing was written")
        sys.exit(130)
    except Exception as error:  # noqa: BLE001  (a bug in tfjsconv)
        internal_error(error)
    sys.exit(0)


def internal_error(error: Exception) -> None:
    """A bug in tfjsconv: still one line, unless asked for the traceback."""
    if os.environ.get("TFJSCONV_DEBUG"):
        raise error
    _err(f"tfjsconv: internal error: {type(error).__name__}: {error} (nothing was written; "
         "set TFJSCONV_DEBUG=1 for a traceback and please report it)")
    sys.exit(INTERNAL_ERROR_EXIT)


__all__ = ["OptionsError", "convert_command", "guarded", "human", "parse_metadata", "quantize_flag"]
