"""Exact rewrites of ops TF.js 4.22 accepts but runs WRONGLY (one registered rewrite per op).

These ops are in TF.js's op list, so the op check lets them through, but the JS executor ignores an
attr or reads the wrong input; the model would load and silently give other numbers than TensorFlow:

* ``BiasAdd`` / ``BiasAddV1`` with ``data_format=NCHW``: TF.js always adds the bias on the LAST axis.
  Rewritten as ``AddV2(x, Reshape(bias, [C, 1, ..., 1]))`` (needs the rank of ``x``).
* ``MatrixBandPart`` with ``num_lower != num_upper``: the TF.js op mapper reads ``numUpper`` from
  input 1 (``num_lower``), so the upper band is cut at ``num_lower``.  With constant bounds and static
  matrix dims it becomes ``SelectV2(mask, x, 0)`` with the band mask as a constant.

* ``ReverseV2`` of a ``bool`` tensor: the TF.js 4.22 wasm kernel reads bools as 4-byte elements and
  returns garbage (observed: [[T, F], [F, F]] reversed on axis 0 gives [16, 0, 0, 0]) or aborts the
  module; Keras RNNs with masking and ``go_backwards`` reverse their bool mask.  Rewritten as
  ``Cast(ReverseV2(Cast(x, int32)), bool)``, exact on every backend.

* ``OneHot`` with a float output: the TF.js 4.22 wasm kernel writes the on/off values as integer bits
  (observed: on=2.0, off=-1.0 gives NaN and 2.8e-45).  Rewritten as
  ``SelectV2(Cast(OneHot(indices, depth, 1, 0) as int32, bool), on, off)``, exact on every backend.

* ``MaxPool3D``: the TF.js 4.22 wasm kernel starts each window's maximum at FLT_MIN (1.18e-38)
  instead of -inf, so a window of negative values gives 1.18e-38.  With static D, H, W, C it is
  rewritten as two 2-D MaxPools (H and W on ``[N*D, H, W, C]``, then D on ``[N, D, H'*W', C]``) with
  Reshapes between: max is associative and SAME/VALID padding is per dimension, so this is exact.
  With dynamic dims it is left as is (right on cpu/webgl).

* ``TensorScatterUpdate``: the TF.js 4.22 cpu kernel scatters INTO its input tensor's buffer, so every
  other reader of that tensor (and the caller's own input tensor) sees the updates.  When the input is
  a model input or is read elsewhere, the op gets a private copy: ``Mul(x, 1)`` (exact).

* ``GatherV2`` with ``batch_dims > 0``: wrong (and memory-corrupting) on the TF.js 4.22 wasm backend.
  With axis == batch_dims and static batch and gather dims it becomes a plain gather on axis 0 of
  the params with their batch dims flattened, at ``indices + batch_number * N`` (exact).

* ``Cumsum`` / ``Cumprod`` with a negative axis: TF.js 4.22 passes the axis to its kernel unchecked; a
  negative one builds a transpose permutation of the wrong length and returns a tensor of a garbage
  shape (observed: [3, 2] cumsum on axis -1 gives shape [1, 3] and [NaN, 3]).  A constant negative
  axis becomes ``axis + rank`` (needs the rank of the input).

* ``FloorDiv`` of floats: TF.js 4.22's cpu (and webgl) kernel always returns int32, so the quotient
  is truncated to an integer tensor and every op after it computes in int32 (observed: a
  LogSigmoid of it rounded to integers).  Rewritten as ``Floor(RealDiv(x, y))``, which is how
  TensorFlow defines FloorDiv for floats.

When a rewrite is impossible (unknown rank, dynamic bounds) the model is refused with a clear
``UnsupportedError`` instead of being written broken.
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError
from ..ir.attrs import attr_text
from ..ir.graph import Node, Value
from ..ir.types import DType
from ..registry import Registry
from .base import Editor, Rule, RuleTablePass, add, add_const, const_of, register_pass

RULES: Registry[str, Rule] = Registry("rewrite_tfjs_gaps rule")


@RULES.register("BiasAdd", "BiasAddV1")
def _bias_add_nchw(ed: Editor, node: Node) -> bool:
    if attr_text(node.attrs.get("data_format", "NHWC")) != "NCHW":
        return False
    x, bias = node.inputs[0], node.inputs[1]
    rank = x.shape.rank if x.shape is not None else None
    if rank is None:
        raise UnsupportedError(f"BiasAdd {node.name} with data_format=NCHW on an input of unknown rank: "
                               "TF.js adds biases on the last axis only")
    if rank < 3:  # NCHW on rank 2 is the same as the last axis
        node.attrs.pop("data_format", None)
        return True
    graph, name = ed.graph, node.name
    dtype = node.attrs.get("T", DType.FLOAT)
    shape = add_const(graph, np.array([-1] + [1] * (rank - 2), np.int32), f"{name}/bias_shape", DType.INT32)
    column = add(graph, "Reshape", [bias, shape], {"T": dtype, "Tshape": DType.INT32}, name=f"{name}/bias")
    ed.replace_with(node, "AddV2", [x, column], {"T": dtype})
    return True


@RULES.register("ReverseV2")
def _reverse_bool(ed: Editor, node: Node) -> bool:
    if node.attrs.get("T") != DType.BOOL:
        return False
    graph, name = ed.graph, node.name
    as_int = add(graph, "Cast", [node.inputs[0]],
                 {"SrcT": DType.BOOL, "DstT": DType.INT32, "Truncate": False}, name=f"{name}/to_int")
    as_int.dtype = DType.INT32
    flipped = add(graph, "ReverseV2", [as_int, node.inputs[1]],
                  {"T": DType.INT32, "Tidx": node.attrs.get("Tidx", DType.INT32)}, name=f"{name}/reverse")
    flipped.dtype = DType.INT32
    ed.replace_with(node, "Cast", [flipped], {"SrcT": DType.INT32, "DstT": DType.BOOL, "Truncate": False})
    return True


@RULES.register("OneHot")
def _one_hot_float(ed: Editor, node: Node) -> bool:
    dtype = node.attrs.get("T")
    if not isinstance(dtype, DType) or dtype.numpy.kind != "f" or len(node.inputs) != 4:
        return False
    if int(node.attrs.get("axis", -1)) != -1:
        return False  # TF.js's OneHot has no axis either: left for TF.js to report
    graph, name = ed.graph, node.name
    indices, depth, on, off = node.inputs
    one = add_const(graph, np.array(1, np.int32), f"{name}/one", DType.INT32)
    zero = add_const(graph, np.array(0, np.int32), f"{name}/zero", DType.INT32)
    hot = add(graph, "OneHot", [indices, depth, one, zero],
              {"T": DType.INT32, "TI": node.attrs.get("TI", DType.INT32), "axis": -1}, name=f"{name}/int")
    hot.dtype = DType.INT32
    mask = add(graph, "Cast", [hot], {"SrcT": DType.INT32, "DstT": DType.BOOL, "Truncate": False},
               name=f"{name}/mask")
    mask.dtype = DType.BOOL
    ed.replace_with(node, "SelectV2", [mask, on, off], {"T": dtype})
    return True


def _pooled(size: int, k: int, stride: int, same: bool) -> int:
    return -(-size // stride) if same else (size - k) // stride + 1


@RULES.register("MaxPool3D")
def _max_pool_3d(ed: Editor, node: Node) -> bool:
    x = node.inputs[0]
    dims = x.shape.dims if x.shape is not None else None
    ksize, strides = list(node.attrs.get("ksize", [])), list(node.attrs.get("strides", []))
    padding = attr_text(node.attrs.get("padding"))
    if attr_text(node.attrs.get("data_format", "NDHWC")) != "NDHWC" or dims is None or len(dims) != 5 \
            or None in dims[1:] or len(ksize) != 5 or len(strides) != 5 or padding not in ("SAME", "VALID"):
        return False
    _, d, h, w, c = (int(v) if v is not None else -1 for v in dims)
    kd, kh, kw = (int(v) for v in ksize[1:4])
    sd, sh, sw = (int(v) for v in strides[1:4])
    same = padding == "SAME"
    d2, h2, w2 = _pooled(d, kd, sd, same), _pooled(h, kh, sh, same), _pooled(w, kw, sw, same)
    graph, name = ed.graph, node.name
    dtype = node.attrs.get("T", DType.FLOAT)

    def shape_const(shape: list[int], suffix: str) -> Value:
        return add_const(graph, np.array(shape, np.int32), f"{name}/{suffix}_shape", DType.INT32)

    def reshape(value: Value, shape: list[int], suffix: str) -> Value:
        return add(graph, "Reshape", [value, shape_const(shape, suffix)], {"T": dtype, "Tshape": DType.INT32},
                   name=f"{name}/{suffix}")

    def pool(value: Value, k: tuple[int, int], stride: tuple[int, int], suffix: str) -> Value:
        return add(graph, "MaxPool", [value], {"T": dtype, "ksize": [1, k[0], k[1], 1],
                                               "strides": [1, stride[0], stride[1], 1],
                                               "padding": padding.encode(), "data_format": b"NHWC"},
                   name=f"{name}/{suffix}")

    planes = pool(reshape(x, [-1, h, w, c], "planes"), (kh, kw), (sh, sw), "pool_hw")
    depth = pool(reshape(planes, [-1, d, h2 * w2, c], "columns"), (kd, 1), (sd, 1), "pool_d")
    ed.replace_with(node, "Reshape", [depth, shape_const([-1, d2, h2, w2, c], "out")],
                    {"T": dtype, "Tshape": DType.INT32})
    return True


@RULES.register("TensorScatterUpdate")
def _private_scatter_target(ed: Editor, node: Node) -> bool:
    graph = ed.graph
    target = node.inputs[0]
    dtype = node.attrs.get("T", DType.FLOAT)
    if not isinstance(dtype, DType) or dtype.numpy.kind not in "fiu":
        return False
    readers = {id(consumer) for consumer, _ in target.uses}
    shared = len(readers) > 1 or any(v is target for _, v in graph.outputs)
    if not shared and target.producer.op != "Placeholder":
        return False  # a private intermediate (or constant: rewriting the same values is idempotent)
    one = add_const(graph, np.ones((), dtype.numpy), f"{node.name}/one", dtype)
    copy = add(graph, "Mul", [target, one], {"T": dtype}, name=f"{node.name}/private_copy", like=target)
    graph.set_input(node, 0, copy)
    return True


@RULES.register("GatherV2")
def _batched_gather(ed: Editor, node: Node) -> bool:
    batch = int(node.attrs.get("batch_dims", 0))
    if batch <= 0:
        return False
    graph = ed.graph
    params, indices, axis_value = node.inputs
    axis = const_of(axis_value)
    p_dims = params.shape.dims if params.shape is not None else None
    i_dims = indices.shape.dims if indices.shape is not None else None
    if axis is None or p_dims is None or i_dims is None:
        return False
    axis_i = int(axis) + len(p_dims) if int(axis) < 0 else int(axis)
    lead = p_dims[:batch + 1]
    if axis_i != batch or None in lead or len(i_dims) < batch:
        return False
    batch_shape = [int(d) for d in p_dims[:batch]]  # type: ignore[arg-type]
    count, width = int(np.prod(batch_shape)), int(p_dims[batch])  # type: ignore[arg-type]
    tind = node.attrs.get("Tindices", DType.INT32)
    tparams = node.attrs.get("Tparams", DType.FLOAT)
    name = node.name
    offsets = (np.arange(count) * width).reshape(batch_shape + [1] * (len(i_dims) - batch))
    offset = add_const(graph, offsets.astype(tind.numpy), f"{name}/offsets", tind)
    flat_index = add(graph, "AddV2", [indices, offset], {"T": tind}, name=f"{name}/index")
    flat_index.dtype = tind
    rest = [-1 if d is None else int(d) for d in p_dims[batch + 1:]]
    if rest.count(-1) > 1:
        return False
    shape = add_const(graph, np.array([count * width, *rest], np.int32), f"{name}/flat_shape", DType.INT32)
    flat = add(graph, "Reshape", [params, shape], {"T": tparams, "Tshape": DType.INT32}, name=f"{name}/flat")
    flat.dtype = tparams
    zero = add_const(graph, np.array(0, np.int32), f"{name}/axis", DType.INT32)
    ed.replace_with(node, "GatherV2", [flat, flat_index, zero],
                    {"Tparams": tparams, "Tindices": tind, "Taxis": DType.INT32, "batch_dims": 0})
    return True


@RULES.register("Cumsum", "Cumprod")
def _cumulative_negative_axis(ed: Editor, node: Node) -> bool:
    axis = const_of(node.inputs[1])
    if axis is None or np.ndim(axis) != 0 or int(axis) >= 0:
        return False
    x = node.inputs[0]
    rank = x.shape.rank if x.shape is not None else None
    if rank is None:
        raise UnsupportedError(f"{node.op} {node.name} with a negative axis on an input of unknown rank: "
                               "TF.js 4.22 computes it wrongly")
    tidx = node.attrs.get("Tidx", DType.INT32)
    fixed = add_const(ed.graph, np.array(int(axis) + rank, tidx.numpy), f"{node.name}/axis", tidx)
    ed.graph.set_input(node, 1, fixed)
    return True


@RULES.register("FloorDiv")
def _float_floor_div(ed: Editor, node: Node) -> bool:
    dtype = node.attrs.get("T")
    if not isinstance(dtype, DType) or dtype.numpy.kind != "f":
        return False
    quotient = add(ed.graph, "RealDiv", list(node.inputs), {"T": dtype}, name=f"{node.name}/div",
                   like=node.outputs[0])
    ed.replace_with(node, "Floor", [quotient], {"T": dtype})
    return True


def band_mask(rows: int, cols: int, num_lower: int, num_upper: int) -> np.ndarray:
    """TensorFlow's band: keep (i, j) when (lower < 0 or i - j <= lower) and (upper < 0 or j - i <= upper)."""
    i = np.arange(rows)[:, None]
    j = np.arange(cols)[None, :]
    keep = np.ones((rows, cols), bool)
    if num_lower >= 0:
        keep &= (i - j) <= num_lower
    if num_upper >= 0:
        keep &= (j - i) <= num_upper
    return keep


@RULES.register("MatrixBandPart")
def _band_part(ed: Editor, node: Node) -> bool:
    x = node.inputs[0]
    lower, upper = const_of(node.inputs[1]), const_of(node.inputs[2])
    if lower is not None and upper is not None and int(lower) == int(upper):
        return False  # TF.js reads num_lower for both bounds: right when they are equal
    dims = x.shape.dims if x.shape is not None else None
    if lower is None or upper is None or dims is None or len(dims) < 2 or None in dims[-2:]:
        raise UnsupportedError(f"MatrixBandPart {node.name} with bounds that may differ (TF.js 4.22 applies "
                               "num_lower to both sides) needs constant bounds and static matrix dims")
    graph, name = ed.graph, node.name
    dtype = node.attrs.get("T", DType.FLOAT)
    mask = add_const(graph, band_mask(dims[-2], dims[-1], int(lower), int(upper)), f"{name}/mask", DType.BOOL)
    zero = add_const(graph, np.zeros((), dtype.numpy), f"{name}/zero", dtype)
    ed.replace_with(node, "SelectV2", [mask, x, zero], {"T": dtype})
    return True


@register_pass
class RewriteTfjsGaps(RuleTablePass):
    name = "rewrite_tfjs_gaps"
    rules = RULES
