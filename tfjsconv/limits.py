"""Resource limits every reader checks *before* it allocates, and the conversion-wide strictness.

Model files come from anywhere.  A declared shape costs a few bytes to write and can ask for
terabytes, so every reader turns a declared shape into a byte count here first: the count is checked
against the bytes the file really holds (when the format stores them) and against a per-tensor cap
(``--max_tensor_bytes``).  Nested structures (JSON configs, function calls, graphs) have depth caps
so that no ``RecursionError`` or ``MemoryError`` reaches the user.

The settings live in a context variable that ``api.convert`` sets for the duration of one
conversion, so readers deep in a route need no extra parameter; outside a conversion the defaults
apply.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from .errors import InputError

DEFAULT_MAX_TENSOR_BYTES = 2 * 1024 ** 3
# Deeper than any real Keras config or SavedModel function nesting, far below Python's recursion limit.
MAX_NESTING = 100
# Nodes a graph may hold once function calls are inlined (a call tree can multiply its size).  Real
# models have thousands to tens of thousands; every node costs about 3 kB while converting.
DEFAULT_MAX_GRAPH_NODES = 500_000

PathLike = Union[str, Path, None]


@dataclass(frozen=True)
class Limits:
    max_tensor_bytes: int = DEFAULT_MAX_TENSOR_BYTES
    max_graph_nodes: int = DEFAULT_MAX_GRAPH_NODES
    strict: bool = False  # warnings that point at a user mistake (unmatched patterns) become errors


_CURRENT: contextvars.ContextVar[Limits] = contextvars.ContextVar("tfjsconv_limits", default=Limits())  # noqa: B039 (frozen)


def current() -> Limits:
    return _CURRENT.get()


@contextlib.contextmanager
def applied(limits: Limits) -> Iterator[Limits]:
    token = _CURRENT.set(limits)
    try:
        yield limits
    finally:
        _CURRENT.reset(token)


def human_bytes(size: int) -> str:
    if size < 1000:
        return f"{size} bytes"
    for unit, scale in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("PB", 1e15)):
        if size < scale * 1000 or unit == "PB":
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def element_count(shape: Iterable[Any], what: str, path: PathLike = None) -> int:
    """The number of elements of ``shape`` in exact integer arithmetic (numpy's int64 product wraps)."""
    dims = []
    for dim in shape:
        dim = int(dim)
        if dim < 0:
            raise InputError(f"{what} has a negative dimension in its shape {list(shape)}", path)
        if dim > 1 << 48:  # numpy refuses such a shape even when another dimension is 0
            raise InputError(f"{what} has a dimension of {dim} in its shape", path)
        dims.append(dim)
    nonzero = math.prod(d for d in dims if d)
    if nonzero > 1 << 48:  # numpy multiplies the other dimensions too, even when one is 0 (found by fuzzing)
        raise InputError(f"{what} has dimensions {list(shape)} whose product is too large for any array",
                         path)
    return math.prod(dims)


def check_tensor(shape: Iterable[Any], itemsize: int, what: str, path: PathLike = None,
                 available: Optional[int] = None) -> int:
    """Element count of ``shape`` after checking its size against the cap and the stored bytes.

    ``available`` is how many bytes the file holds for this tensor when the format stores them all
    (None when values may legitimately be implied, as TensorProto's repeated last value).
    """
    shape = tuple(shape)
    count = element_count(shape, what, path)
    nbytes = count * max(int(itemsize), 1)
    cap = current().max_tensor_bytes
    if nbytes > cap:
        raise InputError(f"{what} of {count} elements ({human_bytes(nbytes)}) exceeds the "
                         f"{human_bytes(cap)} limit per tensor (raise it with --max_tensor_bytes if "
                         "the model really holds such a tensor)", path)
    if available is not None and nbytes > available:
        raise InputError(f"{what} declares {count} elements ({nbytes} bytes) but only {available} bytes "
                         "are stored", path)
    return count


def check_graph_nodes(count: int, what: str, path: PathLike = None) -> None:
    cap = current().max_graph_nodes
    if count > cap:
        raise InputError(f"{what} has more than {cap} nodes; tfjsconv refuses graphs that large", path)


def check_nesting(obj: Any, what: str, path: PathLike = None, limit: int = MAX_NESTING) -> None:
    """Refuses parsed JSON nested deeper than ``limit`` (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(obj, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise InputError(f"{what} is nested more than {limit} levels deep", path)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def load_json(text: Union[str, bytes], what: str, path: PathLike = None,
              object_hook: Optional[Callable[[dict[str, Any]], Any]] = None) -> Any:
    """``json.loads`` whose syntax, depth and recursion failures are one-line InputErrors."""
    import json

    try:
        value = json.loads(text, object_hook=object_hook)
    except RecursionError:
        raise InputError(f"{what} is nested too deeply to parse", path) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} is not valid JSON ({exc})", path) from None
    check_nesting(value, what, path)
    return value
