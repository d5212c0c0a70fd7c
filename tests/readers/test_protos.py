"""tfjsconv's own protos: same wire schema as TensorFlow's, and they parse real SavedModels."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from tfjsconv._proto import (
    attr_value_pb2,
    meta_graph_pb2,
    saved_model_pb2,
    struct_pb2,
    tensor_bundle_pb2,
    tensor_slice_pb2,
    variable_pb2,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "checkpoints"
PROTO_DIR = ROOT / "protos" / "tfjsconv" / "_proto"
MODULES = sorted(p.stem + "_pb2" for p in PROTO_DIR.glob("*.proto"))
TF_TABLES: dict[str, Any] = json.loads((FIXTURES / "tf_proto_fields.json").read_text())
SAVED_MODELS: dict[str, Any] = json.loads((FIXTURES / "expected.json").read_text())["saved_models"]


# Our package -> the package of the real schema (tf-keras's keras_metadata.pb has its own).
PACKAGES = {"tfjsconv.tf.": "tensorflow.", "tfjsconv.keras.": "third_party.py.tf_keras.protobuf."}


def tf_name(full_name: str, package: str = "") -> str:
    """The real message name of one of ours; a field type inside a tf-keras message lives in
    tf-keras's package (it has its own copy of VersionDef)."""
    for ours, theirs in PACKAGES.items():
        if full_name.startswith(ours):
            return (PACKAGES.get(package, theirs) if package else theirs) + full_name[len(ours):]
    return full_name


def is_repeated(field: FieldDescriptor) -> bool:
    flag = getattr(field, "is_repeated", None)  # protobuf >= 6 dropped FieldDescriptor.label
    return bool(flag) if flag is not None else field.label == FieldDescriptor.LABEL_REPEATED


def walk(desc: Descriptor) -> list[Descriptor]:
    out = [desc]
    for nested in desc.nested_types:
        out.extend(walk(nested))
    return out


def all_descriptors() -> tuple[list[Descriptor], list[EnumDescriptor]]:
    messages: list[Descriptor] = []
    enums: list[EnumDescriptor] = []
    for name in MODULES:
        file = importlib.import_module(f"tfjsconv._proto.{name}").DESCRIPTOR
        assert file.package + "." in PACKAGES
        for desc in file.message_types_by_name.values():
            messages.extend(walk(desc))
        enums.extend(file.enum_types_by_name.values())
    enums.extend(e for m in messages for e in m.enum_types)
    return messages, enums


def test_every_declared_field_matches_tensorflow() -> None:
    messages, enums = all_descriptors()
    checked = 0
    for desc in messages:
        if desc.GetOptions().map_entry:
            continue
        table = TF_TABLES["messages"][tf_name(desc.full_name)]
        for field in desc.fields:
            type_name = (field.message_type.full_name if field.message_type else
                         field.enum_type.full_name if field.enum_type else "")
            oneof = field.containing_oneof.name if field.containing_oneof else ""
            package = "tfjsconv.keras." if desc.full_name.startswith("tfjsconv.keras.") else ""
            mine = [field.number, field.type, is_repeated(field), tf_name(type_name, package), oneof]
            assert mine == table[field.name], f"{desc.full_name}.{field.name}"
            checked += 1
    for enum in enums:
        reference = TF_TABLES["enums"][tf_name(enum.full_name)]
        for value in enum.values:
            assert reference[value.name] == value.number, f"{enum.full_name}.{value.name}"
    assert checked > 250  # 286 when written


