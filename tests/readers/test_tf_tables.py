"""Lookup tables: text-file initializers read in Python, initializer graphs for TF.js."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tfjsconv.errors import InputError
from tfjsconv.ir.graph import as_array
from tfjsconv.ir.types import DType
from tfjsconv.readers.tf_saved_model import load_saved_model
from tfjsconv.readers.tf_tables import read_text_table

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "models"


def test_read_text_table_whole_line_to_line_number(tmp_path: Path) -> None:
    vocab = tmp_path / "vocab.txt"
    vocab.write_bytes(b"red\r\ngreen\nblue\n")
    keys, values = read_text_table(vocab, -2, -1, "\t", -1, 0, DType.STRING, DType.INT64)
    assert keys.tolist() == [b"red", b"green", b"blue"]
    assert values.dtype == np.int64 and values.tolist() == [0, 1, 2]


def test_read_text_table_columns_vocab_size_and_offset(tmp_path: Path) -> None:
    vocab = tmp_path / "pairs.tsv"
    vocab.write_text("7\tseven\n8\teight\n9\tnine\n")
    keys, values = read_text_table(vocab, 1, 0, "\t", 2, 0, DType.STRING, DType.INT32)
    assert keys.tolist() == [b"seven", b"eight"] and values.tolist() == [7, 8]
    keys, values = read_text_table(vocab, 0, -1, "\t", -1, 10, DType.INT64, DType.INT64)
    assert keys.tolist() == [7, 8, 9] and values.tolist() == [10, 11, 12]
    with pytest.raises(InputError, match="vocab_size is 5 but the file has 3 lines"):
        read_text_table(vocab, 0, -1, "\t", 5, 0, DType.INT64, DType.INT64)
    with pytest.raises(InputError, match="not found"):
        read_text_table(tmp_path / "missing.txt", -2, -1, "\t", -1, 0, DType.STRING, DType.INT64)


def _ops(graph) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return graph.op_histogram()


def test_text_file_initializer_becomes_constant_import() -> None:
    loaded = load_saved_model(FIXTURES / "tf_hash_table_vocab_file" / "saved_model", {"serve"},
                              "serving_default")
    init = loaded.initializer
    assert init is not None
    assert _ops(init) == {"Const": 2, "HashTableV2": 1, "LookupTableImportV2": 1}
    imp = init.find("LookupTableImportV2")[0]
    keys = as_array(imp.inputs[1].producer.attrs["value"])
    values = as_array(imp.inputs[2].producer.attrs["value"])
    vocab = (FIXTURES / "tf_hash_table_vocab_file" / "saved_model" / "assets" / "vocab_src.txt").read_text()
    assert [k.decode() for k in keys] == vocab.split()
    assert values.tolist() == list(range(len(keys)))
    # Main graph and initializer name the table alike: TF.js shares it by node name.
    table = init.find("HashTableV2")[0].name
    assert [n.name for n in loaded.graph.find("HashTableV2")] == [table]
    assert "LookupTableFindV2" in _ops(loaded.graph)


@pytest.mark.parametrize("name", ["tf_hash_table", "tf_tf1_hash_table"])
def test_key_value_initializers(name: str) -> None:
    loaded = load_saved_model(FIXTURES / name / "saved_model", {"serve"}, "serving_default")
    init = loaded.initializer
    assert init is not None
    assert set(_ops(init)) == {"Const", "HashTableV2", "LookupTableImportV2"}
    imp = init.find("LookupTableImportV2")[0]
    keys = as_array(imp.inputs[1].producer.attrs["value"])
    assert keys.dtype == object and len(keys) >= 3


def test_model_without_tables_has_no_initializer() -> None:
    loaded = load_saved_model(FIXTURES / "tf_module_dense" / "saved_model", {"serve"}, "serving_default")
    assert loaded.initializer is None
