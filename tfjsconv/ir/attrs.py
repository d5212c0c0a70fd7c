"""Attribute conventions shared by readers, passes and writers."""

from __future__ import annotations

from typing import Any

# A Placeholder standing for a TF hash table carries the table's shared name under this attr; the
# graph-model writer turns it into the model.json resource id (readers set it, writers read it).
RESOURCE_KEY_ATTR = "_resource_key"


def attr_text(value: Any) -> str:
    """A string attr as text: the IR keeps TF ``s`` attrs as bytes (UTF-8), a few readers store str;
    an absent attr (None) is ""."""
    if value is None:
        return ""
    # errors="replace": found by fuzzing, a non-UTF-8 fused_ops entry; the replaced text then matches
    # no known value, so the attr is treated as the unknown value it is.
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