def test_required_messages_exist() -> None:
    messages, _ = all_descriptors()
    names = {d.full_name.split(".", 2)[2] for d in messages}
    required = """SavedModel MetaGraphDef MetaGraphDef.MetaInfoDef SignatureDef TensorInfo
        TensorInfo.CooSparse TensorInfo.CompositeTensor CollectionDef CollectionDef.NodeList
        CollectionDef.BytesList
        CollectionDef.Int64List CollectionDef.FloatList CollectionDef.AnyList AssetFileDef SaverDef GraphDef
        NodeDef VersionDef AttrValue AttrValue.ListValue NameAttrList TensorProto TensorShapeProto
        TensorShapeProto.Dim ResourceHandleProto ResourceHandleProto.DtypeAndShape FunctionDefLibrary
        FunctionDef FunctionDef.ArgAttrs GradientDef OpDef OpDef.ArgDef OpDef.AttrDef OpList SavedObjectGraph
        SavedObject SavedUserObject SavedAsset SavedFunction SavedConcreteFunction SavedBareConcreteFunction
        SavedConstant SavedVariable SavedResource CapturedTensor FunctionSpec SaveableObject
        TrackableObjectGraph TrackableObjectGraph.TrackableObject
        TrackableObjectGraph.TrackableObject.ObjectReference
        TrackableObjectGraph.TrackableObject.SerializedTensor
        TrackableObjectGraph.TrackableObject.SlotVariableReference StructuredValue ListValue TupleValue
        DictValue PairValue NamedTupleValue TensorSpecProto BoundedTensorSpecProto TypeSpecProto NoneValue
        VariableDef SaveSliceInfoDef BundleHeaderProto BundleEntryProto TensorSliceProto
        TensorSliceProto.Extent""".split()
    assert not set(required) - names


@pytest.mark.parametrize("which", sorted(SAVED_MODELS))
def test_saved_model_parses_like_tensorflow(which: str) -> None:
    record = SAVED_MODELS[which]
    raw = (FIXTURES / record["path"] / "saved_model.pb").read_bytes()
    model = saved_model_pb2.SavedModel()
    model.ParseFromString(raw)
    assert len(model.meta_graphs) == len(record["meta_graphs"])
    for meta, want in zip(model.meta_graphs, record["meta_graphs"]):
        assert list(meta.meta_info_def.tags) == want["tags"]
        assert sorted(op.name for op in meta.meta_info_def.stripped_op_list.op) == want["stripped_ops"]
        assert [[n.name, n.op, list(n.input)] for n in meta.graph_def.node] == want["nodes"]
        assert sorted(f.signature.name for f in meta.graph_def.library.function) == want["functions"]
        assert sum(len(f.node_def) for f in meta.graph_def.library.function) == want["function_nodes"]
        signatures = {
            key: {"inputs": {k: [v.name, v.dtype, [d.size for d in v.tensor_shape.dim]]
                             for k, v in sig.inputs.items()},
                  "outputs": {k: [v.name, v.dtype, [d.size for d in v.tensor_shape.dim]]
                              for k, v in sig.outputs.items()},
                  "method_name": sig.method_name}
            for key, sig in meta.signature_def.items()}
        assert signatures == want["signatures"]
        assert [n.WhichOneof("kind") for n in meta.object_graph_def.nodes] == want["object_kinds"]
        assert {k: list(v.bound_inputs) for k, v in meta.object_graph_def.concrete_functions.items()} == \
            want["concrete_functions"]
        assert sorted(meta.collection_def) == want["collections"]
        assert meta.saver_def.restore_op_name == want["saver_restore_op"]
    # Undeclared fields survive as unknown fields: nothing is lost on re-serialization.
    assert model.ByteSize() == len(raw) == record["meta_graphs"][0]["serialized_size"]


def test_tf1_collections_hold_partitioned_variable_defs() -> None:
    model = saved_model_pb2.SavedModel()
    model.ParseFromString((FIXTURES / SAVED_MODELS["tf1"]["path"] / "saved_model.pb").read_bytes())
    meta = model.meta_graphs[0]
    collection = meta.collection_def["variables"]
    assert collection.WhichOneof("kind") == "bytes_list"
    defs = []
    for blob in collection.bytes_list.value:
        var = variable_pb2.VariableDef()
        var.ParseFromString(blob)
        defs.append(var)
    assert sorted(v.variable_name for v in defs) == ["emb/part_0:0", "emb/part_1:0"]
    for var in defs:
        info = var.save_slice_info_def
        assert info.full_name == "emb" and list(info.full_shape) == [3, 4]
    assert sorted(list(v.save_slice_info_def.var_offset) for v in defs) == [[0, 0], [2, 0]]
    assert meta.saver_def.version == meta.saver_def.V2


