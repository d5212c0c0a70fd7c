"""Broken TensorFlow inputs, made inside the tests from the committed fixtures.

Every one must end in ONE ``ConverterError`` whose one-line message names the offending file, never
an internal error, and leave no output directory behind.  Mutations that happen to leave a valid
model (a flipped bit inside a float) may convert; they must never crash.
"""

from __future__ import annotations

import functools
import http.server
import io
import shutil
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

import tfjsconv
from tfjsconv._proto import saved_model_pb2
from tfjsconv.errors import ConverterError
from tfjsconv.readers.tf.sstable import FOOTER_SIZE

MODELS = Path(__file__).resolve().parents[3] / "fixtures" / "models"
DENSE = MODELS / "tf_module_dense" / "saved_model"
LOOP = MODELS / "tf_while_cond" / "saved_model"
FROZEN = MODELS / "tf_frozen" / "model.pb"
VOCAB = MODELS / "tf_hash_table_vocab_file" / "saved_model"


def convert_fails(source: Path, tmp_path: Path, names: Optional[str] = None,
                  **options: Any) -> ConverterError:
    """Converts ``source`` expecting a clean ConverterError that names ``names`` (default: the
    source's file name); checks that nothing was written."""
    out = tmp_path / "out"
    with pytest.raises(ConverterError) as info:
        tfjsconv.convert(str(source), str(out), **options)
    message = str(info.value)
    assert "\n" not in message
    assert (names or source.name) in message, message
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".tfjsconv-" in p.name]
    return info.value


def converts_or_fails_cleanly(source: Path, tmp_path: Path, **options: Any) -> None:
    out = tmp_path / "out"
    try:
        tfjsconv.convert(str(source), str(out), **options)
    except ConverterError as exc:
        assert "\n" not in str(exc)
        assert not out.exists()
    else:
        assert (out / "model.json").is_file()
        shutil.rmtree(out)


def model_copy(tmp_path: Path, source: Path = DENSE) -> Path:
    target = tmp_path / "model"
    shutil.copytree(source, target)
    return target


def edit_saved_model(directory: Path, edit: Any) -> None:
    model = saved_model_pb2.SavedModel()
    pb = directory / "saved_model.pb"
    model.ParseFromString(pb.read_bytes())
    edit(model)
    pb.write_bytes(model.SerializeToString())


# ----- saved_model.pb ------------------------------------------------------------------------------

@pytest.mark.parametrize("keep", [0.0, 0.01, 0.3, 0.5, 0.9, 0.999])
def test_truncated_saved_model_pb(tmp_path: Path, keep: float) -> None:
    model = model_copy(tmp_path)
    pb = model / "saved_model.pb"
    data = pb.read_bytes()
    pb.write_bytes(data[:int(len(data) * keep)])
    convert_fails(model, tmp_path, names="saved_model.pb")


