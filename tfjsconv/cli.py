"""Command line: ``tfjsconv [convert] INPUT OUTPUT [--flags]`` with tensorflowjs_converter's flags.

Every flag has the official underscore spelling (``--input_format=keras``) and a dashed one
(``--input-format keras``); see ``cli_args`` for how the official parser's bugs are avoided.
"""

from __future__ import annotations

import sys
from typing import Any, Optional

import typer

from .cli_args import normalize_argv
from .cli_run import convert_command, internal_error, parse_metadata, quiet_h5py_cleanup
from .errors import ConverterError, OptionsError
from .version import __version__

__all__ = ["app", "main", "parse_metadata"]

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    no_args_is_help=True,
    help="Convert TensorFlow, Keras and ONNX models to TensorFlow.js, without TensorFlow. "
    "Flags take the official tensorflowjs_converter spelling (--input_format) or a dashed one "
    "(--input-format).",
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"tfjsconv {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", "-v", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    pass


# Filled in from the route registry when help is shown (see _describe_output_formats), so that it
# names exactly the formats some route writes without importing every route at start-up.
_OUTPUT_FORMAT_HELP = "Output format (default: by input format)."


def _describe_output_formats(command: Any) -> None:
    from .routes import supported_pairs

    pairs = supported_pairs()
    listing = "; ".join(f"{src} -> {', '.join(o for i, o in pairs if i == src)}"
                        for src in sorted({i for i, _ in pairs}))
    text = f"{_OUTPUT_FORMAT_HELP} Routes: {listing}."
    for sub in getattr(command, "commands", {}).values():
        for param in sub.params:
            if "--output_format" in getattr(param, "opts", ()):
                param.help = text


def _is_usage_error(error: BaseException) -> bool:
    # The CLI library's own argument errors (click's UsageError, vendored by new typer releases).
    return any(cls.__name__ == "UsageError" for cls in type(error).__mro__) and hasattr(error,
                                                                                         "format_message")


