"""The tensor-bundle reader against checkpoints TensorFlow 2.21 wrote (fixtures/checkpoints/)."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tfjsconv._proto.tensor_bundle_pb2 import BundleEntryProto, BundleHeaderProto
from tfjsconv.errors import InputError
from tfjsconv.ir.graph import LazyArray
from tfjsconv.ir.types import DType
from tfjsconv.readers.tf import sstable
from tfjsconv.readers.tf.bundle import OBJECT_GRAPH_KEY, TensorBundle, decode_slice_key
from tfjsconv.readers.tf.crc32c import crc32c, mask

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "checkpoints"
EXPECTED: dict[str, Any] = json.loads((FIXTURES / "expected.json").read_text())["checkpoints"]


def prefix_of(name: str) -> Path:
    return FIXTURES / EXPECTED[name]["prefix"]


def copy_checkpoint(name: str, dest: Path) -> Path:
    prefix = prefix_of(name)
    for path in prefix.parent.glob(prefix.name + ".*"):
        shutil.copy(path, dest / path.name)
    return dest / prefix.name


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def assert_matches(array: np.ndarray, record: dict[str, Any]) -> None:
    assert list(array.shape) == record["shape"]
    if "hex" in record:
        assert array.dtype == object
        assert [bytes(v).hex() for v in array.reshape(-1)] == record["hex"]
    else:
        expected = np.array(record["values"], dtype=array.dtype).reshape(record["shape"])
        assert np.array_equal(array, expected), (array, expected)


# ----- values -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_tensor_equals_what_tensorflow_reads(name: str) -> None:
    record = EXPECTED[name]
    with TensorBundle.open(prefix_of(name)) as bundle:
        if "keys_sha256" in record:  # large checkpoints record a sample of tensors and a key digest
            assert len(bundle.keys()) == record["key_count"]
            assert hashlib.sha256("\n".join(bundle.keys()).encode()).hexdigest() == record["keys_sha256"]
        else:
            assert bundle.keys() == sorted(record["tensors"])
        assert bundle.header.num_shards == record["num_shards"]
        for key, tensor in record["tensors"].items():
            dtype, shape = bundle.entry(key)
            assert int(dtype) == tensor["dtype"], key
            assert list(shape) == tensor["shape"], key
            lazy = bundle.tensor(key)
            assert isinstance(lazy, LazyArray)
            assert lazy.shape == tuple(tensor["shape"])
            array = lazy.materialize()
            assert array.dtype == lazy.dtype
            if key != OBJECT_GRAPH_KEY:
                assert_matches(array, tensor)
        assert bundle.verify() > 0


def test_dtypes_of_the_tf2_checkpoint() -> None:
    with TensorBundle.open(prefix_of("tf2_object")) as bundle:
        def read(name: str) -> np.ndarray:
            return bundle.read(f"{name}/.ATTRIBUTES/VARIABLE_VALUE")

        assert read("dense/kernel").dtype == np.float32
        assert read("f64").dtype == np.float64 and read("f64")[0, 1] == -2e300
        assert read("f16").dtype == np.float16 and read("f16")[1] == -65504
        assert bundle.entry("bf16/.ATTRIBUTES/VARIABLE_VALUE")[0] == DType.BFLOAT16
        assert read("bf16").dtype == np.float32 and list(read("bf16")[:2]) == [1.5, -3.25]
        assert read("i64").dtype == np.int64 and read("i64")[0, 0] == -(2**62)
        assert read("i32").tolist() == [-2147483648, 7, 2147483647]
        assert read("u8").tolist() == [0, 128, 255]
        assert read("flags").dtype == np.bool_ and read("flags").tolist() == [[True, False, True]]
        assert read("words").tolist() == [b"hello", b"", "\u00e9t\u00e9".encode(), b"\x00\xff\x80" * 50]
        assert read("scalar").shape == () and read("scalar") == 42.0
        assert read("empty").shape == (0, 3)
        # Numeric tensors are views of the read-only mapping, not copies.
        assert not read("dense/kernel").flags.writeable


def test_object_graph_is_parsed() -> None:
    expected = EXPECTED["tf2_object"]["object_graph"]
    with TensorBundle.open(prefix_of("tf2_object")) as bundle:
        graph = bundle.object_graph()
    assert graph is not None
    assert len(graph.nodes) == len(expected)
    for node, want in zip(graph.nodes, expected):
        assert [[c.node_id, c.local_name] for c in node.children] == want["children"]
        assert [[a.name, a.full_name, a.checkpoint_key] for a in node.attributes] == want["attributes"]
    keys = {a.checkpoint_key for n in graph.nodes for a in n.attributes}
    assert "dense/kernel/.ATTRIBUTES/VARIABLE_VALUE" in keys


def test_tf1_checkpoint_has_no_object_graph() -> None:
    with TensorBundle.open(prefix_of("tf1_partitioned")) as bundle:
        assert bundle.object_graph() is None


# ----- partitioned variables ----------------------------------------------------------------------

def test_partitioned_variables_are_reassembled_and_slices_hidden() -> None:
    with TensorBundle.open(prefix_of("tf1_partitioned")) as bundle:
        assert bundle.keys() == ["part/emb", "part/wide", "plain/w", "step"]
        assert bundle.is_partitioned("part/emb") and bundle.is_partitioned("part/wide")
        assert not bundle.is_partitioned("plain/w")
        assert len(bundle.proto("part/emb").slices) == 2
        assert len(bundle.proto("part/wide").slices) == 3
        emb = bundle.read("part/emb")
        wide = bundle.read("part/wide")
    assert np.array_equal(emb, np.arange(15, dtype=np.float32).reshape(5, 3) * -1.5)
    assert np.array_equal(wide, np.arange(14, dtype=np.int32).reshape(2, 7) - 3)


def test_sharded_checkpoint_slices_variables_across_shards() -> None:
    with TensorBundle.open(prefix_of("sharded")) as bundle:
        assert bundle.header.num_shards == 3
        shards = {bundle.proto(k).shard_id for k in bundle.keys() if not bundle.is_partitioned(k)}
        assert shards == {0, 1, 2}
        split = [k for k in bundle.keys() if bundle.is_partitioned(k)]
        assert split  # MaxShardSizePolicy cuts at least one variable in two
        for i in range(6):
            value = bundle.read(f"vs/{i}/.ATTRIBUTES/VARIABLE_VALUE")
            assert np.array_equal(value, np.arange(300, dtype=np.float32) + 1000 * i)


def encode_signed(value: int) -> bytes:
    """SignedNumIncreasing per FORMATS.md §2.6, written independently of the decoder."""
    length = next((n for n in range(1, 10) if -(1 << (7 * n - 1)) <= value < (1 << (7 * n - 1))), 10)
    raw = value & ((1 << (8 * length)) - 1)
    header = ((1 << length) - 1) << (7 * length)
    return (raw ^ header).to_bytes(length, "big")


def test_slice_key_decoding() -> None:
    observed = b"\x00part/emb\x00\x01\x01\x02\x80\x82\x80\x82"  # FORMATS.md §2.6, written by TF 2.21
    assert decode_slice_key(observed) == ("part/emb", ((0, 2), (0, 2)))
    assert encode_signed(-100) == b"\x3f\x9c" and encode_signed(100) == b"\xc0\x64"
    assert encode_signed(5000) == b"\xd3\x88" and encode_signed(-1) == b"\x7f"
    rng = np.random.default_rng(0)
    values = [0, -1, 63, 64, -64, -65, 2**55 - 1, 2**55, -(2**55), 2**62, 2**63 - 1, -(2**63)]
    values += [int(v) for v in rng.integers(-(2**63), 2**63 - 1, 200, dtype=np.int64)]
    values += [int(v) >> int(s) for v, s in zip(rng.integers(-(2**63), 2**63 - 1, 200, dtype=np.int64),
                                                rng.integers(0, 63, 200))]
    for start in values:
        key = b"\x00a\x00\xff\xff\x00b\x00\x01\x01\x01" + encode_signed(start) + encode_signed(-1)
        assert decode_slice_key(key) == ("a\x00\udcffb", ((start, -1),)), start
    with pytest.raises(ValueError):
        decode_slice_key(b"\x00abc")  # no terminator


# ----- corruption and missing pieces --------------------------------------------------------------

def index_separators(index_file: Path) -> list[bytes]:
    data = index_file.read_bytes()
    footer = len(data) - sstable.FOOTER_SIZE
    _, pos = sstable._read_handle(data, footer, footer + 40)
    handle, _ = sstable._read_handle(data, pos, footer + 40)
    contents = sstable._block_contents(data, handle, index_file, "index block")
    return [key for key, _ in sstable._block_entries(contents, handle.offset, index_file)]


def test_index_with_several_data_blocks_never_returns_separators() -> None:
    index_file = Path(str(prefix_of("multi_block")) + ".index")
    separators = index_separators(index_file)
    assert len(separators) >= 2  # TensorFlow's 256 KiB data blocks
    with TensorBundle.open(prefix_of("multi_block")) as bundle:
        names = [f"block_test/{i:04d}_" + "k" * 200 for i in range(1300)]
        # A separator may equal a block's last key, but the last one ("c" here) is no variable.
        assert separators[-1].decode() not in names
        assert bundle.keys() == names
        boundary = names.index(separators[0].decode())
        for i in (0, boundary, boundary + 1, 1299):  # both sides of the block boundary
            assert bundle.read(names[i]) == np.float32(i * 0.5)


def test_flipped_byte_in_index_block_is_a_checksum_error(tmp_path: Path) -> None:
    prefix = copy_checkpoint("multi_block", tmp_path)
    index = Path(str(prefix) + ".index")
    flip_byte(index, 270_000)  # inside the second data block
    with pytest.raises(InputError, match=r"checksum mismatch in block at offset \d+") as info:
        TensorBundle.open(prefix)
    assert info.value.path == str(index)
    assert str(index) in str(info.value)


def test_flipped_byte_in_data_fails_lazily_naming_file_and_tensor(tmp_path: Path) -> None:
    prefix = copy_checkpoint("tf2_object", tmp_path)
    key = "dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    with TensorBundle.open(prefix) as clean:
        offset = clean.proto(key).offset
    data_file = Path(str(prefix) + ".data-00000-of-00001")
    flip_byte(data_file, offset + 5)
    bundle = TensorBundle.open(prefix)  # the index is fine, data is only read on demand
    assert bundle.read("i32/.ATTRIBUTES/VARIABLE_VALUE").tolist() == [-2147483648, 7, 2147483647]
    lazy = bundle.tensor(key)
    with pytest.raises(InputError, match=f"checksum mismatch in tensor '{key}'") as info:
        lazy.materialize()
    assert info.value.path == str(data_file)
    with pytest.raises(InputError, match="checksum mismatch"):
        bundle.verify()
    unchecked = TensorBundle.open(prefix, verify_checksums=False).read(key)
    assert unchecked.shape == (3, 4)


def test_flipped_byte_in_string_tensor(tmp_path: Path) -> None:
    prefix = copy_checkpoint("tf2_object", tmp_path)
    key = "words/.ATTRIBUTES/VARIABLE_VALUE"
    with TensorBundle.open(prefix) as clean:
        entry = clean.proto(key)
    data_file = Path(str(prefix) + ".data-00000-of-00001")
    flip_byte(data_file, entry.offset + entry.size - 3)  # inside the string bytes
    with pytest.raises(InputError, match=f"checksum mismatch in tensor '{key}'") as info:
        TensorBundle.open(prefix).read(key)
    assert info.value.path == str(data_file)
    flip_byte(data_file, entry.offset + entry.size - 3)
    flip_byte(data_file, entry.offset)  # the first length prefix: 5 -> 4
    with pytest.raises(InputError, match=f"tensor '{key}'"):
        TensorBundle.open(prefix).read(key)


def test_missing_shard_names_the_file(tmp_path: Path) -> None:
    prefix = copy_checkpoint("sharded", tmp_path)
    missing = Path(str(prefix) + ".data-00001-of-00003")
    missing.unlink()
    with pytest.raises(InputError, match="missing checkpoint data shard ckpt.data-00001-of-00003") as info:
        TensorBundle.open(prefix)
    assert info.value.path == str(missing)


def test_missing_key_and_missing_index(tmp_path: Path) -> None:
    with TensorBundle.open(prefix_of("tf2_object")) as bundle:
        assert "no/such/var" not in bundle
        with pytest.raises(InputError, match="no tensor named 'no/such/var'"):
            bundle.tensor("no/such/var")
    with pytest.raises(InputError, match="checkpoint index not found") as info:
        TensorBundle.open(tmp_path / "nothing")
    assert info.value.path == str(tmp_path / "nothing.index")
    (tmp_path / "v1ckpt").write_bytes(b"old format")
    with pytest.raises(InputError, match="V1 checkpoint"):
        TensorBundle.open(tmp_path / "v1ckpt")


def test_truncated_index_and_bad_magic(tmp_path: Path) -> None:
    prefix = copy_checkpoint("tf2_object", tmp_path)
    index = Path(str(prefix) + ".index")
    original = index.read_bytes()
    index.write_bytes(original[:30])
    with pytest.raises(InputError, match="truncated checkpoint index: 30 bytes") as info:
        TensorBundle.open(prefix)
    assert info.value.path == str(index)
    index.write_bytes(original[:-1] + b"\x00")
    with pytest.raises(InputError, match="bad magic"):
        TensorBundle.open(prefix)
    # Cutting the front shifts the footer's block handles past the end of the file.
    index.write_bytes(original[len(original) // 2:])
    with pytest.raises(InputError, match="truncated checkpoint index|checksum mismatch"):
        TensorBundle.open(prefix)


def test_truncated_data_file(tmp_path: Path) -> None:
    prefix = copy_checkpoint("tf2_object", tmp_path)
    data_file = Path(str(prefix) + ".data-00000-of-00001")
    data_file.write_bytes(data_file.read_bytes()[:100])
    bundle = TensorBundle.open(prefix)
    with pytest.raises(InputError, match="truncated checkpoint data") as info:
        bundle.verify()
    assert info.value.path == str(data_file)


# ----- hand-built bundles: byte order and compression ---------------------------------------------

def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _block(entries: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(_varint(0) + _varint(len(k)) + _varint(len(v)) + k + v for k, v in entries)
    return body + struct.pack("<II", 0, 1)  # one restart point at offset 0


def _with_trailer(contents: bytes, kind: int = 0) -> bytes:
    return contents + bytes([kind]) + struct.pack("<I", mask(crc32c(bytes([kind]), crc32c(contents))))


def write_bundle(prefix: Path, arrays: dict[str, np.ndarray], big_endian: bool = False,
                 compression: int = 0) -> None:
    """A minimal bundle writer from FORMATS.md §2, independent of the reader."""
    data = bytearray()
    entries = []
    header = BundleHeaderProto(num_shards=1, endianness=BundleHeaderProto.BIG if big_endian else 0)
    entries.append((b"", header.SerializeToString()))
    for key in sorted(arrays):
        array = arrays[key]
        raw = array.astype(array.dtype.newbyteorder(">" if big_endian else "<")).tobytes()
        entry = BundleEntryProto(dtype=int(DType.from_numpy(array.dtype)), offset=len(data), size=len(raw),
                                 crc32c=mask(crc32c(raw)))
        for dim in array.shape:
            entry.shape.dim.add(size=dim)
        entries.append((key.encode(), entry.SerializeToString()))
        data += raw
    index = bytearray(_with_trailer(_block(entries), compression))
    meta_offset = len(index)
    index += _with_trailer(_block([]))
    index_offset = len(index)
    # The index entry points at the data block (offset 0, contents size).
    data_block_size = meta_offset - 5
    index_block = _block([(b"\xff", _varint(0) + _varint(data_block_size))])
    index += _with_trailer(index_block)
    footer = (_varint(meta_offset) + _varint(index_offset - meta_offset - 5)
              + _varint(index_offset) + _varint(len(index_block)))
    footer = footer.ljust(40, b"\0") + struct.pack("<Q", sstable.TABLE_MAGIC)
    Path(str(prefix) + ".index").write_bytes(bytes(index) + footer)
    Path(str(prefix) + ".data-00000-of-00001").write_bytes(bytes(data))


def test_big_endian_bundle_is_byte_swapped(tmp_path: Path) -> None:
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5,
              "b": np.array([1, -2, 2**40], dtype=np.int64), "c": np.array([True, False])}
    write_bundle(tmp_path / "le", arrays)
    write_bundle(tmp_path / "be", arrays, big_endian=True)
    assert Path(str(tmp_path / "le") + ".data-00000-of-00001").read_bytes() != \
        Path(str(tmp_path / "be") + ".data-00000-of-00001").read_bytes()
    for name in ("le", "be"):
        with TensorBundle.open(tmp_path / name) as bundle:
            assert bundle.keys() == ["a", "b", "c"]
            for key, want in arrays.items():
                got = bundle.read(key)
                assert got.dtype == want.dtype and np.array_equal(got, want), (name, key)


def test_snappy_block_is_a_clear_error(tmp_path: Path) -> None:
    write_bundle(tmp_path / "z", {"a": np.zeros(3, np.float32)}, compression=1)
    with pytest.raises(InputError, match="Snappy-compressed") as info:
        TensorBundle.open(tmp_path / "z")
    assert info.value.path == str(tmp_path / "z.index")
