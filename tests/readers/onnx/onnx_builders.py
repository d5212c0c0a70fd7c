"""Builds small ONNX models inside tests (onnx.helper only) and runs their converted IR with the
numpy oracle ``ir.interpret``: no onnxruntime, no TF.js."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import helper, numpy_helper  # noqa: E402

from tfjsconv.ir.graph import Graph  # noqa: E402
from tfjsconv.ir.interpret import interpret  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402
from tfjsconv.passes.pipeline import optimize  # noqa: E402
from tfjsconv.readers.onnx.model import load_onnx_graph  # noqa: E402
from tfjsconv.routes.onnx_to_graph import ONNX_PASSES  # noqa: E402

FLOAT = onnx.TensorProto.FLOAT


def value_info(name: str, shape: Optional[Sequence[Any]], elem: int = FLOAT) -> Any:
    return helper.make_tensor_value_info(name, elem, shape)


def save_model(
    path: Path,
    nodes: Sequence[Any],
    inputs: Sequence[Any],
    outputs: Sequence[Any],
    initializers: Mapping[str, np.ndarray] = {},
    opset: int = 13,
) -> Path:
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in initializers.items()]
    graph = helper.make_graph(list(nodes), "test", list(inputs), list(outputs), inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def convert_ir(path: Path) -> Graph:
    graph = load_onnx_graph(path)
    optimize(graph, ConvertOptions(), checks=True, passes=ONNX_PASSES)
    return graph


def run_model(
    tmp_path: Path,
    nodes: Sequence[Any],
    feeds: Mapping[str, np.ndarray],
    outputs: Sequence[str],
    initializers: Mapping[str, np.ndarray] = {},
    opset: int = 13,
) -> dict[str, np.ndarray]:
    inputs = [
        value_info(k, list(v.shape), helper.np_dtype_to_tensor_dtype(v.dtype)) for k, v in feeds.items()
    ]
    path = save_model(
        tmp_path / "model.onnx", nodes, inputs, [value_info(o, None) for o in outputs], initializers, opset
    )
    return interpret(convert_ir(path), dict(feeds))