@app.command()
def convert(
    input_path: str = typer.Argument(..., help="Model to convert: .h5/.keras file, SavedModel or hub "
                                     "directory, frozen .pb, .onnx, or an http(s) TF Hub handle."),
    output_path: str = typer.Argument(..., help="Directory to write model.json and weight shards into."),
    input_format: Optional[str] = typer.Option(None, "--input_format", help="keras, keras_keras, "
                                               "tf_saved_model, tf_hub, tf_frozen_model, onnx, ... "
                                               "Detected from the input when omitted."),
    output_format: Optional[str] = typer.Option(None, "--output_format", help=_OUTPUT_FORMAT_HELP),
    signature_name: Optional[str] = typer.Option(None, "--signature_name", help="SignatureDef key "
                                                 "(default serving_default; TF Hub: default)."),
    saved_model_tags: str = typer.Option("serve", "--saved_model_tags", help="Comma-separated "
                                         "MetaGraph tags; '' for none."),
    quantize_float16: Optional[str] = typer.Option(None, "--quantize_float16", help="Quantize weights "
                                                   "to float16: all (bare flag) or comma-separated "
                                                   "name patterns (--quantize_float16='dense/*')."),
    quantize_uint8: Optional[str] = typer.Option(None, "--quantize_uint8", help="Affine uint8 "
                                                 "quantization: all or name patterns."),
    quantize_uint16: Optional[str] = typer.Option(None, "--quantize_uint16", help="Affine uint16 "
                                                  "quantization: all or name patterns."),
    quantization_bytes: Optional[int] = typer.Option(None, "--quantization_bytes", help="Deprecated: "
                                                     "1 = uint8, 2 = uint16 for all weights."),
    split_weights_by_layer: bool = typer.Option(False, "--split_weights_by_layer/--no-split_weights_by_layer",
                                                help="One weight group per layer (Keras input)."),
    skip_op_check: bool = typer.Option(False, "--skip_op_check/--no-skip_op_check",
                                       help="Write the model even if TF.js lacks some of its ops."),
    strip_debug_ops: bool = typer.Option(True, "--strip_debug_ops/--no-strip_debug_ops",
                                         help="Remove Assert, CheckNumerics and Print."),
    use_structured_outputs_names: bool = typer.Option(
        False, "--use_structured_outputs_names/--no-use_structured_outputs_names",
        help="Record dict output keys in userDefinedMetadata.structuredOutputKeys."),
    weight_shard_size_bytes: Optional[int] = typer.Option(None, "--weight_shard_size_bytes",
                                                          help="Shard size (default 4194304)."),
    output_node_names: Optional[str] = typer.Option(None, "--output_node_names", help="Comma-separated "
                                                    "output nodes (required for tf_frozen_model)."),
    control_flow_v2: bool = typer.Option(False, "--control_flow_v2/--no-control_flow_v2",
                                         help="Functional control flow (While/If), which TF graphs "
                                         "always keep; Keras recurrent layers become While loops of one "
                                         "step per iteration (the smallest graph) even when short."),
    experiments: bool = typer.Option(False, "--experiments/--no-experiments",
                                     help="Accepted for compatibility; no effect."),
    metadata: Optional[str] = typer.Option(None, "--metadata", help="key:path.json[,key2:path2.json] "
                                           "stored in userDefinedMetadata."),
    max_tensor_bytes: Optional[int] = typer.Option(None, "--max_tensor_bytes", help="Refuse any tensor "
                                                   "larger than this many bytes (default 2147483648); "
                                                   "checked before anything is allocated."),
    strict: bool = typer.Option(False, "--strict/--no-strict", help="Quantization patterns that match "
                                "no weight are errors instead of warnings."),
    quiet: bool = typer.Option(False, "--quiet/--no-quiet", "-q", help="Print nothing but warnings and "
                               "errors (no progress bar, no summary)."),
) -> None:
    """Convert INPUT_PATH into a TensorFlow.js model in OUTPUT_PATH."""
    convert_command(input_path, output_path, input_format=input_format, output_format=output_format,
                    signature_name=signature_name, saved_model_tags=saved_model_tags,
                    quantize_float16=quantize_float16, quantize_uint8=quantize_uint8,
                    quantize_uint16=quantize_uint16, quantization_bytes=quantization_bytes,
                    split_weights_by_layer=split_weights_by_layer, skip_op_check=skip_op_check,
                    strip_debug_ops=strip_debug_ops,
                    use_structured_outputs_names=use_structured_outputs_names,
                    weight_shard_size_bytes=weight_shard_size_bytes, output_node_names=output_node_names,
                    control_flow_v2=control_flow_v2, experiments=experiments, metadata=metadata,
                    max_tensor_bytes=max_tensor_bytes, strict=strict, quiet=quiet)


def main(argv: Optional[list[str]] = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    sys.unraisablehook = quiet_h5py_cleanup(sys.unraisablehook)
    try:
        args = normalize_argv(args)
        # tensorflowjs_converter has no subcommand: `tfjsconv IN OUT --flags` means convert.
        if args and not args[0].startswith("-") and args[0] != "convert":
            args.insert(0, "convert")
        elif args and args[0].startswith("-") and args[0] not in ("--help", "-h", "--version", "-v"):
            args.insert(0, "convert")
        command = typer.main.get_command(app)
        if any(a in ("--help", "-h") for a in args):
            _describe_output_formats(command)
        code = command.main(args=args, prog_name="tfjsconv", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except ConverterError as error:
        typer.echo(f"tfjsconv: error: {error}", err=True)
        sys.exit(error.exit_code)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        typer.echo("tfjsconv: interrupted; nothing was written", err=True)
        sys.exit(130)
    except typer.Abort:  # the CLI library's form of Ctrl-C
        typer.echo("tfjsconv: interrupted; nothing was written", err=True)
        sys.exit(130)
    except Exception as error:
        if not _is_usage_error(error):
            internal_error(error)
        if type(error).__name__ == "NoArgsIsHelpError":  # bare `tfjsconv`: the message is the help text
            typer.echo(error.format_message())  # type: ignore[attr-defined]
        else:
            message = " ".join(error.format_message().split())  # type: ignore[attr-defined]
            typer.echo(f"tfjsconv: error: {message} (see tfjsconv convert --help)", err=True)
        sys.exit(OptionsError.exit_code)
