"""Errors the converter raises on purpose.

Every one carries a single-line message for the user that names the offending file (when there is
one) and what is wrong with it.  The CLI prints ``str(error)`` and exits with ``error.exit_code``;
anything that is not a ``ConverterError`` is a bug in tfjsconv.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Optional, Union

PathLike = Union[str, Path]


class ConverterError(Exception):
    """Base class: a user-facing problem with the input, the options or the output location."""

    exit_code = 1

    def __init__(self, message: str, path: Optional[PathLike] = None) -> None:
        super().__init__(message)
        self.message = " ".join(str(message).split())  # always one line
        self.path = None if path is None else str(path)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InputError(ConverterError):
    """The input file is unreadable, corrupt or inconsistent."""

    exit_code = 2


class UnsupportedError(ConverterError):
    """The input is valid but uses something TF.js (or tfjsconv) cannot run."""

    exit_code = 3


class UnsupportedOpsError(UnsupportedError):
    """Ops that TF.js does not run, all of them at once: ``{op type: [node names]}``."""

    def __init__(self, ops: dict[str, list[str]], path: Optional[PathLike] = None, where: str = "") -> None:
        self.ops = {op: sorted(names) for op, names in sorted(ops.items())}
        listing = ", ".join(f"{op} ({len(names)} node{'s' if len(names) != 1 else ''})"
                            for op, names in self.ops.items())
        suffix = f" {where}" if where else ""
        super().__init__(f"unsupported ops{suffix}, TF.js 4.22 cannot run: {listing}"
                         " (use --skip_op_check to write the model anyway)", path)


class UnsupportedLayersError(UnsupportedError):
    """Keras layer classes tfjs-layers does not have, all of them at once."""

    def __init__(self, classes: Iterable[str], path: Optional[PathLike] = None, detail: str = "") -> None:
        self.classes = sorted(set(classes))
        extra = f"; {detail}" if detail else ""
        super().__init__("layer classes TF.js 4.22 (tfjs-layers) does not have: "
                         + ", ".join(self.classes) + extra, path)


class OptionsError(ConverterError):
    """A flag or option value is invalid or contradicts another."""

    exit_code = 4


class OutputError(ConverterError):
    """The output location cannot be written."""

    exit_code = 5