@pytest.mark.parametrize("source", [DENSE, LOOP], ids=["dense", "while_cond"])
def test_bit_flips_in_saved_model_pb_never_crash(tmp_path: Path, source: Path) -> None:
    data = (source / "saved_model.pb").read_bytes()
    for i, offset in enumerate(range(3, len(data), max(1, len(data) // 60))):
        model = model_copy(tmp_path / f"flip{i}", source)
        flipped = bytearray(data)
        flipped[offset] ^= 0x10
        (model / "saved_model.pb").write_bytes(bytes(flipped))
        converts_or_fails_cleanly(model, tmp_path / f"flip{i}")


def test_no_meta_graphs(tmp_path: Path) -> None:
    model = model_copy(tmp_path)
    edit_saved_model(model, lambda m: m.ClearField("meta_graphs"))
    assert "MetaGraph" in str(convert_fails(model, tmp_path, names="model"))


def test_no_signatures(tmp_path: Path) -> None:
    model = model_copy(tmp_path)
    edit_saved_model(model, lambda m: m.meta_graphs[0].signature_def.clear())
    assert "signature" in str(convert_fails(model, tmp_path, names="model"))


def test_signature_names_a_missing_node(tmp_path: Path) -> None:
    model = model_copy(tmp_path)

    def edit(m: Any) -> None:
        m.meta_graphs[0].signature_def["serving_default"].outputs["logits"].name = "no_such_node:0"
    edit_saved_model(model, edit)
    assert "no_such_node" in str(convert_fails(model, tmp_path, names="model"))


def test_signature_input_names_a_missing_node(tmp_path: Path) -> None:
    model = model_copy(tmp_path)

    def edit(m: Any) -> None:
        m.meta_graphs[0].signature_def["serving_default"].inputs["x"].name = "ghost:0"
    edit_saved_model(model, edit)
    assert "ghost" in str(convert_fails(model, tmp_path, names="model"))


def _called_functions(meta: Any) -> list[str]:
    return [n.attr["f"].func.name for n in meta.graph_def.node if n.op in ("StatefulPartitionedCall",
                                                                             "PartitionedCall")]


def test_function_missing_from_the_library(tmp_path: Path) -> None:
    model = model_copy(tmp_path)

    def edit(m: Any) -> None:
        library = m.meta_graphs[0].graph_def.library
        called = set(_called_functions(m.meta_graphs[0]))
        kept = [f for f in library.function if f.signature.name not in called]
        library.ClearField("function")
        library.function.extend(kept)
    edit_saved_model(model, edit)
    assert "function" in str(convert_fails(model, tmp_path, names="model"))


def test_call_cycle(tmp_path: Path) -> None:
    model = model_copy(tmp_path)

    def edit(m: Any) -> None:
        library = m.meta_graphs[0].graph_def.library
        for function in library.function:
            for node in function.node_def:
                if node.op in ("StatefulPartitionedCall", "PartitionedCall"):
                    node.attr["f"].func.name = function.signature.name  # calls itself
                    return
        # No nested call: make the signature's function call itself through a new node.
        raise AssertionError("fixture has no nested call to make cyclic")
    edit_saved_model(model, edit)
    assert "recursi" in str(convert_fails(model, tmp_path, names="model")).lower()


def test_saved_model_pbtxt_garbage(tmp_path: Path) -> None:
    model = model_copy(tmp_path)
    (model / "saved_model.pb").unlink()
    (model / "saved_model.pbtxt").write_text("meta_graphs { this is not { text format", encoding="utf-8")
    convert_fails(model, tmp_path, names="saved_model.pbtxt")


def test_directory_with_only_variables(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(DENSE / "variables", model / "variables")
    convert_fails(model, tmp_path, names="model", input_format="tf_saved_model")


# ----- checkpoint ----------------------------------------------------------------------------------

def test_variables_index_truncated_everywhere(tmp_path: Path) -> None:
    """Every cut of the SSTable: inside data blocks, the meta-index, the index block and the footer."""
    data = (DENSE / "variables" / "variables.index").read_bytes()
    assert len(data) > FOOTER_SIZE
    for cut in range(len(data)):
        case = tmp_path / f"cut{cut}"
        model = model_copy(case)
        (model / "variables" / "variables.index").write_bytes(data[:cut])
        convert_fails(model, case, names="variables.index")


def test_zero_length_data_shard(tmp_path: Path) -> None:
    model = model_copy(tmp_path)
    (model / "variables" / "variables.data-00000-of-00001").write_bytes(b"")
    convert_fails(model, tmp_path, names="variables.data-00000-of-00001")


def test_bit_flips_in_variables_index(tmp_path: Path) -> None:
    data = (DENSE / "variables" / "variables.index").read_bytes()
    for offset in range(0, len(data), 7):
        case = tmp_path / f"flip{offset}"
        model = model_copy(case)
        flipped = bytearray(data)
        flipped[offset] ^= 0x01
        (model / "variables" / "variables.index").write_bytes(bytes(flipped))
        converts_or_fails_cleanly(model, case)


def test_variables_index_is_a_directory(tmp_path: Path) -> None:
    model = model_copy(tmp_path)
    index = model / "variables" / "variables.index"
    index.unlink()
    index.mkdir()
    assert "not a file" in str(convert_fails(model, tmp_path, names="variables.index"))


@pytest.mark.parametrize("content, needle", [(None, "not found"), (b"\xff\xfe\x00apple\n", "not UTF-8")])
def test_broken_vocabulary_asset(tmp_path: Path, content: Optional[bytes], needle: str) -> None:
    model = model_copy(tmp_path, VOCAB)
    assets = sorted((model / "assets").iterdir())
    assert assets
    for asset in assets:
        if content is None:
            asset.unlink()
        else:
            asset.write_bytes(content)
    error = convert_fails(model, tmp_path, names=assets[0].name)
    assert needle in str(error)


# ----- frozen graphs -------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [b"\xff\xfe garbage \x00\x01" * 20, b"", b"\x0a\x05hello"])
def test_frozen_garbage(tmp_path: Path, content: bytes) -> None:
    pb = tmp_path / "model.pb"
    pb.write_bytes(content)
    convert_fails(pb, tmp_path, input_format="tf_frozen_model", output_node_names="logits")


def test_frozen_truncated(tmp_path: Path) -> None:
    data = FROZEN.read_bytes()
    for keep in (0.2, 0.5, 0.95):
        case = tmp_path / str(keep)
        case.mkdir()
        pb = case / "model.pb"
        pb.write_bytes(data[:int(len(data) * keep)])
        convert_fails(pb, case, input_format="tf_frozen_model", output_node_names="logits,probs")


def test_frozen_graph_as_text(tmp_path: Path) -> None:
    """Protobuf text is accepted by design; broken text is one clear error."""
    pbtxt = tmp_path / "model.pbtxt"
    float_t = 'value { type: DT_FLOAT } }'
    pbtxt.write_text(f'node {{ name: "x" op: "Placeholder" attr {{ key: "dtype" {float_t} }}\n'
                     f'node {{ name: "y" op: "Relu" input: "x" attr {{ key: "T" {float_t} }}\n',
                     encoding="utf-8")
    tfjsconv.convert(str(pbtxt), str(tmp_path / "ok"), input_format="tf_frozen_model", output_node_names="y")
    assert (tmp_path / "ok" / "model.json").is_file()
    pbtxt.write_text('node { name: "x" op: ', encoding="utf-8")
    convert_fails(pbtxt, tmp_path, input_format="tf_frozen_model", output_node_names="x")


def test_frozen_graph_with_a_dangling_input(tmp_path: Path) -> None:
    pbtxt = tmp_path / "model.pbtxt"
    pbtxt.write_text('node { name: "y" op: "Relu" input: "ghost" '
                     'attr { key: "T" value { type: DT_FLOAT } } }\n', encoding="utf-8")
    error = convert_fails(pbtxt, tmp_path, input_format="tf_frozen_model", output_node_names="y")
    assert "ghost" in str(error)


def test_bit_flips_in_frozen_graph_never_crash(tmp_path: Path) -> None:
    data = FROZEN.read_bytes()
    for i, offset in enumerate(range(1, len(data), max(1, len(data) // 40))):
        case = tmp_path / f"flip{i}"
        case.mkdir()
        flipped = bytearray(data)
        flipped[offset] ^= 0x08
        (case / "model.pb").write_bytes(bytes(flipped))
        converts_or_fails_cleanly(case / "model.pb", case, input_format="tf_frozen_model",
                                  output_node_names="logits,probs")


# ----- hub downloads -------------------------------------------------------------------------------

class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base
        pass


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()


def _hub_fails(url: str, tmp_path: Path, needle: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(ConverterError) as info:
        tfjsconv.convert(url, str(out), input_format="tf_hub")
    assert needle in str(info.value), str(info.value)
    assert url.split("?")[0] in str(info.value) or "127.0.0.1" in str(info.value)
    assert not out.exists()


def test_hub_404(server: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = server
    _hub_fails(f"{url}/missing.tar.gz", tmp_path, "404")


def test_hub_html_page(server: tuple[str, Path], tmp_path: Path) -> None:
    url, root = server
    (root / "page.tar.gz").write_text("<html><body>Sign in</body></html>", encoding="utf-8")
    _hub_fails(f"{url}/page.tar.gz", tmp_path, "archive")


def _archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for member, payload in members:
            if member.isfile():
                member.size = len(payload)
                tar.addfile(member, io.BytesIO(payload))
            else:
                tar.addfile(member)


def test_hub_archive_escapes_and_links(server: tuple[str, Path], tmp_path: Path) -> None:
    url, root = server
    good = (DENSE / "saved_model.pb").read_bytes()
    link = tarfile.TarInfo("variables/link")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    cases = {"dotdot": tarfile.TarInfo("../x"), "absolute": tarfile.TarInfo("/tmp/x"), "link": link}
    for name, member in cases.items():
        _archive(root / f"{name}.tar.gz", [(tarfile.TarInfo("saved_model.pb"), good), (member, b"x")])
        _hub_fails(f"{url}/{name}.tar.gz", tmp_path / name, "archive")
    assert not (root.parent / "x").exists()


def test_cli_gives_one_line_and_an_input_error_exit_code(tmp_path: Path) -> None:
    import subprocess
    import sys

    model = model_copy(tmp_path)
    (model / "variables" / "variables.index").write_bytes(b"")
    done = subprocess.run([sys.executable, "-m", "tfjsconv", "--input_format", "tf_saved_model", str(model),
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr  # InputError, not 70 (internal error)
    assert len(lines) == 1 and "variables.index" in lines[0] and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_hub_archive_truncated_empty_or_holding_garbage(server: tuple[str, Path], tmp_path: Path) -> None:
    url, root = server
    good = (DENSE / "saved_model.pb").read_bytes()
    _archive(root / "good.tar.gz", [(tarfile.TarInfo("saved_model.pb"), good)])
    (root / "truncated.tar.gz").write_bytes((root / "good.tar.gz").read_bytes()[:60])
    (root / "empty.tar.gz").write_bytes(b"")
    _archive(root / "garbage.tar.gz", [(tarfile.TarInfo("saved_model.pb"), b"\xff\xfe" * 40)])
    _archive(root / "nothing.tar.gz", [(tarfile.TarInfo("README"), b"hello")])
    _hub_fails(f"{url}/truncated.tar.gz", tmp_path / "t", "truncated")
    _hub_fails(f"{url}/empty.tar.gz", tmp_path / "e", "not a readable tar archive")
    _hub_fails(f"{url}/nothing.tar.gz", tmp_path / "n", "no saved_model.pb")
    # The module was extracted to a temporary directory that is gone by now: the error names the URL.
    out = tmp_path / "g"
    with pytest.raises(ConverterError) as info:
        tfjsconv.convert(f"{url}/garbage.tar.gz", str(out), input_format="tf_hub")
    assert str(info.value).startswith(f"{url}/garbage.tar.gz (saved_model.pb): ")
    assert not out.exists()
