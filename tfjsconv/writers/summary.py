"""What a written TF.js model holds, read back from its model.json: for the closing summary line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

# The ops for which TF.js 4.22's GraphModel.execute() throws and asks for executeAsync() (its graph
# executor's control-flow, dynamic-shape and hash-table lists; If too, whose executor returns a promise).
ASYNC_OPS = frozenset({
    "Switch", "Merge", "Enter", "Exit", "NextIteration", "StatelessIf", "StatelessWhile", "If", "While",
    "NonMaxSuppressionV2", "NonMaxSuppressionV3", "NonMaxSuppressionV5", "Where",
    "HashTable", "HashTableV2", "LookupTableImport", "LookupTableImportV2", "LookupTableFind",
    "LookupTableFindV2", "LookupTableSize", "LookupTableSizeV2",
})


@dataclass(frozen=True)
class Summary:
    nodes: Optional[int] = None  # graph model: nodes of the main graph plus function bodies
    layers: Optional[int] = None  # layers model: layers of the top-level model
    weight_bytes: int = 0  # bytes in the weight shards
    shards: int = 0
    async_ops: tuple[str, ...] = ()  # graph model: main-graph ops that need executeAsync(), sorted


def _layer_count(topology: Any) -> Optional[int]:
    config = topology.get("model_config", topology) if isinstance(topology, dict) else None
    inner = config.get("config") if isinstance(config, dict) else None
    if isinstance(inner, dict):
        inner = inner.get("layers")
    return len(inner) if isinstance(inner, list) else None


def summarize(directory: Path) -> Summary:
    """The summary of a model directory (empty when it holds no readable model.json)."""
    try:
        model = json.loads((directory / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Summary()
    if not isinstance(model, dict):
        return Summary()
    paths = [p for group in model.get("weightsManifest") or [] if isinstance(group, dict)
             for p in group.get("paths") or []]
    size = sum((directory / p).stat().st_size for p in paths if (directory / p).is_file())
    topology = model.get("modelTopology")
    if model.get("format") == "graph-model" and isinstance(topology, dict):
        functions = (topology.get("library") or {}).get("function") or []
        main = [n for n in topology.get("node") or [] if isinstance(n, dict)]
        nodes = len(main) + sum(len(f.get("nodeDef") or []) for f in functions)
        async_ops = tuple(sorted({str(n.get("op")) for n in main} & ASYNC_OPS))
        return Summary(nodes=nodes, weight_bytes=size, shards=len(paths), async_ops=async_ops)
    return Summary(layers=_layer_count(topology), weight_bytes=size, shards=len(paths))
