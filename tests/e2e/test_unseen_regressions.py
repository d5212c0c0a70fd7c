"""Fixtures from the unseen-model sweep (fixtures/generate/unseen_regressions.py): the ones TF.js's layers
would compute wrongly are refused on the layers route with a one-line reason that points at the graph
route (which test_fixtures.py runs and compares); the others convert and match Keras in TF.js."""

from __future__ import annotations

from pathlib import Path

import pytest
from tfjs_runner import TfjsRunner

from e2e.fixture_cases import FIXTURES_ROOT, FixtureCase, compare_outputs, load_spec, tolerance_for
from tfjsconv.errors import UnsupportedError

CASES = [FixtureCase(p.parent.name, p.parent, load_spec(p.parent), {}, p.parent.name,
                     tolerance_for(load_spec(p.parent), {}))
         for p in sorted(FIXTURES_ROOT.glob("unseen_*/fixture.json"))]
REFUSED = [c for c in CASES if c.spec.get("layers_refusal")]
CONVERTED = [c for c in CASES if not c.spec.get("layers_refusal")]


def test_cases_found() -> None:
    assert len(REFUSED) >= 5 and len(CONVERTED) >= 3


@pytest.mark.parametrize("case", REFUSED, ids=[c.name for c in REFUSED])
def test_layers_route_refuses_what_tfjs_layers_computes_wrongly(case: FixtureCase, tmp_path: Path) -> None:
    import tfjsconv

    out = tmp_path / "layers"
    with pytest.raises(UnsupportedError) as info:
        tfjsconv.convert(str(case.source), str(out), input_format=case.spec["input_format"],
                         output_format="tfjs_layers_model")
    message = str(info.value)
    assert case.spec["layers_refusal"] in message and "--output_format=tfjs_graph_model" in message
    assert "\n" not in message and not out.exists()


@pytest.mark.parametrize("case", CONVERTED, ids=[c.name for c in CONVERTED])
def test_converted_both_routes_match_keras(case: FixtureCase, tfjs: TfjsRunner, tmp_path: Path) -> None:
    import tfjsconv

    for fmt, kind in (("tfjs_layers_model", "layers"), ("tfjs_graph_model", "graph")):
        out = tmp_path / kind
        tfjsconv.convert(str(case.source), str(out), input_format=case.spec["input_format"],
                         output_format=fmt)
        outputs = list(case.spec["outputs"]) if kind == "graph" else None
        got = tfjs.run(out, kind, case.inputs(), outputs)
        compare_outputs(got, case.expected(), case.tolerance, f"{case.name} ({kind})")
