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


def _table_model(tmp_path: Path) -> Path:
    """A hand-built graph model: rank-2 string keys looked up in a table the initializer fills."""
    from tfjsconv.ir.graph import Graph
    from tfjsconv.ir.types import Shape
    from tfjsconv.options import ConvertOptions
    from tfjsconv.readers.tf_tables import link_tables
    from tfjsconv.writers.graph_model import write_graph_model

    table_attrs = {"key_dtype": DType.STRING, "value_dtype": DType.INT32}
    main = Graph(name="main")
    words = main.add_node("Placeholder", attrs={"dtype": DType.STRING, "shape": Shape.of((-1, 3))},
                          name="words")
    words.output(0).shape = Shape.of((-1, 3))
    table = main.add_node("HashTableV2", attrs=table_attrs, name="table")
    default = main.add_const(np.array(-1, dtype=np.int32), name="default")
    find = main.add_node("LookupTableFindV2", [table.output(0), words.output(0), default.output(0)],
                         {"Tin": DType.STRING, "Tout": DType.INT32}, name="find")
    main.inputs, main.input_keys = [words], ["words"]
    main.outputs = [("ids", find.output(0))]
    link_tables(main)
    assert find.inputs[1].producer.op == "Reshape" and dict(main.outputs)["ids"].producer.op == "Reshape"

    init = Graph(name="initializer")
    init_table = init.add_node("HashTableV2", attrs=table_attrs, name="table")
    keys = np.array([b"red", b"green", b"blue"], dtype=object)
    key_const = init.add_const(keys, name="keys", dtype=DType.STRING)
    value_const = init.add_const(np.array([7, 8, 9], dtype=np.int32), name="values")
    init.add_node("LookupTableImportV2", [init_table.output(0), key_const.output(0), value_const.output(0)],
                  {"Tin": DType.STRING, "Tout": DType.INT32}, name="import", num_outputs=0)
    out = tmp_path / "model"
    out.mkdir()
    write_graph_model(main, out, ConvertOptions(), initializer=init)
    return out


def test_rank_two_lookup_runs_in_tfjs(tmp_path: Path, tfjs) -> None:  # type: ignore[no-untyped-def]
    model = _table_model(tmp_path)
    words = np.array([[b"red", b"x", b"blue"], [b"green", b"green", b"y"]], dtype=object)
    (name, ids), = tfjs.run_named(model, "graph", [("words", words)], ["ids"], label="table-rank2")
    assert name == "ids"
    np.testing.assert_array_equal(ids, [[7, -1, 9], [8, 8, -1]])
