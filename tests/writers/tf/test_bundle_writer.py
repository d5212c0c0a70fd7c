"""The checkpoint writer: TensorFlow's own checkpoints rewritten byte for byte, and every dtype read back."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pytest

from tfjsconv.ir.graph import LazyArray
from tfjsconv.ir.types import DType
from tfjsconv.readers.tf.bundle import TensorBundle
from tfjsconv.readers.tf.sstable import read_table
from tfjsconv.writers.tf.bundle import BundleWriter, write_bundle
from tfjsconv.writers.tf.sstable import build_table, short_successor, shortest_separator

CHECKPOINTS = Path(__file__).resolve().parents[3] / "fixtures" / "checkpoints"
# Written by TensorFlow 2.21 (fixtures/generate/checkpoints.py); one data shard each.
TF_WRITTEN = ("tf2_object/ckpt", "multi_block/ckpt", "saved_model_tf2/variables/variables")


def _rewrite(prefix: Path, out: Path) -> list[Path]:
    """Every tensor of a TensorFlow checkpoint written again, in TensorFlow's data-file order."""
    source = TensorBundle.open(prefix)
    keys = sorted(source.keys(), key=lambda k: (source.proto(k).shard_id, source.proto(k).offset,
                                                source.proto(k).size))
    writer = BundleWriter(out)
    for key in keys:
        dtype, _ = source.entry(key)
        writer.add(key, source.read(key), dtype)
    return writer.finish()


@pytest.mark.parametrize("name", TF_WRITTEN)
def test_tensorflow_checkpoints_are_rewritten_byte_for_byte(tmp_path: Path, name: str) -> None:
    prefix = CHECKPOINTS / name
    written = _rewrite(prefix, tmp_path / "ckpt")
    assert [p.name for p in written] == ["ckpt.index", "ckpt.data-00000-of-00001"]
    assert filecmp.cmp(written[0], f"{prefix}.index", shallow=False)
    assert filecmp.cmp(written[1], f"{prefix}.data-00000-of-00001", shallow=False)


def test_every_dtype_reads_back_bit_for_bit(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    tensors = {
        "f32": rng.standard_normal((3, 4)).astype(np.float32),
        "f64": rng.standard_normal(5),
        "f16": rng.standard_normal(7).astype(np.float16),
        "i8": np.array([-128, 0, 127], np.int8),
        "u16": np.array([0, 65535], np.uint16),
        "i64": np.array([[-(2 ** 62), 2 ** 62 + 3]], np.int64),
        "bool": np.array([True, False, True]),
        "c64": np.array([1 + 2j, -3.5j], np.complex64),
        "scalar": np.array(2.5, np.float32),
        "empty": np.zeros((0, 3), np.float32),
        "strings": np.array([b"", b"abc", "h\u00e9".encode(), bytes(range(256))], dtype=object).reshape(2, 2),
        "nan": np.array([np.nan, np.inf, -0.0], np.float32),
    }
    write_bundle(tmp_path / "ckpt", list(tensors.items()))
    with TensorBundle.open(tmp_path / "ckpt") as bundle:
        assert bundle.keys() == sorted(tensors)
        assert bundle.verify() > 0
        for key, want in tensors.items():
            got = bundle.read(key)
            assert got.shape == want.shape and got.dtype == want.dtype, key
            if want.dtype == object:
                assert got.tolist() == want.tolist()
            else:
                assert got.tobytes() == np.ascontiguousarray(want).tobytes(), key


def test_bfloat16_and_lazy_values(tmp_path: Path) -> None:
    exact = np.array([1.0, -2.5, 3.140625], np.float32)  # representable in bfloat16
    lazy = LazyArray(np.float32, (2,), lambda: np.array([7.0, 8.0], np.float32))
    writer = BundleWriter(tmp_path / "ckpt")
    writer.add("bf16", exact, DType.BFLOAT16)
    writer.add("lazy", lazy)
    writer.finish()
    with TensorBundle.open(tmp_path / "ckpt") as bundle:
        assert bundle.entry("bf16") == (DType.BFLOAT16, (3,))
        assert bundle.proto("bf16").size == 6
        np.testing.assert_array_equal(bundle.read("bf16"), exact)
        np.testing.assert_array_equal(bundle.read("lazy"), [7.0, 8.0])


def test_shards_split_at_the_size_limit(tmp_path: Path) -> None:
    tensors = [(f"t{i}", np.full(100, i, np.float32)) for i in range(5)]  # 400 bytes each
    files = write_bundle(tmp_path / "ckpt", tensors, shard_size_bytes=900)
    assert [f.name for f in files] == ["ckpt.index"] + [f"ckpt.data-0000{i}-of-00003" for i in range(3)]
    assert [f.stat().st_size for f in files[1:]] == [800, 800, 400]
    assert not list(tmp_path.glob("*.partial"))
    with TensorBundle.open(tmp_path / "ckpt") as bundle:
        assert [bundle.proto(f"t{i}").shard_id for i in range(5)] == [0, 0, 1, 1, 2]
        for i in range(5):
            np.testing.assert_array_equal(bundle.read(f"t{i}"), np.full(100, i, np.float32))


def test_empty_checkpoint_has_a_header_and_one_data_file(tmp_path: Path) -> None:
    files = write_bundle(tmp_path / "ckpt", [])
    assert [f.name for f in files] == ["ckpt.index", "ckpt.data-00000-of-00001"]
    with TensorBundle.open(tmp_path / "ckpt") as bundle:
        assert bundle.keys() == [] and bundle.header.num_shards == 1


def test_duplicate_key_is_refused(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "ckpt")
    writer.add("a", np.zeros(1, np.float32))
    with pytest.raises(ValueError, match="added twice"):
        writer.add("a", np.zeros(1, np.float32))


# ----- the SSTable container ---------------------------------------------------------------------------

def test_separators_follow_leveldb() -> None:
    assert shortest_separator(b"abcdef", b"abzzz") == b"abd"
    assert shortest_separator(b"abc", b"abcd") == b"abc"  # a prefix: unchanged
    assert shortest_separator(b"ab\xff", b"ac") == b"ab\xff"
    assert shortest_separator(b"abc", b"abd") == b"abc"  # c + 1 is not below d
    assert short_successor(b"\xff\xffab") == b"\xff\xffb"
    assert short_successor(b"\xff\xff") == b"\xff\xff"


def test_many_entries_span_blocks_and_read_back(tmp_path: Path) -> None:
    rows = [(f"key/{i:06d}".encode() + b"k" * 300, bytes([i % 256]) * (i % 50)) for i in range(2000)]
    data = build_table(rows)
    assert len(data) > 2 * 262144  # several data blocks
    assert read_table(data, tmp_path / "t.index") == rows
    with pytest.raises(ValueError, match="strictly ascending"):
        build_table([(b"b", b""), (b"a", b"")])
