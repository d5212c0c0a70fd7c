"""Lookup tables: text-file initializers read in Python, initializer graphs for TF.js."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfjsconv
from tfjsconv.errors import InputError, UnsupportedError
from tfjsconv.ir.graph import Graph, Node, Value, as_array
from tfjsconv.ir.types import DType, FuncAttr, Shape
from tfjsconv.options import ConvertOptions
from tfjsconv.readers.tf.saved_model import load_saved_model
from tfjsconv.readers.tf.tables import capture_tables, link_tables, read_text_table
from tfjsconv.writers.graph_model import write_graph_model

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "models"


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
    # As loaded, main graph and initializer name the table alike (the TF1 link; TF2 models are then
    # rewritten to resourceId links by capture_tables, see test_tf2_tables_link_by_resource_id).
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
    # TF.js reads the keys' flat data whatever their rank: only the result needs their shape back.
    assert find.inputs[1].producer.op == "Placeholder" and dict(main.outputs)["ids"].producer.op == "Reshape"

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


def _convert(name: str, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / name
    tfjsconv.convert(FIXTURES / name / "saved_model", out, input_format="tf_saved_model")
    return json.loads((out / "model.json").read_text())


@pytest.mark.parametrize("name", ["tf_hash_table", "tf_hash_table_vocab_file", "tf_keras3_string_lookup"])
def test_tf2_tables_link_by_resource_id(name: str, tmp_path: Path) -> None:
    model = _convert(name, tmp_path)
    assert list(model)[-3:] == ["modelInitializer", "initializerSignature", "weightsManifest"]
    assert list(model["initializerSignature"]) == ["outputs"]
    (init_name, init_out), = model["initializerSignature"]["outputs"].items()
    assert init_out["dtype"] == "DT_RESOURCE" and init_out["name"] == init_name
    resources = {key: info for key, info in model["signature"]["inputs"].items() if "resourceId" in info}
    (key, info), = resources.items()
    assert info["resourceId"] == init_out["resourceId"]
    assert info["dtype"] == "DT_RESOURCE" and info["tensorShape"] == {}
    assert "resourceId" not in model["signature"]["inputs"]["words"]
    init_ops = [n["op"] for n in model["modelInitializer"]["node"]]
    assert init_ops.count("HashTableV2") == 1 and init_ops.count("LookupTableImportV2") == 1
    table = next(n["name"] for n in model["modelInitializer"]["node"] if n["op"] == "HashTableV2")
    main = {n["name"]: n for n in model["modelTopology"]["node"]}
    assert not [n for n in main.values() if n["op"] in ("HashTableV2", "LookupTableImportV2")]
    placeholder = main[info["name"].split(":")[0]]
    # Named apart from the table: TF.js would resolve an input named like a table by name.
    assert placeholder["op"] == "Placeholder" and placeholder["name"] != table
    assert placeholder["attr"]["dtype"] == {"type": "DT_RESOURCE"}
    finds = [n for n in main.values() if n["op"] == "LookupTableFindV2"]
    assert finds and all(n["input"][0] == placeholder["name"] for n in finds)


def test_tf1_tables_link_by_node_name(tmp_path: Path) -> None:
    model = _convert("tf_tf1_hash_table", tmp_path)
    assert "initializerSignature" not in model
    assert all("resourceId" not in info for info in model["signature"]["inputs"].values())
    assert [n["op"] for n in model["modelInitializer"]["node"]].count("LookupTableImportV2") == 1
    init_tables = [n["name"] for n in model["modelInitializer"]["node"] if n["op"] == "HashTableV2"]
    main_tables = [n["name"] for n in model["modelTopology"]["node"] if n["op"] == "HashTableV2"]
    assert init_tables == main_tables and len(main_tables) == 1


# ----- tables used inside If / While bodies ---------------------------------------------------------
_TABLE_ATTRS = {"key_dtype": DType.STRING, "value_dtype": DType.INT32}
_FIND_ATTRS = {"Tin": DType.STRING, "Tout": DType.INT32}


def _arg(body: Graph, name: str, dtype: DType, shape: tuple[int, ...] = ()) -> Value:
    node = body.add_node("Placeholder", attrs={"dtype": dtype, "shape": Shape.of(shape)}, name=name)
    node.output(0).dtype, node.output(0).shape = dtype, Shape.of(shape)
    body.inputs.append(node)
    return node.output(0)


def _add(graph: Graph, op: str, inputs: list[Value], attrs: dict[str, Any], name: str,
         dtype: DType = DType.INT32, shape: tuple[int, ...] = (-1,)) -> Value:
    value = graph.add_node(op, inputs, attrs, name=name).output(0)
    value.dtype, value.shape = dtype, Shape.of(shape)
    return value


def _int(graph: Graph, value: int, name: str) -> Value:
    out = graph.add_const(np.array(value, dtype=np.int32), name=name).output(0)
    out.dtype, out.shape = DType.INT32, Shape.of(())
    return out


def _loop_and_branch_graph(variant_keys: bool) -> tuple[Graph, Graph]:
    """acc = find(words) * (n + 1) by a While whose body looks the words up, and
    pick = find(words, default -5) if n > 2 else find(words, default -7) by an If.
    The table handle, the words and the default reach the bodies as arguments, as TF2 writes them.
    With ``variant_keys`` the loop body hands back a new words tensor, so its lookup cannot move."""
    i32, res, text = DType.INT32, DType.RESOURCE, DType.STRING
    loop_vars = (("i", i32, ()), ("acc", i32, (-1,)), ("n", i32, ()), ("h", res, ()), ("d", i32, ()),
                 ("w", text, (-1,)))
    cond = Graph(name="loop_cond")
    ci, _, cn, _, _, _ = (_arg(cond, n, t, s) for n, t, s in loop_vars)
    cond.outputs = [("go", _add(cond, "Less", [ci, cn], {"T": i32}, "less", DType.BOOL, ()))]
    body = Graph(name="loop_body")
    bi, bacc, bn, bh, bd, bw = (_arg(body, n, t, s) for n, t, s in loop_vars)
    found = _add(body, "LookupTableFindV2", [bh, bw, bd], _FIND_ATTRS, "find")
    next_w = _add(body, "Identity", [bw], {"T": text}, "next_w", text) if variant_keys else bw
    body.outputs = [("i", _add(body, "AddV2", [bi, _int(body, 1, "one")], {"T": i32}, "next_i", shape=())),
                    ("acc", _add(body, "AddV2", [bacc, found], {"T": i32}, "next_acc")),
                    ("n", bn), ("h", bh), ("d", bd), ("w", next_w)]
    branches = {}
    for name, default in (("then_f", -5), ("else_f", -7)):
        branch = Graph(name=name)
        h, w = _arg(branch, "h", res), _arg(branch, "w", text, (-1,))
        branch.outputs = [("out", _add(branch, "LookupTableFindV2", [h, w, _int(branch, default, "default")],
                                       _FIND_ATTRS, "find"))]
        branches[name] = branch

    main = Graph(name="main")
    words, n = _arg(main, "words", text, (-1,)), _arg(main, "n", i32)
    main.input_keys = ["words", "n"]
    table = main.add_node("HashTableV2", attrs=dict(_TABLE_ATTRS), name="table").output(0)
    table.dtype = res
    handle = _add(main, "Identity", [table], {"T": res}, "table_read", res, ())
    default = _int(main, -1, "default")
    start = _add(main, "LookupTableFindV2", [handle, words, default], _FIND_ATTRS, "start")
    loop = main.add_node("While", [_int(main, 0, "zero"), start, n, handle, default, words], {
        "T": [i32, i32, i32, res, i32, text], "cond": FuncAttr("loop_cond"), "body": FuncAttr("loop_body"),
        "output_shapes": [Shape.of(s) for s in ((), (-1,), (), (), (), (-1,))], "parallel_iterations": 10},
        name="loop", num_outputs=6)
    for value, dtype in zip(loop.outputs, (i32, i32, i32, res, i32, text)):
        value.dtype = dtype
    pred = _add(main, "Greater", [n, _int(main, 2, "two")], {"T": i32}, "pred", DType.BOOL, ())
    pick = main.add_node("If", [pred, handle, words], {
        "Tcond": DType.BOOL, "Tin": [res, text], "Tout": [i32], "then_branch": FuncAttr("then_f"),
        "else_branch": FuncAttr("else_f"), "output_shapes": [Shape.of((-1,))]}, name="pick")
    pick.output(0).dtype = i32
    main.functions = {"loop_cond": cond, "loop_body": body, **branches}
    main.outputs = [("acc", loop.output(1)), ("pick", pick.output(0))]

    init = Graph(name="initializer")
    init_table = init.add_node("HashTableV2", attrs=dict(_TABLE_ATTRS), name="table")
    keys = init.add_const(np.array([b"red", b"green", b"blue"], dtype=object), name="keys", dtype=text)
    values = init.add_const(np.array([7, 8, 9], dtype=np.int32), name="values")
    init.add_node("LookupTableImportV2", [init_table.output(0), keys.output(0), values.output(0)],
                  dict(_FIND_ATTRS), name="import", num_outputs=0)
    return main, init


def _table_ops(graph: Graph) -> list[Node]:
    return [n for n in graph.nodes if "Table" in n.op]


def test_body_lookups_are_hoisted_and_run_in_tfjs(tmp_path: Path, tfjs) -> None:  # type: ignore[no-untyped-def]
    main, init = _loop_and_branch_graph(variant_keys=False)
    link_tables(main)
    capture_tables(main, init)
    # TF.js 4.22 gives function bodies no table resources: every lookup now runs in the main graph.
    for name, body in main.functions.items():
        assert _table_ops(body) == [], name
    assert sorted(n.op for n in _table_ops(main)) == ["LookupTableFindV2"] * 4
    loop, pick = main.node("loop"), main.node("pick")
    assert len(loop.inputs) == len(loop.outputs) == len(loop.attrs["T"]) == 7
    assert loop.inputs[-1].producer.op == "LookupTableFindV2"
    assert len(pick.inputs) == 5 and len(pick.attrs["Tin"]) == 4
    arity = [len(main.functions[f].inputs) for f in ("loop_cond", "loop_body", "then_f", "else_f")]
    assert arity == [7, 7, 4, 4]
    out = tmp_path / "model"
    out.mkdir()
    model = write_graph_model(main, out, ConvertOptions(), initializer=init)
    (init_out,) = model["initializerSignature"]["outputs"].values()
    assert model["signature"]["inputs"]["table/resource:0"]["resourceId"] == init_out["resourceId"]
    words = np.array([b"red", b"x", b"blue"], dtype=object)
    for n, pick_expected in ((3, [7, -5, 9]), (1, [7, -7, 9])):
        got = dict(tfjs.run_named(out, "graph", [("words", words), ("n", np.array(n, np.int32))],
                                  ["acc", "pick"], label=f"table-in-bodies-{n}"))
        np.testing.assert_array_equal(got["acc"], np.array([7, -1, 9]) * (n + 1))
        np.testing.assert_array_equal(got["pick"], pick_expected)


def test_body_lookup_of_changing_keys_is_refused() -> None:
    main, _ = _loop_and_branch_graph(variant_keys=True)
    with pytest.raises(UnsupportedError, match=r"inside an If/While body.*find \(in loop_body\)"):
        link_tables(main)
