"""One check for a pass on a tiny graph: the op histogram after it, and the same numbers before and
after on random inputs (the numpy interpreter is the oracle)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Callable, Optional

import numpy as np

from tfjsconv.ir.graph import Graph
from tfjsconv.ir.interpret import interpret
from tfjsconv.ir.verify import verify
from tfjsconv.passes.base import Pass, PassContext

Builder = Callable[[Graph], None]


def ops_of(g: Graph) -> dict[str, int]:
    """The op histogram without Const and Placeholder nodes."""
    return {k: v for k, v in g.op_histogram().items() if k not in ("Const", "Placeholder")}


def random_feeds(g: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Standard-normal float (or small int) inputs; unknown dims become 2."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for node, key in zip(g.inputs, g.input_keys):
        value = node.outputs[0]
        shape = [2 if d is None else d for d in (value.shape.dims or ())] if value.shape is not None else []
        dtype = value.dtype.numpy if value.dtype is not None else np.dtype(np.float32)
        if dtype.kind == "f":
            feeds[key] = rng.standard_normal(shape).astype(dtype)
        else:
            feeds[key] = rng.integers(-5, 6, shape).astype(dtype)
    return feeds


def check_pass(build: Builder, pass_: Pass, ops: Mapping[str, int], *, changed: bool = True,
               rtol: float = 1e-5, atol: float = 1e-6, ctx: Optional[PassContext] = None) -> Graph:
    """Builds the graph twice, runs ``pass_`` (then drops dead nodes) on one copy and compares the
    op histogram and the numbers; returns the rewritten copy."""
    before, after = Graph(), Graph()
    build(before)
    build(after)
    assert pass_.run(after, ctx or PassContext()) is changed
    after.prune()  # what the pipeline's dead-code pass does next
    verify(after)
    assert ops_of(after) == dict(ops), ops_of(after)
    feeds = random_feeds(before)
    want, got = interpret(before, feeds), interpret(after, feeds)
    assert list(got) == list(want)
    for key in want:
        assert got[key].dtype == want[key].dtype and got[key].shape == want[key].shape, key
        np.testing.assert_allclose(got[key], want[key], rtol=rtol, atol=atol, err_msg=key)
    return after
