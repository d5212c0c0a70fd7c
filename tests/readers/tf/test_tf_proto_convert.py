"""TensorProto / AttrValue / NodeDef -> IR values, built from hand-written protos."""

from __future__ import annotations

import numpy as np
import pytest

from tfjsconv._proto import attr_value_pb2, graph_pb2, tensor_pb2
from tfjsconv.errors import InputError
from tfjsconv.ir.types import DType, FuncAttr, Shape
from tfjsconv.readers.tf.attr_values import AttrPlaceholder, attr_to_value, split_tensor_name, tensor_to_array
from tfjsconv.readers.tf.opdefs import OpDefs
from tfjsconv.readers.tf.proto_convert import graph_from_node_defs


def _tensor(dtype: DType, dims: list[int], **fields: object) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=int(dtype))
    for d in dims:
        proto.tensor_shape.dim.add(size=d)
    for key, value in fields.items():
        if key == "tensor_content":
            proto.tensor_content = value  # type: ignore[assignment]
        else:
            getattr(proto, key).extend(value)
    return proto


def test_tensor_content_little_endian() -> None:
    values = np.arange(6, dtype="<f4").reshape(2, 3) / 4
    out = tensor_to_array(_tensor(DType.FLOAT, [2, 3], tensor_content=values.tobytes()))
    assert out.dtype == np.float32 and out.shape == (2, 3)
    np.testing.assert_array_equal(out, values)


def test_typed_field_repeats_last_value() -> None:
    out = tensor_to_array(_tensor(DType.INT32, [2, 3], int_val=[7, 9]))
    np.testing.assert_array_equal(out, [[7, 9, 9], [9, 9, 9]])


def test_no_values_means_zeros_and_scalar_has_one_element() -> None:
    np.testing.assert_array_equal(tensor_to_array(_tensor(DType.FLOAT, [3])), [0.0, 0.0, 0.0])
    scalar = tensor_to_array(_tensor(DType.INT64, [], int64_val=[-5]))
    assert scalar.shape == () and scalar.dtype == np.int64 and int(scalar) == -5


def test_half_and_bfloat16_bit_patterns() -> None:
    half_bits = np.array([1.5, -2.0], dtype=np.float16).view(np.uint16).tolist()
    half = tensor_to_array(_tensor(DType.HALF, [2], half_val=half_bits))
    np.testing.assert_array_equal(half, np.array([1.5, -2.0], dtype=np.float16))
    # bfloat16 of 1.0 is 0x3F80; it widens to float32 exactly.
    bf = tensor_to_array(_tensor(DType.BFLOAT16, [2], half_val=[0x3F80, 0xC000]))
    assert bf.dtype == np.float32
    np.testing.assert_array_equal(bf, [1.0, -2.0])


def test_strings_bool_and_complex() -> None:
    strings = tensor_to_array(_tensor(DType.STRING, [3], string_val=[b"a", b"bc"]))
    assert strings.tolist() == [b"a", b"bc", b"bc"]
    flags = tensor_to_array(_tensor(DType.BOOL, [2], bool_val=[True, False]))
    assert flags.dtype == np.bool_ and flags.tolist() == [True, False]
    cplx = tensor_to_array(_tensor(DType.COMPLEX64, [2], scomplex_val=[1.0, 2.0, 3.0, -1.0]))
    np.testing.assert_array_equal(cplx, np.array([1 + 2j, 3 - 1j], dtype=np.complex64))


def test_tensor_content_size_mismatch_is_an_input_error() -> None:
    with pytest.raises(InputError, match="tensor_content holds 4 bytes, expected 8"):
        tensor_to_array(_tensor(DType.FLOAT, [2], tensor_content=b"\0\0\0\0"), "node c")


def test_attr_values() -> None:
    empty = attr_value_pb2.AttrValue()
    empty.list.SetInParent()  # present but empty: not the same as "no value"
    assert attr_to_value(empty) == []
    assert attr_to_value(attr_value_pb2.AttrValue()) is None
    assert attr_to_value(attr_value_pb2.AttrValue(s=b"SAME")) == b"SAME"
    assert attr_to_value(attr_value_pb2.AttrValue(i=-3)) == -3
    assert attr_to_value(attr_value_pb2.AttrValue(type=101)) == DType.FLOAT  # DT_FLOAT_REF
    unknown = attr_value_pb2.AttrValue()
    unknown.shape.unknown_rank = True
    assert attr_to_value(unknown) == Shape.unknown()
    ints = attr_value_pb2.AttrValue()
    ints.list.i.extend([1, 2, 2, 1])
    assert attr_to_value(ints) == [1, 2, 2, 1]
    func = attr_value_pb2.AttrValue()
    func.func.name = "body"
    func.func.attr["T"].type = 3
    assert attr_to_value(func) == FuncAttr("body", (("T", DType.INT32),))
    assert attr_to_value(attr_value_pb2.AttrValue(placeholder="T")) == AttrPlaceholder("T")


def test_split_tensor_name() -> None:
    assert split_tensor_name("a/b:3") == ("a/b", 3)
    assert split_tensor_name("a/b") == ("a/b", 0)


def _graph_def() -> graph_pb2.GraphDef:
    gd = graph_pb2.GraphDef()
    x = gd.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = int(DType.FLOAT)
    c = gd.node.add(name="k", op="Const")
    c.attr["dtype"].type = int(DType.INT32)
    c.attr["value"].tensor.CopyFrom(_tensor(DType.INT32, [], int_val=[2]))
    split = gd.node.add(name="split", op="Split", input=["k", "x"])
    split.attr["num_split"].i = 2
    split.attr["T"].type = int(DType.FLOAT)
    gd.node.add(name="noop", op="NoOp")
    add = gd.node.add(name="add", op="AddV2", input=["split:1", "split", "^noop"])
    add.attr["T"].type = int(DType.FLOAT)
    return gd


def test_graph_from_node_defs_resolves_flat_names() -> None:
    graph = graph_from_node_defs(_graph_def().node, OpDefs())
    add = graph.node("add")
    assert [(v.producer.name, v.index) for v in add.inputs] == [("split", 1), ("split", 0)]
    assert [c.name for c in add.control_inputs] == ["noop"]
    assert graph.node("k").attrs["value"].tolist() == 2
    assert graph.node("split").output(1).dtype == DType.FLOAT  # output*num_split from the built-in table


def test_graph_from_node_defs_unknown_input() -> None:
    gd = _graph_def()
    gd.node.add(name="bad", op="Identity", input=["missing:0"])
    with pytest.raises(InputError, match="bad reads 'missing:0'"):
        graph_from_node_defs(gd.node, OpDefs())


def test_unknown_data_type_is_unsupported() -> None:
    from tfjsconv.errors import UnsupportedError

    with pytest.raises(UnsupportedError, match="node n: DataType 24 is not supported"):
        attr_to_value(attr_value_pb2.AttrValue(type=24), "node n")  # DT_FLOAT8_E5M2
    with pytest.raises(UnsupportedError, match="DataType 29"):
        tensor_to_array(tensor_pb2.TensorProto(dtype=29), "const c")  # DT_INT4
