"""Weight shards and weightsManifest: exact file names, file bytes and manifest entries."""

from __future__ import annotations

import json
import struct
import weakref
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from tfjsconv.errors import InputError, OptionsError
from tfjsconv.ir.graph import LazyArray
from tfjsconv.writers.weights import Weight, write_weights


def files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def write_one(tmp_path: Path, data: np.ndarray, **kwargs: object) -> tuple[dict, bytes]:
    manifest = write_weights([[Weight("w", data)]], tmp_path, **kwargs)  # type: ignore[arg-type]
    (group,) = manifest
    assert group["paths"] == ["group1-shard1of1.bin"]
    (entry,) = group["weights"]
    return entry, (tmp_path / "group1-shard1of1.bin").read_bytes()


# ----- sharding -----------------------------------------------------------------------------------------

def test_three_weights_cut_at_seven_bytes(tmp_path: Path) -> None:
    groups = [[Weight("a", np.array([1.0, 2.0], np.float32)),     # 8 bytes
               Weight("b", np.array([7], np.int32)),              # 4 bytes
               Weight("c", np.array([True, False, True]))]]      # 3 bytes -> 15 in all, 3 shards
    manifest = write_weights(groups, tmp_path, shard_size_bytes=7)
    stream = struct.pack("<2f", 1.0, 2.0) + struct.pack("<i", 7) + bytes([1, 0, 1])
    assert manifest == [{
        "paths": ["group1-shard1of3.bin", "group1-shard2of3.bin", "group1-shard3of3.bin"],
        "weights": [{"name": "a", "shape": [2], "dtype": "float32"},
                    {"name": "b", "shape": [1], "dtype": "int32"},
                    {"name": "c", "shape": [3], "dtype": "bool"}]}]
    assert files(tmp_path) == {"group1-shard1of3.bin": stream[0:7], "group1-shard2of3.bin": stream[7:14],
                               "group1-shard3of3.bin": stream[14:15]}
    assert json.dumps(manifest[0]["weights"][0]) == '{"name": "a", "shape": [2], "dtype": "float32"}'


def test_exact_multiple_of_shard_size_has_no_empty_tail(tmp_path: Path) -> None:
    manifest = write_weights([[Weight("a", np.arange(4, dtype=np.int32))]], tmp_path, shard_size_bytes=8)
    assert manifest[0]["paths"] == ["group1-shard1of2.bin", "group1-shard2of2.bin"]
    assert files(tmp_path)["group1-shard2of2.bin"] == struct.pack("<2i", 2, 3)


def test_default_shard_size_is_4_mib(tmp_path: Path) -> None:
    data = np.arange(1024 * 1024 + 1, dtype=np.float32)  # 4 MiB + 4 bytes
    manifest = write_weights([[Weight("big", data)]], tmp_path)
    assert manifest[0]["paths"] == ["group1-shard1of2.bin", "group1-shard2of2.bin"]
    written = files(tmp_path)
    assert len(written["group1-shard1of2.bin"]) == 4194304
    assert written["group1-shard2of2.bin"] == struct.pack("<f", 1024 * 1024)
    assert written["group1-shard1of2.bin"][-4:] == struct.pack("<f", 1024 * 1024 - 1)


def test_empty_groups_and_empty_weights_write_no_file(tmp_path: Path) -> None:
    groups = [[], [Weight("empty", np.zeros((0, 3), np.float32))], [Weight("x", np.array(5, np.int64))]]
    manifest = write_weights(groups, tmp_path)
    assert manifest == [
        {"paths": [], "weights": []},
        {"paths": [], "weights": [{"name": "empty", "shape": [0, 3], "dtype": "float32"}]},
        {"paths": ["group3-shard1of1.bin"], "weights": [{"name": "x", "shape": [], "dtype": "int32"}]}]
    assert files(tmp_path) == {"group3-shard1of1.bin": struct.pack("<i", 5)}


def test_duplicate_names_across_groups_fail_before_writing(tmp_path: Path) -> None:
    groups = [[Weight("k", np.zeros(2, np.float32))], [Weight("k", np.zeros(2, np.float32))]]
    with pytest.raises(InputError, match="named k"):
        write_weights(groups, tmp_path)
    assert files(tmp_path) == {}


@pytest.mark.parametrize("size", [0, -4, 2.5, True])
def test_bad_shard_size(tmp_path: Path, size: object) -> None:
    with pytest.raises(OptionsError, match="shard size"):
        write_weights([[Weight("a", np.zeros(1, np.float32))]], tmp_path, shard_size_bytes=size)  # type: ignore[arg-type]


# ----- dtype policy -------------------------------------------------------------------------------------

