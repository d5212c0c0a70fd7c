"""The default optimization pipeline the graph-model routes run before writing.

``optimize(graph, options, *, warnings=None, checks=False) -> Graph`` edits ``graph`` in place (and
returns it): cleanup, exact rewrites of ops TF.js lacks, constant folding, CSE, batch-norm folding
and the TF.js fusions, repeated until nothing changes.  It does not run the op check: the writer
does that, on the graph it is given, before writing anything.
"""

from __future__ import annotations

from typing import Optional

from .. import progress
from ..ir.graph import Graph
from ..ir.verify import verify
from ..options import ConvertOptions
from . import (  # noqa: F401  (each module registers its pass)
    compose_contractions,
    eliminate_common_subexpressions,
    eliminate_dead_code,
    fold_affine,
    fold_batch_norm,
    fold_constants,
    fold_output_identity,
    fuse_conv_bias_activation,
    fuse_matmul_bias_activation,
    fuse_prelu,
    hoist_bias_add,
    legalize_fused_ops,
    remove_identity,
    rewrite_einsum,
    rewrite_equivalents,
    rewrite_erfc,
    rewrite_tfjs_gaps,
    simplify_arithmetic,
    simplify_shapes,
    strip_debug_ops,
)
from .base import PassContext, PassManager, get_pass

DEFAULT_PASSES = (
    "eliminate_dead_code",
    "strip_debug_ops",
    "remove_identity",
    "fold_output_identity",
    "rewrite_erfc",
    "rewrite_equivalents",
    "rewrite_tfjs_gaps",
    "rewrite_einsum",
    "legalize_fused_ops",
    "fold_constants",
    "eliminate_common_subexpressions",
    "simplify_arithmetic",
    "simplify_shapes",
    "fold_batch_norm",
    "compose_contractions",
    "fold_affine",
    "fuse_prelu",
    "hoist_bias_add",
    "fuse_conv_bias_activation",
    "fuse_matmul_bias_activation",
    "eliminate_dead_code",
)


def optimize(graph: Graph, options: ConvertOptions, *, warnings: Optional[list[str]] = None,
             checks: bool = False, passes: tuple[str, ...] = DEFAULT_PASSES) -> Graph:
    """Runs ``passes`` to a fixed point; user-facing notes are appended to ``warnings``."""
    progress.stage("optimizing")
    ctx = PassContext(options=options, checks=checks)
    manager = PassManager([get_pass(name) for name in passes], verify=verify)
    manager.run(graph, ctx)
    if warnings is not None:
        warnings.extend(w for w in ctx.warnings if w not in warnings)
    return graph
