"""The Python API: ``tfjsconv.convert(input_path, output_dir, **options) -> Report``."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Union

from . import progress
from .detect import DEFAULT_OUTPUT, detect_format, format_hint, is_url
from .errors import InputError, OptionsError, OutputError, UnsupportedError
from .limits import DEFAULT_MAX_TENSOR_BYTES, Limits, applied
from .options import ConvertOptions
from .routes import RouteContext, find_route, input_formats, output_formats
from .writers.output_dir import atomic_output_dir, atomic_output_file
from .writers.summary import Summary, summarize

_GRAPH_INPUTS = ("tf_saved_model", "tf_hub")
_FILE_OUTPUTS = ("keras", "keras_keras", "tf_frozen_model")  # one file (.h5, .keras, .pb), not a directory


@dataclass(frozen=True)
class Report:
    """What a conversion did."""

    input_path: str
    input_format: str
    format_detected: bool  # True when --input_format was not given
    output_format: str
    output_dir: Path
    files: tuple[tuple[str, int], ...]  # (file name, bytes), model.json first
    warnings: tuple[str, ...] = field(default_factory=tuple)
    summary: Summary = field(default_factory=Summary)  # nodes or layers, weight bytes, shards
    seconds: float = 0.0  # wall time of the conversion

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


def _options_from(kwargs: dict[str, Any]) -> ConvertOptions:
    known = {f.name for f in dataclasses.fields(ConvertOptions)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise OptionsError(f"unknown option(s): {', '.join(unknown)}")
    return ConvertOptions(**kwargs)


def _check_name(kind: str, name: str, known: list[str]) -> None:
    """An unknown format name: the valid ones, and the nearest when it looks like a typo."""
    if name in known:
        return
    import difflib  # only when a name is wrong

    nearest = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {nearest[0]}?" if nearest else ""
    raise OptionsError(f"unknown {kind} format {name!r} (valid: {', '.join(known)}){hint}")


def _validate(options: ConvertOptions, input_format: str, output_format: str) -> None:
    _check_name("output", output_format, output_formats())
    limit = options.max_tensor_bytes
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise OptionsError(f"--max_tensor_bytes must be a positive integer, not {limit!r}")
    if options.signature_name is not None and input_format not in _GRAPH_INPUTS \
            and (input_format, output_format) != ("tfjs_graph_model", "tf_saved_model"):
        raise OptionsError("--signature_name is only valid with --input_format tf_saved_model or tf_hub, "
                           "or to name the signature of a tf_saved_model output")
    if input_format == "tf_frozen_model" and not (options.output_node_names or "").strip():
        raise OptionsError("--output_node_names is required for --input_format tf_frozen_model")
    size = options.weight_shard_size_bytes
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise OptionsError(f"--weight_shard_size_bytes must be a positive integer, not {size!r}")
        if output_format not in ("tfjs_layers_model", "tfjs_graph_model"):
            hint = (" (add --output_format tfjs_layers_model to re-shard a layers model)"
                    if input_format == "tfjs_layers_model" else "")
            raise OptionsError("--weight_shard_size_bytes only applies to tfjs_layers_model and "
                               f"tfjs_graph_model output{hint}")
    if options.control_flow_v2 and output_format != "tfjs_graph_model":
        raise OptionsError("--control_flow_v2 only applies to tfjs_graph_model output")
    options.quantization_map()  # raises on contradictory quantization flags


def _normalize_input(input_path: str, input_format: str) -> str:
    path = Path(input_path)
    # Users often point at the saved_model.pb file itself; the reader wants its directory.
    if input_format in _GRAPH_INPUTS and path.name in ("saved_model.pb", "saved_model.pbtxt"):
        return str(path.parent)
    return input_path


def _listing(output_dir: Path) -> tuple[tuple[str, int], ...]:
    files = sorted((p.name, p.stat().st_size) for p in output_dir.iterdir() if p.is_file())
    files.sort(key=lambda item: item[0] != "model.json")
    return tuple(files)


def _run(route: Callable[[RouteContext], None], ctx: RouteContext, source: str) -> None:
    """Runs a route; exhausting the stack or memory is a property of the input, said in one line."""
    try:
        route(ctx)
    except (InputError, UnsupportedError) as error:
        if error.path is None:  # raised deep in a reader that only knew a node or tensor name
            error.path = source
        raise
    except RecursionError:
        raise InputError("the model is nested too deeply to convert (structures or calls more than a "
                         "few hundred levels deep)", source) from None
    except MemoryError:
        raise InputError("ran out of memory reading the model; a tensor or structure is larger than "
                         "this machine can hold (see --max_tensor_bytes)", source) from None


def convert(input_path: Union[str, Path], output_dir: Union[str, Path], **options: Any) -> Report:
    """Converts one model.  Raises ``ConverterError`` subclasses for anything the user must fix.

    ``options`` are the fields of ``ConvertOptions`` (the official converter's flags, snake_case).
    Nothing is written unless the whole conversion succeeds; the input is only ever read.
    """
    started = time.perf_counter()
    opts = _options_from(options)
    source = str(input_path)
    detected = opts.input_format is None
    if not detected:
        _check_name("input", str(opts.input_format), input_formats())
    input_format = detect_format(source) if detected else str(opts.input_format)
    if not is_url(source) and not Path(source).exists():
        raise InputError("no such file or directory", source)
    output_format = opts.output_format or DEFAULT_OUTPUT.get(input_format)
    if output_format is None:
        raise OptionsError(f"--output_format is required for --input_format {input_format}")
    _validate(opts, input_format, output_format)
    opts = dataclasses.replace(opts, input_format=input_format, output_format=output_format)
    route = find_route(input_format, output_format)
    source = _normalize_input(source, input_format)
    out = Path(output_dir)
    if not is_url(source) and Path(source).resolve() == out.resolve():
        raise OutputError("the output directory is the input itself; choose another output path", out)
    place = atomic_output_file if output_format in _FILE_OUTPUTS else atomic_output_dir
    limits = Limits(max_tensor_bytes=opts.max_tensor_bytes or DEFAULT_MAX_TENSOR_BYTES, strict=opts.strict)
    with applied(limits), place(out) as staging:
        ctx = RouteContext(Path(source) if not is_url(source) else Path(), staging, opts, source=source)
        if detected:
            hint = format_hint(source, input_format)
            if hint:
                ctx.warn(hint)
        progress.stage("reading")
        _run(route, ctx, source)
        files = _listing(staging)
        summary = summarize(staging)
    if output_format in _FILE_OUTPUTS:
        files = tuple((out.name, size) for _, size in files)
    return Report(source, input_format, detected, output_format, out.absolute(), files, tuple(ctx.warnings),
                  summary, time.perf_counter() - started)
