"""The progress bar (only on a terminal, only for large inputs, never with --quiet) and the summary line."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_checks import ROOT, run_cli
from h5_builders import dense_layer, dense_model, sequential_config, write_keras2_h5

from tfjsconv import progress

WIDTH = 3640  # one Dense kernel of 3640 x 3640 float32: 50.5 MiB, just above the 50 MiB threshold


@pytest.fixture(scope="module")
def large_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("large") / "large.h5"
    kernel = np.zeros((WIDTH, WIDTH), np.float32)
    kernel[0, :3] = (1.5, -2.0, 0.25)
    write_keras2_h5(path, sequential_config([dense_layer("dense", WIDTH)], input_dim=WIDTH),
                    {"dense": {"kernel": kernel, "bias": np.ones(WIDTH, np.float32)}})
    assert path.stat().st_size > 50 * 2**20
    return path


def _run_on_terminal(*args: str) -> tuple[int, str, str]:
    """Runs the CLI with stderr on a pseudo-terminal; returns (exit code, stdout, terminal output)."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "tfjsconv", *args], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=follower, text=True)
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        stdout = proc.stdout.read() if proc.stdout else ""
        code = proc.wait(timeout=120)
    finally:
        os.close(leader)
    return code, stdout, b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_sees_the_stages_of_a_large_conversion(large_h5: Path, tmp_path: Path) -> None:
    code, stdout, terminal = _run_on_terminal(str(large_h5), str(tmp_path / "out"))
    assert code == 0, terminal
    assert "tfjsconv: reading" in terminal
    bars = re.findall(r"tfjsconv: writing \[[#.]{24}\] [\d.]+/50\.6 MiB", terminal)
    assert bars, terminal
    assert terminal.endswith("\r"), "the bar is erased before the summary is printed"
    assert "Converted keras to tfjs_layers_model" in stdout


def test_quiet_silences_bar_and_summary(large_h5: Path, tmp_path: Path) -> None:
    code, stdout, terminal = _run_on_terminal("--quiet", str(large_h5), str(tmp_path / "out"))
    assert code == 0, terminal
    assert terminal == "" and stdout == ""
    assert (tmp_path / "out" / "model.json").is_file()


def test_a_pipe_never_sees_the_bar(large_h5: Path, tmp_path: Path) -> None:
    result = run_cli(str(large_h5), str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "tfjsconv:" not in result.stderr and "\r" not in result.stderr
    manifest = json.loads((tmp_path / "out" / "model.json").read_text())["weightsManifest"]
    shards = len(manifest[0]["paths"])
    assert shards == 13  # 53 MB in 4 MiB shards
    line = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(rf"Converted keras to tfjs_layers_model in [\d.]+ s: 2 layers, 50\.6 MiB of weights "
                        rf"in {shards} shards -> .*out", line), line


def test_small_models_show_no_bar_even_on_a_terminal(tmp_path: Path) -> None:
    source = dense_model(tmp_path / "small.h5")
    code, stdout, terminal = _run_on_terminal(str(source), str(tmp_path / "out"))
    assert code == 0 and terminal == ""
    assert re.search(r"2 layers, 32 B of weights in 1 shard -> ", stdout), stdout


def test_graph_summary_counts_nodes(tmp_path: Path) -> None:
    fixture = ROOT / "fixtures" / "models" / "tf_module_dense"
    result = run_cli(str(fixture / json.loads((fixture / "fixture.json").read_text())["source"]),
                     str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    model = json.loads((tmp_path / "out" / "model.json").read_text())
    nodes = len(model["modelTopology"]["node"])
    assert "Converted tf_saved_model to tfjs_graph_model in " in result.stdout
    assert f": {nodes} nodes, " in result.stdout


def test_reporter_line_shows_bytes_and_eta() -> None:
    stream = io.StringIO()
    reporter = progress.Reporter(stream)
    reporter.stage("writing", total=4 * 2**20)
    reporter.advance(2**20)
    line = reporter.line()
    assert line.startswith("tfjsconv: writing [######..................] 1.0/4.0 MiB  25%, ETA ")
    reporter.close()
    assert stream.getvalue().endswith("\r")
    assert not progress.wanted(10**9, quiet=False, stream=stream)  # StringIO is not a terminal


def test_graph_with_control_flow_says_execute_async(tmp_path: Path) -> None:
    fixture = ROOT / "fixtures" / "models" / "tf_while_cond"
    spec = json.loads((fixture / "fixture.json").read_text())
    result = run_cli(str(fixture / spec["source"]), str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    model = json.loads((tmp_path / "out" / "model.json").read_text())
    ops = {n["op"] for n in model["modelTopology"]["node"]}
    loops = sorted(ops & {"While", "StatelessWhile", "If", "StatelessIf"})
    assert loops, "the fixture's graph keeps its control flow"
    line = next(x for x in result.stdout.splitlines() if x.startswith("Run it with: "))
    assert line.startswith("Run it with: await model.executeAsync(inputs) (it has ")
    assert all(op in line for op in loops)


def test_graph_without_control_flow_has_no_execute_async_line(tmp_path: Path) -> None:
    fixture = ROOT / "fixtures" / "models" / "tf_module_dense"
    spec = json.loads((fixture / "fixture.json").read_text())
    result = run_cli(str(fixture / spec["source"]), str(tmp_path / "out"))
    assert result.returncode == 0 and "executeAsync" not in result.stdout
