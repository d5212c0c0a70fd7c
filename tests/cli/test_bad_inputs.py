"""Every hostile or broken input under tests/bad_inputs/, run through the command as a user runs it.

Each must be refused with one ``tfjsconv: error:`` line naming what is wrong, the documented exit
code, no output directory, and the input files byte for byte unchanged.  Time and memory of these
refusals are measured by benchmarks/bad_inputs.py, not here.  Every directory under tests/bad_inputs/
must have an entry below, so none is silently skipped; what fuzzing found is in tests/bad_inputs/fuzz/
(replayed by tests/fuzz/test_fuzz_regressions.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cli_checks import ROOT, assert_clean_failure, run_cli

BAD = ROOT / "tests" / "bad_inputs"
KERAS_H5 = ROOT / "fixtures" / "models" / "keras3_conv_pool" / "model.h5"

# directory -> (input inside it, extra flags, exit code, needles of the error line)
CASES: dict[str, tuple[str, tuple[str, ...], int, tuple[str, ...]]] = {
    "h5_external_link": ("model.h5", (), 2, ("external link to 'secret.h5'", "never follows")),
    "h5_external_dataset": ("model.h5", (), 2, ("external file(s) 'secret.bin'",)),
    "h5_virtual_dataset": ("model.h5", (), 2, ("virtual dataset",)),
    "h5_soft_link_out": ("model.h5", (), 2, ("soft link", "runs through the external link")),
    "h5_nested_config": ("model.h5", (), 2, ("model_config", "nested too deeply")),
    "h5_huge_declared_dataset": ("model.h5", (), 2, ("of 1000000000000 elements (4 TB) exceeds",
                                                     "--max_tensor_bytes")),
    "keras_zip_traversal": ("model.keras", (), 2, ("'../../escape.txt'", "outside")),
    "layers_shard_traversal": ("web/model.json", (), 2, ("shard path '../secret.bin' points outside",)),
    "saved_model_huge_constant": ("saved_model", (), 2, ("constant of 1000000000000 elements (4 TB) "
                                                         "exceeds",)),
    "saved_model_call_cycle": ("saved_model", (), 3, ("function loop nests calls more than 64 deep",)),
    "saved_model_call_fanout": ("saved_model", (), 2, ("more than 500000 nodes",)),
}


def _digest(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_every_bad_input_has_a_case() -> None:
    present = {p.name for p in BAD.iterdir() if p.is_dir() and p.name != "fuzz"}  # fuzz: tests/fuzz
    assert present == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused(name: str, tmp_path: Path) -> None:
    source, flags, code, needles = CASES[name]
    before = _digest(BAD / name)
    out = tmp_path / "out"
    result = run_cli(*flags, str(BAD / name / source), str(out))
    line = assert_clean_failure(result, out, source, *needles)
    assert result.returncode == code, line
    assert _digest(BAD / name) == before


def test_limit_can_be_raised(tmp_path: Path) -> None:
    """The cap is the user's: a declared size under --max_tensor_bytes is checked against the stored
    bytes instead (the huge dataset has none), and the message says so."""
    out = tmp_path / "out"
    result = run_cli("--max_tensor_bytes", str(10 ** 13), str(BAD / "h5_huge_declared_dataset" / "model.h5"),
                     str(out))
    assert_clean_failure(result, out, "declares 1000000000000 elements", "0 bytes are stored")
    assert result.returncode == 2


def test_small_limit_refuses_an_ordinary_weight(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("--max_tensor_bytes=200", str(KERAS_H5), str(out))
    assert_clean_failure(result, out, "'conv1/kernel' of 108 elements (432 bytes)",
                         "exceeds the 200 bytes limit")
    assert result.returncode == 2


# ----- argument mistakes: exit 4 (options), one line -------------------------------------------------

@pytest.mark.parametrize(("flags", "needles"), [
    (("--input_format=kerass",), ("unknown input format 'kerass'", "tf_saved_model", "did you mean keras?")),
    (("--output_format=tfjs_graph",), ("unknown output format 'tfjs_graph'", "tfjs_layers_model",
                                       "did you mean tfjs_graph_model?")),
    (("--bogus_flag",), ("No such option", "--bogus_flag")),
    (("--max_tensor_bytes=0",), ("--max_tensor_bytes must be a positive integer",)),
    (("--strict", "--quantize_float16=dense*/kernel"), ("matched no weight", "'dense*/kernel'",
                                                         "'conv1/kernel'")),
])
def test_option_mistakes_exit_4(flags: tuple[str, ...], needles: tuple[str, ...], tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(*flags, str(KERAS_H5), str(out))
    assert_clean_failure(result, out, *needles)
    assert result.returncode == 4


def test_missing_argument_exits_4(tmp_path: Path) -> None:
    result = run_cli("convert", str(KERAS_H5))
    assert_clean_failure(result, tmp_path / "out", "Missing argument")
    assert result.returncode == 4


def test_output_format_lists_only_what_routes_write() -> None:
    from tfjsconv.routes import output_formats, supported_pairs

    assert set(output_formats()) == {o for _, o in supported_pairs()}
    result = run_cli("convert", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for name in output_formats():
        assert name in text
    assert "tfjs_layers_model or tfjs_graph_model" not in text


def test_unmatched_pattern_is_a_warning_without_strict(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("--quantize_float16=dense*/kernel,conv1/*", str(KERAS_H5), str(out))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "--quantize_float16='dense*/kernel'" in warnings[0], result.stderr
    assert "conv1/*" not in warnings[0]  # that one matched


def test_tf_keras_saved_model_gets_a_hint(tmp_path: Path) -> None:
    source = ROOT / "fixtures" / "models" / "tf_tfkeras_savedmodel" / "saved_model"
    result = run_cli(str(source), str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "--input_format=keras_saved_model gives a layers model" in result.stderr
    assert "Detected input format: tf_saved_model" in result.stdout
    explicit = run_cli("--input_format=tf_saved_model", str(source), str(tmp_path / "out2"))
    assert "keras_saved_model" not in explicit.stderr  # the user chose: no hint


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def test_million_node_graph_gets_a_message(tmp_path: Path) -> None:
    """A frozen GraphDef of 10^6 chained nodes (34 MB), written straight in the wire format."""
    nodes = [_field(1, _field(1, b"x") + _field(2, b"Placeholder"))]
    nodes += [_field(1, _field(1, b"n%d" % i) + _field(2, b"Neg") + _field(3, b"n%d" % (i - 1) if i else b"x")
                        )
              for i in range(10 ** 6)]
    source = tmp_path / "chain.pb"
    source.write_bytes(b"".join(nodes))
    out = tmp_path / "out"
    result = run_cli("--output_node_names=n999999", str(source), str(out))
    assert_clean_failure(result, out, "chain.pb", "more than 500000 nodes")
    assert result.returncode == 2
