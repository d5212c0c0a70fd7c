"""Run converted models in TF.js inside headless Chromium (webgl on SwiftShader, wasm, cpu).

``BrowserRunner`` is ``TfjsRunner`` with the answering process swapped: ``node js/run_browser.mjs``
drives a system Chromium through playwright-core and passes each request to the page
``js/browser/index.html``, which the same 127.0.0.1 HTTP server serves next to the models, together
with the pinned TF.js bundles from ``js/node_modules`` (so page, weights and wasm binaries share one
origin).  Nothing downloads a browser: Debian's ``chromium`` package (or $TFJSCONV_CHROMIUM) is used.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional

from tfjs_runner import DEFAULT_TIMEOUT_S, JS_DIR, HarnessSetupError, NodeProcess, TfjsRunner

BROWSER_SCRIPT = JS_DIR / "run_browser.mjs"
PAGE_DIR = JS_DIR / "browser"
BROWSER_BACKENDS = ("webgl", "wasm", "cpu")
_TFJS_DIST = JS_DIR / "node_modules" / "@tensorflow" / "tfjs" / "dist"
_WASM_DIST = JS_DIR / "node_modules" / "@tensorflow" / "tfjs-backend-wasm" / "dist"


def find_chromium() -> Optional[str]:
    """$TFJSCONV_CHROMIUM, else `chromium` on PATH, else None."""
    explicit = os.environ.get("TFJSCONV_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def check_browser_installation() -> str:
    """Return the Chromium executable, or raise HarnessSetupError naming what is missing."""
    exe = find_chromium()
    if exe is None:
        raise HarnessSetupError(
            "no Chromium found (set TFJSCONV_CHROMIUM or install Debian's `chromium` package: "
            "apt-get install chromium); the browser tests need it."
        )
    if not (JS_DIR / "node_modules" / "playwright-core" / "package.json").is_file():
        raise HarnessSetupError(
            f"playwright-core not installed in {JS_DIR / 'node_modules'}; run `npm ci` there."
        )
    return exe


def _page_files() -> dict[str, Path]:
    files = {"index.html": PAGE_DIR / "index.html", "harness.js": PAGE_DIR / "harness.js",
             "tfjs/tf.min.js": _TFJS_DIST / "tf.min.js",
             "tfjs/tf-backend-wasm.min.js": _WASM_DIST / "tf-backend-wasm.min.js"}
    for binary in sorted(_WASM_DIST.glob("*.wasm")):
        files[f"tfjs/{binary.name}"] = binary
    return files


class BrowserRunner(TfjsRunner):
    """One HTTP server + one Chromium (via node/playwright-core) for a whole pytest session."""

    backends = BROWSER_BACKENDS
    where = ", in chromium"

    def __init__(self, node: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT_S,
                 chromium: Optional[str] = None) -> None:
        self.chromium = chromium or check_browser_installation()
        super().__init__(node, timeout)

    def _process(self, node: str) -> NodeProcess:
        page = self.server.publish_static(_page_files(), "__harness__") + "index.html"
        return NodeProcess(node, BROWSER_SCRIPT, [page, self.chromium])
