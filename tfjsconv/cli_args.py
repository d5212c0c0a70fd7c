"""Normalizes a tensorflowjs_converter-style command line before typer parses it.

The official converter's spelling is accepted as is, without copying its bugs:
- boolean flags take ``--flag``, ``--flag=true|false`` or ``--flag true|false`` (the official
  ``type=bool`` makes ``--flag=False`` turn the flag on);
- ``--quantize_*`` without ``=`` takes the next word as weight-name patterns only when two positional
  paths remain without it, so ``--quantize_uint8 in out`` quantizes everything instead of swallowing
  ``in``;
- arguments are never re-split on spaces, so paths with spaces work.
"""

from __future__ import annotations

from typing import Optional

from .errors import OptionsError

BOOL_FLAGS = (
    "split_weights_by_layer",
    "skip_op_check",
    "strip_debug_ops",
    "use_structured_outputs_names",
    "control_flow_v2",
    "experiments",
    "strict",
    "quiet",
)
QUANTIZE_FLAGS = ("quantize_float16", "quantize_uint8", "quantize_uint16")
VALUE_FLAGS = (
    "input_format",
    "output_format",
    "signature_name",
    "saved_model_tags",
    "quantization_bytes",
    "weight_shard_size_bytes",
    "output_node_names",
    "metadata",
    "max_tensor_bytes",
)
_TRUE = ("true", "1", "yes", "on", "t", "y")
_FALSE = ("false", "0", "no", "off", "f", "n")
# Passing an empty value tells the typer layer "the bare flag": every weight (fallthrough).
QUANTIZE_ALL = ""


def _flag_name(token: str) -> Optional[str]:
    if not token.startswith("--"):
        return None
    return token[2:].split("=", 1)[0].replace("-", "_")


def _parse_bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise OptionsError(f"--{name} takes true or false, not {text!r}")


def normalize_argv(argv: list[str]) -> list[str]:
    """Rewrites ``argv`` (without the program name) into the canonical form the typer app parses."""
    # Pass 1: classify tokens.  Ambiguous ones (a word after a bare quantize flag or a bool flag)
    # are decided in pass 2, once we know how many positional paths there are.
    items: list[list] = []  # [kind, name, value] kind: pos | opt | bool | quant | ambig
    i = 0
    only_positionals = False
    while i < len(argv):
        token = argv[i]
        name = None if only_positionals else _flag_name(token)
        if token == "--" and not only_positionals:
            only_positionals = True
        elif name is None or token == "--":
            items.append(["pos", None, token])
        elif name in BOOL_FLAGS or (name.startswith("no_") and name[3:] in BOOL_FLAGS):
            if "=" in token:
                if name.startswith("no_"):
                    raise OptionsError(f"--{name} takes no value")
                items.append(["bool", name, _parse_bool(name, token.split("=", 1)[1])])
            else:
                negated = name.startswith("no_")
                items.append(["bool", name[3:] if negated else name, not negated])
                nxt = argv[i + 1] if i + 1 < len(argv) else None
                if not negated and nxt is not None and nxt.strip().lower() in _TRUE + _FALSE:
                    items.append(["ambig_bool", name, nxt])
                    i += 1
        elif name in QUANTIZE_FLAGS:
            if "=" in token:
                items.append(["quant", name, token.split("=", 1)[1]])
            else:
                items.append(["quant", name, QUANTIZE_ALL])
                nxt = argv[i + 1] if i + 1 < len(argv) else None
                if nxt is not None and not nxt.startswith("-"):
                    items.append(["ambig_quant", name, nxt])
                    i += 1
        elif name in VALUE_FLAGS:
            if "=" in token:
                items.append(["opt", name, token.split("=", 1)[1]])
            else:
                if i + 1 >= len(argv):
                    raise OptionsError(f"--{name} needs a value")
                items.append(["opt", name, argv[i + 1]])
                i += 1
        else:
            items.append(["raw", None, token])  # --help, --version, unknown: typer reports those
        i += 1

    positionals = sum(1 for kind, _, _ in items if kind == "pos")
    if items and items[0] == ["pos", None, "convert"]:
        positionals -= 1
    missing = max(0, 2 - positionals)
    out: list[str] = []
    for index, (kind, name, value) in enumerate(items):
        if kind in ("ambig_quant", "ambig_bool") and missing > 0:
            out.append(value)  # it was a path after all
            missing -= 1
            continue
        if kind == "ambig_quant":
            previous = items[index - 1]
            previous[2] = value
            out[-1] = f"--{name}={value}"
        elif kind == "ambig_bool":
            out[-1] = f"--{name}" if _parse_bool(name, value) else f"--no-{name}"
        elif kind == "pos" or kind == "raw":
            out.append(value)
        elif kind == "bool":
            out.append(f"--{name}" if value else f"--no-{name}")
        elif kind == "quant":
            out.append(f"--{name}={value}")
        else:
            out.append(f"--{name}={value}")
    return out
