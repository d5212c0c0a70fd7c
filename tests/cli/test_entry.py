"""The entry point's fast path: the same options as the typer command, without importing typer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_checks import ROOT
from h5_builders import dense_model

from tfjsconv import cli, entry
from tfjsconv.cli_args import normalize_argv
from tfjsconv.errors import InputError


def test_defaults_match_the_typer_command() -> None:
    import typer

    command = typer.main.get_command(cli.app).commands["convert"]  # type: ignore[attr-defined]
    defaults = {p.name: p.default for p in command.params if p.name not in ("input_path", "output_path")}
    assert defaults == entry.defaults()


ARGVS = [
    ["in.h5", "out"],
    ["convert", "in.h5", "out", "--quantize_uint8"],
    ["--input_format=keras", "in.h5", "out", "--quantize_float16", "dense/*,conv*"],
    ["--input-format", "tf_saved_model", "--signature_name", "serving_default", "in", "out",
     "--saved_model_tags=", "--weight_shard_size_bytes", "1000", "--skip_op_check=true"],
    ["in.pb", "out", "--output_node_names=a,b:1", "--strip_debug_ops=False", "--quiet",
     "--split_weights_by_layer", "--max_tensor_bytes=4096", "--strict", "--metadata=k:m.json"],
    ["in.h5", "out", "--quantization_bytes=1", "--control_flow_v2", "--experiments=false"],
]


@pytest.mark.parametrize("argv", ARGVS)
def test_fast_path_passes_what_typer_passes(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []

    def record(input_path: str, output_path: str, **options: Any) -> None:
        seen.append({"paths": (input_path, output_path), **options})

    monkeypatch.setattr(cli, "convert_command", record)
    with pytest.raises(SystemExit) as stop:
        cli.main(list(argv))
    assert stop.value.code == 0
    parsed = entry.fast_arguments(normalize_argv(list(argv)))
    assert parsed is not None
    source, target, options = parsed
    assert seen == [{"paths": (source, target), **options}]


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["in.h5"], ["in.h5", "out", "--bogus"],
                                  ["in.h5", "out", "--weight_shard_size_bytes=big"], ["-q", "in.h5", "out"]])
def test_anything_else_goes_to_typer(argv: list[str]) -> None:
    assert entry.fast_arguments(normalize_argv(argv)) is None


def test_a_conversion_imports_neither_typer_nor_click(tmp_path: Path) -> None:
    source = dense_model(tmp_path / "m.h5")
    code = (f"import sys\nfrom tfjsconv.entry import main\ntry:\n    main([{str(source)!r}, "
            f"{str(tmp_path / 'out')!r}, '--quiet'])\nexcept SystemExit as stop:\n    assert stop.code == 0\n"
            "print(sorted(m for m in ('typer', 'click', 'onnx', 'google.protobuf') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert (tmp_path / "out" / "model.json").is_file()


def test_errors_on_the_fast_path_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        entry.main([str(tmp_path / "missing.h5"), str(tmp_path / "out")])
    assert stop.value.code == InputError.exit_code
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tfjsconv: error: ") and "missing.h5" in lines[0]
    assert not (tmp_path / "out").exists()


def test_the_command_flushes_its_output_before_ending(tmp_path: Path) -> None:
    # `python -m tfjsconv` ends a successful conversion with os._exit: the summary must still arrive,
    # and the model must be complete.
    source = dense_model(tmp_path / "m.h5")
    command = [sys.executable, "-m", "tfjsconv", str(source)]
    piped = subprocess.run([*command, str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT,
                           timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.splitlines()[-1].startswith("Converted keras to tfjs_layers_model")
    assert json.loads((tmp_path / "out" / "model.json").read_text())["format"] == "layers-model"
    # Started with stdout closed (sys.stdout is None): still a clean success.
    closed = subprocess.run([*command, str(tmp_path / "out2")], stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            timeout=120, preexec_fn=lambda: os.close(1))
    assert closed.returncode == 0, closed.stderr
    assert closed.stderr == ""
    assert (tmp_path / "out2" / "model.json").is_file()


@pytest.mark.parametrize("given, expected", [(None, "1"), ("3", "3")])
def test_the_command_asks_openblas_for_one_thread_unless_told(tmp_path: Path, given: Any,
                                                              expected: str) -> None:
    # The command converts a real model; the child reports the thread count its numpy's OpenBLAS
    # was configured with, read back from the environment the command left for it.
    source = dense_model(tmp_path / "m.h5")
    probe = ("import os, sys; from tfjsconv import entry; "
             "entry._exit_now = lambda: print(os.environ.get('OPENBLAS_NUM_THREADS')); "
             f"sys.argv = ['tfjsconv', {str(source)!r}, {str(tmp_path / 'out')!r}, '--quiet']; entry.main()")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == expected
    assert (tmp_path / "out" / "model.json").is_file()
