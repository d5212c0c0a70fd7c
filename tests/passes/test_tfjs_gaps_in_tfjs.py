"""Ops TF.js 4.22 runs wrongly as written, found by the unseen-model sweep
(fixtures/generate/unseen_sweep.py): the rewritten graph, run in real TF.js, gives TensorFlow's numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ir.graph_factory import const, op, output, placeholder

from tfjsconv.errors import UnsupportedError
from tfjsconv.ir.graph import Graph
from tfjsconv.ir.types import DType
from tfjsconv.options import ConvertOptions
from tfjsconv.passes.pipeline import optimize
from tfjsconv.writers.graph_model import write_graph_model

F = DType.FLOAT


def _write(g: Graph, tmp_path: Path) -> Path:
    optimize(g, ConvertOptions(), checks=True)
    out = tmp_path / "model"
    out.mkdir()
    write_graph_model(g, out, ConvertOptions())
    return out


def _numpy_cumulative(x: np.ndarray, axis: int, kind: str, exclusive: bool, reverse: bool) -> np.ndarray:
    """TensorFlow's Cumsum/Cumprod, written out."""
    fn = np.cumsum if kind == "Cumsum" else np.cumprod
    neutral = 0.0 if kind == "Cumsum" else 1.0
    y = np.flip(x, axis) if reverse else x
    z = fn(y, axis=axis)
    if exclusive:
        z = np.concatenate([np.full_like(np.take(z, [0], axis=axis), neutral),
                            np.delete(z, -1, axis=axis)], axis=axis)
    return np.flip(z, axis) if reverse else z


@pytest.mark.parametrize("kind, axis, exclusive, reverse", [
    ("Cumsum", -1, False, True), ("Cumsum", -2, True, False), ("Cumprod", -1, True, True),
    ("Cumprod", -3, False, False)])
def test_cumulative_with_a_negative_axis(tmp_path: Path, tfjs: Any, kind: str, axis: int, exclusive: bool,
                                         reverse: bool) -> None:
    g = Graph()
    x = placeholder(g, "x", F, [None, 3, 2])
    ax = const(g, np.array(axis, np.int32), "axis", DType.INT32)
    output(g, "y", op(g, kind, [x, ax], {"T": F, "Tidx": DType.INT32, "exclusive": exclusive,
                                         "reverse": reverse}, name="cum"))
    feed = np.random.default_rng(3).uniform(0.5, 1.5, (4, 3, 2)).astype(np.float32)
    out = _write(g, tmp_path)
    (got,) = tfjs.run(out, "graph", [("x", feed)])
    np.testing.assert_allclose(got, _numpy_cumulative(feed, axis, kind, exclusive, reverse), rtol=1e-5)


def test_cumulative_negative_axis_of_unknown_rank_is_refused(tmp_path: Path) -> None:
    g = Graph()
    x = placeholder(g, "x", F, None)
    output(g, "y", op(g, "Cumsum", [x, const(g, np.array(-1, np.int32), "axis", DType.INT32)],
                      {"T": F, "Tidx": DType.INT32}, name="cum"))
    with pytest.raises(UnsupportedError, match="negative axis"):
        _write(g, tmp_path)


@pytest.mark.parametrize("backend", ["cpu", "wasm"])
def test_float_floor_div_stays_float(tmp_path: Path, tfjs: Any, backend: str) -> None:
    g = Graph()
    x = placeholder(g, "x", F, [None, 4])
    q = op(g, "FloorDiv", [x, const(g, np.array(0.7, np.float32), "y")], {"T": F}, name="floordiv")
    output(g, "y", op(g, "Softplus", [q], {"T": F}, name="softplus"))  # a float op after it
    feed = np.random.default_rng(5).normal(size=(3, 4)).astype(np.float32) * 2
    out = _write(g, tmp_path)
    (got,) = tfjs.run(out, "graph", [("x", feed)], backend=backend)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.log1p(np.exp(np.floor(feed / np.float32(0.7)))), rtol=1e-5)