def test_strings_unicode_empty_and_multidimensional(tmp_path: Path) -> None:
    data = np.array([["a", "é"], ["", "日本"]], dtype=object)
    entry, raw = write_one(tmp_path, data)
    assert entry == {"name": "w", "shape": [2, 2], "dtype": "string"}
    assert raw == (b"\x01\x00\x00\x00a" + b"\x02\x00\x00\x00\xc3\xa9" + b"\x00\x00\x00\x00"
                   + b"\x06\x00\x00\x00\xe6\x97\xa5\xe6\x9c\xac")


@pytest.mark.parametrize("data", [np.array([b"ab", b"\xff"], dtype=object), np.array([b"ab", b"\xff"], "S2")])
def test_bytes_strings_are_written_raw(tmp_path: Path, data: np.ndarray) -> None:
    entry, raw = write_one(tmp_path, data)
    assert entry["dtype"] == "string"
    assert raw == b"\x02\x00\x00\x00ab\x01\x00\x00\x00\xff"


def test_numpy_unicode_array(tmp_path: Path) -> None:
    entry, raw = write_one(tmp_path, np.array(["xyz", "ß"]))
    assert entry == {"name": "w", "shape": [2], "dtype": "string"}
    assert raw == b"\x03\x00\x00\x00xyz\x02\x00\x00\x00\xc3\x9f"


def test_string_weights_are_never_quantized(tmp_path: Path) -> None:
    entry, raw = write_one(tmp_path, np.array(["q"], dtype=object), quantization={"uint8": True})
    assert "quantization" not in entry and raw == b"\x01\x00\x00\x00q"


def test_object_array_of_other_objects_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="weight w: object array element 1 is a int"):
        write_one(tmp_path, np.array(["a", 3], dtype=object))


def test_bool_is_one_byte_per_element(tmp_path: Path) -> None:
    entry, raw = write_one(tmp_path, np.array([[True, False], [False, True]]))
    assert entry == {"name": "w", "shape": [2, 2], "dtype": "bool"}
    assert raw == bytes([1, 0, 0, 1])


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_is_interleaved_float32(tmp_path: Path, dtype: type) -> None:
    entry, raw = write_one(tmp_path, np.array([1 + 2j, -3.5 + 0.25j], dtype))
    assert entry == {"name": "w", "shape": [2], "dtype": "complex64"}
    assert raw == struct.pack("<4f", 1.0, 2.0, -3.5, 0.25)


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_wide_and_half_floats_become_float32(tmp_path: Path, dtype: type) -> None:
    entry, raw = write_one(tmp_path, np.array([0.1, -2.5], dtype))
    assert entry == {"name": "w", "shape": [2], "dtype": "float32"}
    assert raw == np.array([0.1, -2.5], dtype).astype(np.float32).tobytes()
    assert struct.unpack("<f", raw[4:])[0] == -2.5


def test_float64_beyond_float32_range_warns(tmp_path: Path) -> None:
    warnings: list[str] = []
    entry, raw = write_one(tmp_path, np.array([1e39, 1.0]), warnings=warnings)
    assert raw[:4] == struct.pack("<f", float("inf"))
    assert len(warnings) == 1 and "weight w" in warnings[0]


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.int16, np.uint8, np.uint16, np.uint32, np.uint64])
def test_integers_become_int32(tmp_path: Path, dtype: type) -> None:
    values = [0, 1, 127] if np.dtype(dtype).kind == "u" else [-128, 0, 127]
    entry, raw = write_one(tmp_path, np.array(values, dtype))
    assert entry == {"name": "w", "shape": [3], "dtype": "int32"}
    assert raw == struct.pack("<3i", *values)


def test_int64_limits_fit_and_overflow_names_the_weight(tmp_path: Path) -> None:
    entry, raw = write_one(tmp_path, np.array([-2**31, 2**31 - 1], np.int64))
    assert raw == struct.pack("<2i", -2**31, 2**31 - 1)
    bad = [Weight("ok", np.zeros(2, np.float32)), Weight("layer/step", np.array([1, 2**31], np.int64))]
    with pytest.raises(InputError, match=r"weight layer/step: int64 value 2147483648 does not fit in int32"):
        write_weights([bad], tmp_path / "out")
    assert files(tmp_path / "out") == {}  # the partial shard of "ok" is removed


@pytest.mark.parametrize("data, value", [(np.array([-2**31 - 1], np.int64), -2**31 - 1),
                                         (np.array([2**32 - 1], np.uint32), 2**32 - 1),
                                         (np.array([2**63], np.uint64), 2**63)])
