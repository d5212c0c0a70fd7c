"""Session-wide pytest fixtures: the real-TF.js harness (see tests/tfjs_runner.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Optional

import pytest
from tfjs_runner import HarnessSetupError, TfjsRunner

_RUNNER: Optional[TfjsRunner] = None
_BROWSER: Optional[TfjsRunner] = None


@pytest.fixture(scope="session")
def tfjs() -> Iterator[TfjsRunner]:
    """One HTTP server + one Node/TF.js process for the whole session.

    A missing Node or `npm ci` is a failure, not a skip: a test suite that silently stops checking
    outputs in TF.js would pass without proving anything.
    """
    global _RUNNER
    problem = ""
    try:
        runner = TfjsRunner()
    except HarnessSetupError as exc:
        problem = str(exc)
    if problem:  # failed outside the except block, so the report shows one line, not a chain
        pytest.fail(f"TF.js harness unavailable: {problem}", pytrace=False)
    _RUNNER = runner
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[TfjsRunner]:
    """One HTTP server + one headless Chromium (TF.js webgl/wasm/cpu in a page) for the session.

    Only tests marked ``browser`` use it; like ``tfjs``, a missing Chromium or playwright-core is a
    failure (deselect with ``-m "not browser"`` where no browser can be installed).
    """
    global _BROWSER
    from browser_runner import BrowserRunner

    problem = ""
    try:
        runner = BrowserRunner()
    except HarnessSetupError as exc:
        problem = str(exc)
    if problem:
        pytest.fail(f"browser harness unavailable: {problem}", pytrace=False)
    _BROWSER = runner
    try:
        yield runner
    finally:
        runner.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print how long TF.js took per model, so a slow harness is visible in CI logs."""
    for title, runner in (("TF.js harness", _RUNNER), ("TF.js in Chromium", _BROWSER)):
        if runner is None or not runner.timings:
            continue
        times = [t.seconds for t in runner.timings]
        slowest = max(runner.timings, key=lambda t: t.seconds)
        terminalreporter.write_line(
            f"{title}: {len(times)} model runs, {sum(times):.2f} s total, "
            f"{sum(times) / len(times):.3f} s mean, slowest {slowest.seconds:.2f} s "
            f"({slowest.label}, {slowest.backend})"
        )
