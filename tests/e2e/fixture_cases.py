"""Fixture discovery and output comparison for the end-to-end TF.js tests.

A fixture is ``fixtures/models/<name>/fixture.json`` plus the source model, ``inputs.npz`` and
``expected.npz`` (layout in notes/COMMON.md). Each fixture yields one case for its base options and
one per entry of its ``variants`` list. A variant is a dict of extra ConvertOptions fields; three
keys are for the harness only and never reach ``convert``: ``id`` (the case id suffix), ``rtol`` and
``atol`` (tolerance overrides for that variant).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_ROOT = REPO_ROOT / "fixtures" / "models"
DEFAULT_TOLERANCE = 1e-4
HARNESS_ONLY_KEYS = ("id", "rtol", "atol")
QUANTIZE_KEYS = ("quantize_float16", "quantize_uint8", "quantize_uint16")

# Quantised weights change the numbers by design; these bounds are what the issue allows
# (uint8: 2 % of the output range, float16: 1e-3). uint16 has 256x finer steps than uint8, so a
# 0.2 % range bound is still loose enough for accumulated rounding and tight enough to catch a
# wrong scale or offset.
_RANGE_FRACTION = {"uint8": 0.02, "uint16": 0.002}
_FLOAT16_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    atol_range_fraction: float = 0.0  # extra atol = fraction * (max - min) of the expected output

    def atol_for(self, expected: np.ndarray) -> float:
        if not self.atol_range_fraction or expected.size == 0:
            return self.atol
        spread = float(np.max(expected) - np.min(expected))
        return max(self.atol, self.atol_range_fraction * spread)


@dataclass(frozen=True)
class FixtureCase:
    name: str
    directory: Path
    spec: Mapping[str, Any]
    variant: Mapping[str, Any]  # ConvertOptions fields only (harness keys removed)
    case_id: str
    tolerance: Tolerance

    @property
    def source(self) -> Path:
        return self.directory / self.spec["source"]

    def convert_options(self) -> dict[str, Any]:
        """fixture.json "options" + this variant, with JSON lists turned into the tuples
        ConvertOptions uses for quantisation patterns."""
        options: dict[str, Any] = {}
        if self.spec.get("input_format"):
            options["input_format"] = self.spec["input_format"]
        options.update(self.spec.get("options") or {})
        options.update(self.variant)
        for key in QUANTIZE_KEYS:
            if isinstance(options.get(key), list):
                options[key] = tuple(options[key])
        return options

    @property
    def graph(self) -> bool:
        """True when the conversion writes a graph model (TF and ONNX sources, or Keras sources
        converted with --output_format=tfjs_graph_model)."""
        options = self.convert_options()
        if options.get("output_format"):
            return str(options["output_format"]) == "tfjs_graph_model"
        return not str(self.spec.get("input_format", "")).startswith("keras")

    @property
    def wasm(self) -> bool:
        return bool(self.spec.get("wasm", False))

    def inputs(self) -> list[tuple[str, np.ndarray]]:
        with np.load(self.directory / "inputs.npz", allow_pickle=False) as data:
            return [(name, data[name]) for name in self.spec["inputs"]]

    def expected(self) -> list[tuple[str, np.ndarray]]:
        with np.load(self.directory / "expected.npz", allow_pickle=False) as data:
            return [(name, data[name]) for name in self.spec["outputs"]]


def quantization_kind(options: Mapping[str, Any]) -> Optional[str]:
    """The coarsest quantisation a set of options asks for (it bounds the expected error)."""
    kinds = {key.split("_", 1)[1] for key in QUANTIZE_KEYS if options.get(key)}
    qbytes = options.get("quantization_bytes")
    if qbytes:
        kinds.add("uint8" if int(qbytes) == 1 else "uint16")
    for kind in ("uint8", "uint16", "float16"):
        if kind in kinds:
            return kind
    return None


def tolerance_for(spec: Mapping[str, Any], variant: Mapping[str, Any]) -> Tolerance:
    rtol = float(spec.get("rtol", DEFAULT_TOLERANCE))
    atol = float(spec.get("atol", DEFAULT_TOLERANCE))
    merged = {**(spec.get("options") or {}), **variant}
    kind = quantization_kind(merged)
    tolerance = Tolerance(rtol, atol)
    if kind == "float16":
        tolerance = Tolerance(max(rtol, _FLOAT16_TOLERANCE), max(atol, _FLOAT16_TOLERANCE))
    elif kind in _RANGE_FRACTION:
        tolerance = Tolerance(rtol, atol, _RANGE_FRACTION[kind])
    if "rtol" in variant or "atol" in variant:
        tolerance = Tolerance(
            float(variant.get("rtol", tolerance.rtol)),
            float(variant.get("atol", tolerance.atol)),
            tolerance.atol_range_fraction,
        )
    return tolerance


def _variant_id(options: Mapping[str, Any]) -> str:
    kind = quantization_kind(options)
    rest = [f"{k}={options[k]}" for k in sorted(options) if k not in QUANTIZE_KEYS + ("quantization_bytes",)]
    return ",".join(([kind] if kind else []) + rest) or "base"


def load_spec(directory: Path) -> dict[str, Any]:
    with open(directory / "fixture.json", encoding="utf-8") as handle:
        spec: dict[str, Any] = json.load(handle)
    return spec


def discover_cases(root: Path = FIXTURES_ROOT) -> list[FixtureCase]:
    cases: list[FixtureCase] = []
    for spec_path in sorted(root.glob("*/fixture.json")):
        directory = spec_path.parent
        spec = load_spec(directory)
        base_tolerance = tolerance_for(spec, {})
        cases.append(FixtureCase(directory.name, directory, spec, {}, directory.name, base_tolerance))
        for raw in spec.get("variants") or []:
            variant = {k: v for k, v in raw.items() if k not in HARNESS_ONLY_KEYS}
            suffix = str(raw.get("id") or _variant_id(variant))
            cases.append(
                FixtureCase(
                    directory.name,
                    directory,
                    spec,
                    variant,
                    f"{directory.name}[{suffix}]",
                    tolerance_for(spec, raw),
                )
            )
    return cases


def _as_text(array: np.ndarray) -> np.ndarray:
    flat = [
        v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in np.asarray(array).reshape(-1).tolist()
    ]
    return np.array(flat, dtype=object).reshape(np.shape(array))


def compare_outputs(
    actual: Sequence[np.ndarray], expected: Sequence[tuple[str, np.ndarray]], tolerance: Tolerance, label: str
) -> None:
    """Raise AssertionError naming the output when TF.js's result differs from the expected one."""
    if len(actual) != len(expected):
        raise AssertionError(
            f"{label}: TF.js returned {len(actual)} outputs, expected {len(expected)} "
            f"({[name for name, _ in expected]})"
        )
    for got, (name, want) in zip(actual, expected):
        got, want = np.asarray(got), np.asarray(want)
        where = f"{label}: output {name!r}"
        if got.shape != want.shape:
            raise AssertionError(f"{where}: shape {got.shape} from TF.js, expected {want.shape}")
        if want.dtype.kind in "USO" or got.dtype.kind in "USO":
            np.testing.assert_array_equal(_as_text(got), _as_text(want), err_msg=where)
        elif want.dtype.kind in "biu" and got.dtype.kind in "biu":
            # Integer and boolean outputs are exact (TF.js int32/bool vs Keras/TF int64/bool).
            np.testing.assert_array_equal(got.astype(np.int64), want.astype(np.int64), err_msg=where)
        else:
            wide = np.complex128 if "c" in (got.dtype.kind, want.dtype.kind) else np.float64
            atol = tolerance.atol_for(np.abs(want) if wide is np.complex128 else want)
            np.testing.assert_allclose(
                got.astype(wide),
                want.astype(wide),
                rtol=tolerance.rtol,
                atol=atol,
                err_msg=f"{where} (rtol={tolerance.rtol:g}, atol={atol:g})",
            )