def test_tf2_function_library_and_attrs() -> None:
    model = saved_model_pb2.SavedModel()
    model.ParseFromString((FIXTURES / SAVED_MODELS["tf2"]["path"] / "saved_model.pb").read_bytes())
    meta = model.meta_graphs[0]
    assert meta.meta_info_def.stripped_default_attrs
    calls = [n for n in meta.graph_def.node if n.op == "StatefulPartitionedCall"]
    assert calls and calls[0].attr["f"].WhichOneof("value") == "func"
    function_names = {f.signature.name for f in meta.graph_def.library.function}
    assert calls[0].attr["f"].func.name in function_names
    for function in meta.graph_def.library.function:
        assert set(function.ret) == {a.name for a in function.signature.output_arg}
        assert set(function.arg_attr) <= set(range(len(function.signature.input_arg)))
    body_ops = {n.op for f in meta.graph_def.library.function for n in f.node_def}
    assert body_ops >= {"MatMul", "ReadVariableOp", "AddV2", "Sum"}
    concrete = meta.object_graph_def.concrete_functions
    sig = next(v for k, v in concrete.items() if k == calls[0].attr["f"].func.name)
    assert sig.output_signature.WhichOneof("kind") == "dict_value"
    assert set(sig.output_signature.dict_value.fields) == {"y", "total"}


def test_wire_details_that_matter() -> None:
    # A present-but-empty list attr is distinguishable from no value.
    empty_list = attr_value_pb2.AttrValue(list=attr_value_pb2.AttrValue.ListValue())
    assert empty_list.SerializeToString() == b"\x0a\x00"
    parsed = attr_value_pb2.AttrValue.FromString(b"\x0a\x00")
    assert parsed.WhichOneof("value") == "list"
    assert attr_value_pb2.AttrValue.FromString(b"").WhichOneof("value") is None
    # StructuredValue.int64_value is zigzag (sint64): -1 -> 1.
    assert struct_pb2.StructuredValue(int64_value=-1).SerializeToString() == b"\x60\x01"
    # BundleEntryProto.crc32c is fixed32 (tag 0x35 + 4 bytes little-endian).
    entry = tensor_bundle_pb2.BundleEntryProto(crc32c=0x01020304)
    assert entry.SerializeToString() == b"\x35\x04\x03\x02\x01"
    # TensorSliceProto: a whole dimension has no length at all.
    extent = tensor_slice_pb2.TensorSliceProto.Extent(start=0)
    assert not extent.HasField("length")
    assert tensor_slice_pb2.TensorSliceProto.Extent(start=0, length=0).HasField("length")
    # Unpacked repeated ints (legal on the wire) are read as well as packed ones.
    assert list(meta_graph_pb2.CollectionDef.Int64List.FromString(b"\x08\x05\x08\x07").value) == [5, 7]


def test_generated_code_has_no_runtime_version_gate() -> None:
    # Gencode from protoc >= 26 refuses older runtimes; ours must import on protobuf 4.25 .. 7.x.
    for name in MODULES:
        source = (ROOT / "tfjsconv" / "_proto" / f"{name}.py").read_text()
        assert "ValidateProtobufRuntimeVersion" not in source, name
        # Imports between the modules are absolute inside the package, never top-level "x_pb2".
        for line in source.splitlines():
            if line.startswith(("import ", "from ")):
                assert line.startswith(("from google.protobuf", "from tfjsconv._proto import")), line


def test_generated_modules_are_up_to_date(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", "protos", "--python_out=.",
                    *sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "protos").rglob("*.proto"))],
                   cwd=tmp_path, check=True)
    for name in MODULES:
        fresh = (tmp_path / "tfjsconv" / "_proto" / f"{name}.py").read_text()
        assert fresh == (ROOT / "tfjsconv" / "_proto" / f"{name}.py").read_text(), name
