"""What TF.js 4.22 can run: the op table generated from tfjs-converter's own op lists.

``tfjs_ops.json`` is generated, never edited by hand.  Regenerate it after a TF.js upgrade with::

    node tfjsconv/ops/gen_tfjs_ops.mjs tests/js/node_modules/@tensorflow/tfjs-converter \\
        > tfjsconv/ops/tfjs_ops.json

Each entry mirrors one ``op_list`` entry of the JS runtime (inputs, attrs with their TF names,
types, defaults and ``notSupported`` flags).  ``mapped`` is false for the lists that
``operation_mapper`` does not import (ragged, TF-DF): those ops parse but fail when executed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

TABLE_PATH = Path(__file__).with_name("tfjs_ops.json")


@dataclass(frozen=True)
class AttrInfo:
    tf_name: str
    js_name: str
    type: str
    default: Any = None
    not_supported: bool = False


@dataclass(frozen=True)
class InputInfo:
    name: str
    type: str  # "tensor", "tensors" (variadic from start to end), "number", ...
    start: int
    end: Optional[int] = None


@dataclass(frozen=True)
class OpInfo:
    name: str
    category: str
    mapped: bool
    inputs: tuple[InputInfo, ...]
    attrs: tuple[AttrInfo, ...]

    def attr(self, tf_name: str) -> Optional[AttrInfo]:
        for a in self.attrs:
            if a.tf_name == tf_name:
                return a
        return None


@lru_cache(maxsize=1)
def _table() -> dict[str, OpInfo]:
    raw = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    table: dict[str, OpInfo] = {}
    for name, entry in raw["ops"].items():
        inputs = tuple(InputInfo(i["name"], i["type"], i["start"], i.get("end")) for i in entry["inputs"])
        attrs = tuple(AttrInfo(a["tfName"], a["name"], a["type"], a.get("defaultValue"),
                               bool(a.get("notSupported", False))) for a in entry["attrs"])
        table[name] = OpInfo(name, entry.get("category", ""), bool(entry["mapped"]), inputs, attrs)
    return table


@lru_cache(maxsize=1)
def tfjs_version() -> str:
    return str(json.loads(TABLE_PATH.read_text(encoding="utf-8"))["tfjs_converter_version"])


def op_info(op: str) -> Optional[OpInfo]:
    return _table().get(op)


def is_supported(op: str) -> bool:
    """True when TF.js 4.22's graph executor maps and runs ``op``."""
    info = _table().get(op)
    return info is not None and info.mapped


def supported_ops() -> frozenset[str]:
    return frozenset(name for name, info in _table().items() if info.mapped)
