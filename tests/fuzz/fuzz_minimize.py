"""Shrinks a fuzz finding to a small case that still shows the same finding (for tests/bad_inputs/).

Same finding = same kind of failure at the same place (the part of the detail before the message).
Passes, each kept only while the finding persists: drop whole files; drop JSON elements and protobuf
repeated elements (SavedModel nodes, ONNX initializers...) one at a time; then delete byte ranges
(halves, quarters, ...) of what is left.  Bounded by an execution budget.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Optional

from fuzz_cases import Case
from fuzz_engine import execute


def _same(detail: str) -> Callable[[str], bool]:
    key = detail.split(": ", 1)[0]
    return lambda other: other.split(": ", 1)[0] == key


class _Budget:
    def __init__(self, runs: int) -> None:
        self.left = runs

    def spend(self) -> bool:
        self.left -= 1
        return self.left >= 0


def _still(reader: str, case: Case, work: Path, same: Callable[[str], bool], budget: _Budget) -> bool:
    if not budget.spend():
        return False
    outcome = execute(reader, case, work)
    return outcome.kind == "finding" and same(outcome.detail)


def _json_units(obj: Any) -> list[tuple[Any, Any]]:
    units: list[tuple[Any, Any]] = []
    stack = [obj]
    while stack:
        item = stack.pop()
        keys = list(item) if isinstance(item, dict) else range(len(item)) if isinstance(item, list) else []
        for key in reversed(list(keys)):
            units.append((item, key))
            if isinstance(item[key], (dict, list)):
                stack.append(item[key])
    return units


def _shrink_json(data: bytes, keep: Callable[[bytes], bool], budget: _Budget) -> bytes:
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        return data
    changed = True
    while changed and budget.left > 0:
        changed = False
        for container, key in _json_units(obj):
            try:
                saved = container[key]
            except (KeyError, IndexError):
                continue
            del container[key]
            if keep(json.dumps(obj).encode()):
                changed = True
                break  # the unit list changed: start over
            if isinstance(container, list):
                container.insert(key, saved)
            else:
                container[key] = saved
            if budget.left <= 0:
                break
    return json.dumps(obj).encode()


def _proto_type(name: str, reader: str) -> Optional[Callable[[], Any]]:
    if name.endswith("saved_model.pb"):
        from tfjsconv._proto.saved_model_pb2 import SavedModel

        return SavedModel
    if name.endswith(".pb"):
        from tfjsconv._proto.graph_pb2 import GraphDef

        return GraphDef
    if name.endswith(".onnx"):
        try:
            import onnx
        except ImportError:
            return None
        return onnx.ModelProto
    return None


def _shrink_proto(data: bytes, kind: Callable[[], Any], keep: Callable[[bytes], bool],
                  budget: _Budget) -> bytes:
    message = kind()
    try:
        message.ParseFromString(data)
    except Exception:  # noqa: BLE001
        return data
    progress = True
    while progress and budget.left > 0:
        progress = False
        stack = [message]
        while stack and budget.left > 0 and not progress:
            msg = stack.pop()
            for fd, value in msg.ListFields():
                repeated = hasattr(value, "__len__") and not isinstance(value, (str, bytes))
                if repeated and not hasattr(value, "keys"):
                    for index in range(len(value) - 1, -1, -1):
                        backup = msg.SerializeToString()
                        del value[index]
                        if keep(message.SerializeToString()):
                            progress = True
                            break
                        msg.ParseFromString(backup)
                        value = getattr(msg, fd.name)
                        if budget.left <= 0:
                            break
                    if progress:
                        break
                    if fd.type == fd.TYPE_MESSAGE:
                        stack.extend(value)
                elif fd.type == fd.TYPE_MESSAGE and not repeated:
                    stack.append(value)
    return message.SerializeToString()


def _shrink_bytes(data: bytes, keep: Callable[[bytes], bool], budget: _Budget) -> bytes:
    chunk = max(len(data) // 2, 1)
    while chunk >= 1 and budget.left > 0:
        start = 0
        while start < len(data) and budget.left > 0:
            candidate = data[:start] + data[start + chunk:]
            if keep(candidate):
                data = candidate
            else:
                start += chunk
        chunk //= 2
    return data


def minimize(reader: str, case: Case, work: Path, detail: str, budget: int = 400) -> Case:
    same = _same(detail)
    left = _Budget(budget)
    best = case.copy()
    for name in sorted(best.files):
        if name == best.entry or name.startswith(best.entry + "/") is False and name == best.entry:
            continue
        trial = best.copy()
        del trial.files[name]
        if name != best.entry and _still(reader, trial, work, same, left):
            best = trial
    for name in sorted(best.files, key=lambda n: -len(best.files[n])):
        def keep(data: bytes, name: str = name) -> bool:
            trial = best.copy()
            trial.files[name] = data
            return _still(reader, trial, work, same, left)

        data = best.files[name]
        kind = _proto_type(name, reader)
        if name.endswith(".json"):
            data = _shrink_json(data, keep, left)
        elif kind is not None:
            data = _shrink_proto(data, kind, keep, left)
        elif not name.endswith((".h5", ".keras")):
            data = _shrink_bytes(data, keep, left)
        best.files[name] = data
    return best
