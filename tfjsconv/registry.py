"""One registry type for every plug-in table (kernels, op handlers, layer lowerings, passes, routes...).

A registry maps a key (an op name, a Keras class, a (format, format) pair) to one entry. Entries are
added at import time by a decorator; a second registration of the same key is a programming error and
fails the import, instead of silently replacing the first. A failed lookup names the registry and
lists what it does know, so the message says what is supported.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Callable, Generic, Optional, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class DuplicateRegistrationError(RuntimeError):
    """Two plug-ins claimed the same key in one registry."""


class Registry(Generic[K, V]):
    """An import-time table of named entries that refuses duplicates."""

    def __init__(self, kind: str) -> None:
        self.kind = kind  # what an entry is, for messages: "kernel", "ONNX handler", ...
        self._entries: dict[K, V] = {}

    def add(self, key: K, entry: V) -> V:
        if key in self._entries:
            raise DuplicateRegistrationError(
                f"{self.kind} {key!r} registered twice ({_where(self._entries[key])} and {_where(entry)})"
            )
        self._entries[key] = entry
        return entry

    def register(self, *keys: K) -> Callable[[V], V]:
        """Decorator: ``@registry.register("AddV2", "Add")`` adds the decorated object under each key."""

        def decorate(entry: V) -> V:
            for key in keys:
                self.add(key, entry)
            return entry

        return decorate

    def get(self, key: K) -> Optional[V]:
        return self._entries.get(key)

    def lookup(self, key: K) -> V:
        """The entry for ``key``; a KeyError whose message lists the known keys."""
        try:
            return self._entries[key]
        except KeyError:
            raise KeyError(f"no {self.kind} for {key!r}; known: {self.known_text()}") from None

    def known_text(self, limit: int = 40) -> str:
        names = sorted(str(k) for k in self._entries)
        more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
        return ", ".join(names[:limit]) + more

    def keys(self) -> frozenset[K]:
        return frozenset(self._entries)

    def items(self) -> Iterator[tuple[K, V]]:
        return iter(list(self._entries.items()))

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)


def _where(entry: object) -> str:
    module = getattr(entry, "__module__", None)
    name = getattr(entry, "__qualname__", None) or type(entry).__name__
    return f"{module}.{name}" if module else str(name)
