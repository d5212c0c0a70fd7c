"""Replaces a node whose data inputs are all Const by Const outputs computed with the numpy kernels.

Skipped: ops without a kernel, kernels that decline (``NotComputable``), results larger than
``ctx.fold_size_limit`` bytes, and results that would blow a small expression up into a large
weight (e.g. ``Fill`` of a big shape): those stay cheaper to compute in TF.js.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..ir.derived import cast, derive
from ..ir.graph import ArrayLike, Node, read_array
from ..ir.types import DType
from ..ops.kernels import NotComputable, evaluate, get_kernel
from ..ops.traits import NEVER_FOLD
from .base import Editor, PassContext, RewritePass, register_pass, take_name

_SMALL_RESULT = 64 * 1024  # bytes: always fine to fold
_GROWTH = 4  # a larger result must stay within this many times its inputs' bytes


def _fold(node: Node, ctx: PassContext) -> tuple[ArrayLike, ...] | None:
    if node.op in NEVER_FOLD or not node.inputs:
        return None
    if get_kernel(node.op) is None or any(v.producer.op != "Const" for v in node.inputs):
        return None
    sources = tuple(v.producer.attrs["value"] for v in node.inputs)
    op, attrs = node.op, dict(node.attrs)  # the node is gone by the time a deferred result is recomputed

    def compute(*args: np.ndarray) -> tuple[np.ndarray, ...]:
        return evaluate(op, args, attrs)

    try:
        results = compute(*(read_array(a) for a in sources))  # read a weight without pinning it
    except NotComputable:
        return None
    except (ValueError, IndexError, TypeError):
        # numpy rejected the constants (found by fuzzing: ConcatV2 of a matrix and a scalar).  TF would
        # reject them at run time too; left unfolded, TF.js reports it where the graph runs, and a
        # kernel's own gap never stops a conversion.
        return None
    size = sum(r.nbytes for r in results)
    if size > ctx.fold_size_limit:
        return None
    if size > _SMALL_RESULT and size > _GROWTH * sum(a.nbytes for a in sources):
        return None
    # A large result of weights read from the input is recomputed when written instead of held.
    return tuple(derive(_output(compute, i), sources, result) for i, result in enumerate(results))


def _output(compute: Callable[..., tuple[np.ndarray, ...]], index: int) -> Callable[..., np.ndarray]:
    return lambda *args: compute(*args)[index]



def _has_numpy(dtype: DType) -> bool:
    try:
        return dtype.numpy is not None
    except ValueError:
        return False

@register_pass
class FoldConstants(RewritePass):
    name = "fold_constants"

    def rewrite(self, ed: Editor, node: Node) -> bool:
        graph = ed.graph
        results = _fold(node, ed.ctx)
        if results is None:
            return False
        used = [i for i, v in enumerate(node.outputs) if v.uses or any(o is v for _, o in graph.outputs)]
        if any(i >= len(results) for i in used):
            return False
        if any(v.dtype is not None and v.dtype != DType.STRING and not _has_numpy(v.dtype)
               for v in node.outputs):
            return False  # found by fuzzing: a DT_QINT8 output, which no numpy type holds
        name = take_name(graph, node)
        new_values = []
        for i, result in enumerate(results[:max(len(node.outputs), 1)]):
            old = node.outputs[i] if i < len(node.outputs) else None
            dtype = old.dtype if old is not None and old.dtype is not None else None
            dtype = dtype or DType.from_numpy(result.dtype)
            if dtype != DType.STRING and result.dtype != dtype.numpy:
                result = cast(result, dtype.numpy)
            const_name = name if i == 0 else graph.unique_name(f"{name}/output_{i}")
            new_values.append(graph.add_const(result, name=const_name, dtype=dtype).outputs[0])
        ed.replace(node, new_values)
        return True