def test_out_of_range_integers(tmp_path: Path, data: np.ndarray, value: int) -> None:
    with pytest.raises(InputError, match=f"weight w: {data.dtype.name} value {value} "):
        write_one(tmp_path, data)


@pytest.mark.parametrize("data", [np.zeros(2, "V4"), np.zeros(2, "datetime64[s]"),
                                  np.zeros(2, np.longdouble)])
def test_unsupported_dtypes_name_the_weight(tmp_path: Path, data: np.ndarray) -> None:
    if data.dtype.itemsize == 8 and data.dtype.kind == "f":
        pytest.skip("longdouble is float64 on this platform")
    with pytest.raises(InputError, match="weight w has dtype"):
        write_one(tmp_path, data)
    assert files(tmp_path) == {}


# ----- quantization through the writer ------------------------------------------------------------------

def test_quantized_manifest_entries_and_bytes(tmp_path: Path) -> None:
    groups = [[Weight("conv/kernel", np.array([-1.25, 0.0, 62.5], np.float32)),
               Weight("conv/bias", np.array([1.0, -2.0], np.float64)),  # float64 -> float32 -> float16
               Weight("conv/steps", np.array([3], np.int32)),           # int32 is never quantized
               Weight("dense/kernel", np.array([7.0, 7.0], np.float32))]]
    manifest = write_weights(groups, tmp_path, quantization={"uint8": ("*kernel",), "float16": True})
    entries = manifest[0]["weights"]
    assert json.dumps(entries[0]) == ('{"name": "conv/kernel", "shape": [3], "dtype": "float32", '
                                      '"quantization": {"dtype": "uint8", "min": -1.25, "scale": 0.25, '
                                      '"original_dtype": "float32"}}')
    assert json.dumps(entries[1]["quantization"]) == '{"dtype": "float16", "original_dtype": "float32"}'
    assert entries[2] == {"name": "conv/steps", "shape": [1], "dtype": "int32"}
    assert entries[3]["quantization"] == {"dtype": "uint8", "min": 7.0, "scale": 1.0,
                                          "original_dtype": "float32"}
    # uint8 codes 0, 5, 255 | float16 1.0, -2.0 | int32 3 | uint8 0, 0
    assert files(tmp_path)["group1-shard1of1.bin"] == (bytes([0, 5, 255]) + bytes([0, 0x3C, 0, 0xC0])
                                                       + struct.pack("<i", 3) + bytes([0, 0]))


def test_quantization_conflict_raises(tmp_path: Path) -> None:
    group = [Weight("a/kernel", np.zeros(2, np.float32))]
    with pytest.raises(OptionsError, match="a/kernel"):
        write_weights([group], tmp_path, quantization={"uint8": ("a/*",), "uint16": ("*kernel",)})
    with pytest.raises(OptionsError, match="only one"):
        write_weights([group], tmp_path, quantization={"uint8": True, "uint16": True})


def test_float16_overflow_warning_reaches_the_caller(tmp_path: Path) -> None:
    warnings: list[str] = []
    write_weights([[Weight("huge", np.array([1e5], np.float32))]], tmp_path,
                  quantization={"float16": True}, warnings=warnings)
    assert len(warnings) == 1 and "huge" in warnings[0]
    assert files(tmp_path)["group1-shard1of1.bin"] == bytes([0x00, 0x7C])  # +inf in float16


# ----- streaming ----------------------------------------------------------------------------------------

def test_lazy_weights_are_loaded_once_and_one_at_a_time(tmp_path: Path) -> None:
    loads: list[str] = []
    alive: list[weakref.ref] = []

    def loader(name: str, value: float) -> Callable[[], np.ndarray]:
        def load() -> np.ndarray:
            # Every weight loaded before this one has been written and released already.
            assert all(ref() is None for ref in alive), f"{name} loaded while an earlier weight is alive"
            loads.append(name)
            array = np.full(3, value, np.float32)
            alive.append(weakref.ref(array))
            return array
        return load

    lazies = [LazyArray(np.float32, (3,), loader(f"w{i}", float(i))) for i in range(3)]
    manifest = write_weights([[Weight(f"w{i}", lazy) for i, lazy in enumerate(lazies)]], tmp_path,
                             shard_size_bytes=5)
    assert loads == ["w0", "w1", "w2"]
    assert all(lazy._cached is None for lazy in lazies)  # nothing stays pinned in the graph
    assert [w["shape"] for w in manifest[0]["weights"]] == [[3], [3], [3]]
    stream = b"".join(files(tmp_path)[p] for p in manifest[0]["paths"])
    assert stream == np.repeat(np.arange(3, dtype=np.float32), 3).tobytes()
    assert len(manifest[0]["paths"]) == 8  # ceil(36 / 5)
