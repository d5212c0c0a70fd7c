"""Every fixture under fixtures/models: convert with tfjsconv, run in real TF.js, compare with the
outputs the source framework computed (expected.npz)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tfjs_runner import TfjsRunner

from e2e.fixture_cases import (
    FIXTURES_ROOT,
    FixtureCase,
    compare_outputs,
    discover_cases,
    load_spec,
    quantization_kind,
    tolerance_for,
)

CASES = discover_cases()
FIXTURE_DIRS = sorted({case.directory for case in CASES})
KIND_BY_FORMAT = {"layers-model": "layers", "graph-model": "graph"}


def _convert(case: FixtureCase, out: Path) -> Path:
    import tfjsconv  # imported here so a broken package fails these tests, not the collection

    tfjsconv.convert(str(case.source), str(out), **case.convert_options())
    assert (out / "model.json").is_file(), f"{case.case_id}: convert() wrote no model.json in {out}"
    return out


def _read_model_json(model_dir: Path) -> dict[str, Any]:
    with open(model_dir / "model.json", encoding="utf-8") as handle:
        model: dict[str, Any] = json.load(handle)
    return model


def _attach_topology(case: FixtureCase, weights_dir: Path, tmp_path: Path) -> Path:
    """A weights-only file has no topology: take it from the conversion of the fixture named by
    "topology_from" and keep this conversion's weightsManifest and shards, as a user would."""
    other_dir = FIXTURES_ROOT / case.spec["topology_from"]
    other_spec = load_spec(other_dir)
    other = FixtureCase(
        other_dir.name, other_dir, other_spec, {}, other_dir.name, tolerance_for(other_spec, {})
    )
    topology = _read_model_json(_convert(other, tmp_path / "topology"))
    weights = _read_model_json(weights_dir)
    combined = tmp_path / "combined"
    combined.mkdir()
    for group in weights["weightsManifest"]:
        for name in group["paths"]:
            shutil.copyfile(weights_dir / name, combined / name)
    model = dict(topology)
    model["weightsManifest"] = weights["weightsManifest"]
    (combined / "model.json").write_text(json.dumps(model), encoding="utf-8")
    return combined


def test_fixtures_exist() -> None:
    assert len(FIXTURE_DIRS) >= 12, f"expected the committed fixtures under {FIXTURES_ROOT}"


@pytest.mark.parametrize("directory", FIXTURE_DIRS, ids=[d.name for d in FIXTURE_DIRS])
def test_fixture_is_well_formed(directory: Path) -> None:
    """fixture.json agrees with its npz files, so a broken fixture is not mistaken for a converter bug."""
    spec = load_spec(directory)
    assert (directory / spec["source"]).exists(), f"{directory.name}: source {spec['source']} missing"
    with np.load(directory / "inputs.npz", allow_pickle=False) as inputs:
        assert sorted(inputs.files) == sorted(spec["inputs"]), f"{directory.name}: inputs.npz keys"
    with np.load(directory / "expected.npz", allow_pickle=False) as expected:
        assert sorted(expected.files) == sorted(spec["outputs"]), f"{directory.name}: expected.npz keys"
    if spec.get("topology_from"):
        assert (FIXTURES_ROOT / spec["topology_from"] / "fixture.json").is_file()


@pytest.mark.parametrize("case", CASES, ids=[case.case_id for case in CASES])
def test_fixture_matches_in_tfjs(case: FixtureCase, tfjs: TfjsRunner, tmp_path: Path) -> None:
    model_dir = _convert(case, tmp_path / "out")
    if case.spec.get("topology_from"):
        model_dir = _attach_topology(case, model_dir, tmp_path)
    model = _read_model_json(model_dir)
    kind = KIND_BY_FORMAT.get(model.get("format", ""))
    assert kind is not None, f"{case.case_id}: unexpected model.json format {model.get('format')!r}"

    quantized_to = quantization_kind(case.convert_options())
    if quantized_to:
        # Without this a converter that ignored the flag would pass the (looser) variant tolerance.
        dtypes = {
            w.get("quantization", {}).get("dtype") for g in model["weightsManifest"] for w in g["weights"]
        }
        assert quantized_to in dtypes, (
            f"{case.case_id}: no weight quantized to {quantized_to} in the manifest"
        )

    outputs = None
    if kind == "graph":
        outputs = list(case.spec["outputs"])
        signature_outputs = sorted((model.get("signature") or {}).get("outputs") or {})
        assert signature_outputs == sorted(outputs), f"{case.case_id}: signature output keys"

    inputs, expected = case.inputs(), case.expected()
    for backend in ["cpu"] + (["wasm"] if case.wasm else []):
        named = tfjs.run_named(model_dir, kind, inputs, outputs, backend=backend, label=case.case_id)
        if kind == "layers":
            # predict() returns outputs in model order; the names prove that order is the Keras one.
            assert [name for name, _ in named] == list(case.spec["outputs"]), f"{case.case_id}: output order"
        compare_outputs(
            [array for _, array in named], expected, case.tolerance, f"{case.case_id} on {backend}"
        )
