"""Run converted models in the real TensorFlow.js (Node) and return their outputs as numpy arrays.

Two long-lived helpers serve a whole pytest session:

* ``ModelServer``: a threaded HTTP server on 127.0.0.1 (random free port) serving one temporary root
  directory, so TF.js fetches ``model.json`` and the weight shards exactly as a browser would.
* ``NodeProcess``: one ``node tests/js/run_models.mjs`` process that reads one JSON request per line
  and answers one JSON line, so TF.js is imported once per session instead of once per model.

``TfjsRunner`` combines them: ``run(model_dir, kind, inputs, outputs, backend)`` publishes the
directory under the served root, sends the request and decodes the answer. Every failure (load
error, predict error, timeout, crashed node, HTTP 404) becomes an ``AssertionError`` that carries
the JavaScript message, the node stderr of that request and the HTTP errors seen.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional

import numpy as np

JS_DIR = Path(__file__).resolve().parent / "js"
RUNNER_SCRIPT = JS_DIR / "run_models.mjs"
REQUIRED_PACKAGES = ("@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm")
DEFAULT_TIMEOUT_S = float(os.environ.get("TFJSCONV_TFJS_TIMEOUT", "120"))
KINDS = ("layers", "graph")
BACKENDS = ("cpu", "wasm")

# numpy dtype kind -> TF.js dtype. TF.js has no 64-bit or small integer types: the converter maps
# them to int32/float32, so feeding the model the same narrowing is what a JS caller would do.
_KIND_TO_TFJS = {"f": "float32", "i": "int32", "u": "int32", "b": "bool", "c": "complex64"}
_TFJS_TO_NUMPY = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "complex64": np.float32}


class HarnessSetupError(RuntimeError):
    """Node or the pinned TF.js packages are not installed; the message says how to fix it."""


def check_installation(node: Optional[str] = None) -> str:
    """Return the node executable, or raise HarnessSetupError naming what is missing."""
    exe = node or shutil.which("node")
    if exe is None:
        raise HarnessSetupError(
            "`node` (Node.js >= 18) is not on PATH; the TF.js tests need it. "
            "Install Node.js, then run `npm ci` in tests/js."
        )
    missing = [p for p in REQUIRED_PACKAGES if not (JS_DIR / "node_modules" / p / "package.json").is_file()]
    if missing:
        raise HarnessSetupError(
            f"{', '.join(missing)} not installed in {JS_DIR / 'node_modules'}; run `npm ci` in {JS_DIR}."
        )
    return exe


# --------------------------------------------------------------------------------------- HTTP


class _QuietHandler(SimpleHTTPRequestHandler):
    """Static files without per-request logging; HTTP errors are kept for failure messages."""

    errors: list[str]  # set on the subclass made by ModelServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:
        self.errors.append(f"{self.command} {self.path}: {format % args}")

    def end_headers(self) -> None:
        # Every model directory is new, but a stale cache would hide a regenerated file.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class ModelServer:
    """A threaded static-file server on 127.0.0.1 rooted at a private temporary directory."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tfjsconv-serve-"))
        self.errors: list[str] = []
        handler = type("_Handler", (_QuietHandler,), {"errors": self.errors})
        self._httpd = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(self.root))
        )
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="tfjs-model-server", daemon=True
        )
        self._thread.start()
        self._counter = itertools.count()

    def publish(self, model_dir: Path, label: Optional[str] = None) -> str:
        """Expose ``model_dir`` under the root and return the URL of its model.json."""
        model_dir = Path(model_dir).resolve()
        if not (model_dir / "model.json").is_file():
            raise AssertionError(f"no model.json in {model_dir}")
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", label or model_dir.name) or "model"
        name = f"{next(self._counter):04d}-{slug}"
        target = self.root / name
        try:
            target.symlink_to(model_dir, target_is_directory=True)
        except OSError:  # e.g. Windows without symlink rights: a copy serves the same bytes
            shutil.copytree(model_dir, target)
        return f"http://127.0.0.1:{self.port}/{name}/model.json"

    def publish_static(self, files: dict[str, Path], name: str) -> str:
        """Expose ``files`` (served path -> local file) under ``/name/`` and return that URL."""
        for served, local in files.items():
            target = self.root / name / served
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                target.symlink_to(Path(local).resolve())
            except OSError:
                shutil.copyfile(local, target)
        return f"http://127.0.0.1:{self.port}/{name}/"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)


# --------------------------------------------------------------------------------------- node


class _RunnerCrashed(Exception):
    """The node process went away before answering."""


class NodeProcess:
    """One ``node run_models.mjs`` process; restarted on the next request if it died or hung."""

    def __init__(self, node: str, script: Path = RUNNER_SCRIPT, args: Sequence[str] = ()) -> None:
        self._cmd = [node, str(script), *args]
        self._proc: Optional[subprocess.Popen[str]] = None
        self._lines: queue.Queue[Optional[str]] = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=400)
        self._stderr_count = 0
        self._lock = threading.Lock()
        self._stderr_thread: Optional[threading.Thread] = None

    @property
    def pid(self) -> Optional[int]:
        """Process id of the running node, or None before the first request / after a crash."""
        return None if self._proc is None else self._proc.pid

    def _start(self) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            self._cmd,
            cwd=str(JS_DIR),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._lines = queue.Queue()
        threading.Thread(target=self._pump_stdout, args=(proc, self._lines), daemon=True).start()
        self._stderr_thread = threading.Thread(target=self._pump_stderr, args=(proc,), daemon=True)
        self._stderr_thread.start()
        self._proc = proc
        return proc

    @staticmethod
    def _pump_stdout(proc: subprocess.Popen[str], lines: queue.Queue[Optional[str]]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)  # EOF: the process exited

    def _pump_stderr(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with self._lock:
                self._stderr.append(line.rstrip("\n"))
                self._stderr_count += 1

    def _stderr_since(self, mark: int) -> str:
        with self._lock:
            new = min(self._stderr_count - mark, len(self._stderr))
            return "\n".join(list(self._stderr)[len(self._stderr) - new :]) if new > 0 else ""

    def request(self, message: dict[str, Any], timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
        """Send one request and return the decoded JSON answer (which may hold an "error").

        A node that died while idle is only noticed when the request gets no answer, so a crash
        is retried once on a fresh process; a request that crashes node twice is reported.
        """
        try:
            return self._request_once(message, timeout)
        except _RunnerCrashed:
            pass
        try:
            return self._request_once(message, timeout)
        except _RunnerCrashed as exc:
            raise AssertionError(str(exc)) from None

    def _request_once(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            proc = self._start()
        with self._lock:
            mark = self._stderr_count
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(message) + "\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            self.stop()
            raise _RunnerCrashed(
                f"could not write to the TF.js runner ({exc}); node stderr:\n{self._stderr_since(mark)}"
            ) from None
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.stop(graceful=False)  # it is hung: do not wait for it
            raise AssertionError(
                f"TF.js runner gave no answer within {timeout:.0f} s (node killed); "
                f"node stderr:\n{self._stderr_since(mark)}"
            ) from None
        if line is None:
            code = proc.wait()
            if self._stderr_thread is not None:  # stderr hits EOF with the exit: keep its last lines
                self._stderr_thread.join(timeout=2)
            self._proc = None
            raise _RunnerCrashed(
                f"TF.js runner exited with code {code}; node stderr:\n{self._stderr_since(mark)}"
            )
        try:
            answer: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"TF.js runner wrote a non-JSON line: {line[:500]!r}") from None
        answer["_stderr"] = self._stderr_since(mark)
        return answer

    def stop(self, graceful: bool = True) -> None:
        """End the process: closing stdin lets run_models.mjs finish and exit; kill if it won't."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            if graceful:
                proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


# --------------------------------------------------------------------------------------- tensors


def encode_tensor(name: str, array: Any) -> dict[str, Any]:
    """One request input: numeric data as base64 of the TF.js typed array, strings as a list."""
    arr = np.asarray(array)
    shape = [int(d) for d in arr.shape]
    if arr.dtype.kind in "USO":
        flat = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in arr.reshape(-1).tolist()]
        return {"name": name, "dtype": "string", "shape": shape, "data": flat}
    dtype = _KIND_TO_TFJS.get(arr.dtype.kind)
    if dtype is None:
        raise AssertionError(f"input {name!r}: numpy dtype {arr.dtype} has no TF.js counterpart")
    if (
        dtype == "int32"
        and arr.size
        and (arr.min() < np.iinfo(np.int32).min or arr.max() > np.iinfo(np.int32).max)
    ):
        raise AssertionError(f"input {name!r}: values do not fit int32, which is all TF.js has")
    if dtype == "complex64":
        data = np.ascontiguousarray(arr, dtype=np.complex64).view(np.float32)
    else:
        data = np.ascontiguousarray(arr, dtype=_TFJS_TO_NUMPY[dtype])
    raw = data.astype(data.dtype.newbyteorder("<"), copy=False).tobytes()
    return {"name": name, "dtype": dtype, "shape": shape, "data_b64": base64.b64encode(raw).decode("ascii")}


def decode_tensor(spec: dict[str, Any]) -> np.ndarray:
    """The inverse of encode_tensor for one response output."""
    dtype, shape = spec["dtype"], tuple(spec["shape"])
    if dtype == "string":
        return np.array(spec["data"], dtype=object).reshape(shape)
    wire = {"float32": "<f4", "int32": "<i4", "bool": "u1", "complex64": "<c8"}.get(dtype)
    if wire is None:
        raise AssertionError(f"output {spec.get('name')!r}: unexpected TF.js dtype {dtype!r}")
    flat = np.frombuffer(base64.b64decode(spec["data_b64"]), dtype=wire)
    native = np.complex64 if dtype == "complex64" else _TFJS_TO_NUMPY[dtype]
    return flat.astype(native).reshape(shape)


# --------------------------------------------------------------------------------------- runner


@dataclass(frozen=True)
class Run:
    """One model run: its named outputs, and per-inference wall times when timing was asked for."""

    outputs: list[tuple[str, np.ndarray]]
    times_ms: list[float]
    execute: str  # "execute" or "executeAsync": the call the timed runs used
    inner: int  # inferences averaged per timed sample
    cpu_times_ms: list[float]  # process CPU time per inference, per sample (Node only)
    info: dict[str, Any]


@dataclass(frozen=True)
class Timing:
    label: str
    backend: str
    seconds: float


class TfjsRunner:
    """Loads model directories in TF.js over HTTP and runs them; one instance per pytest session."""

    backends: tuple[str, ...] = BACKENDS
    where = ""  # ", in chromium" for the browser runner: failure messages say where TF.js ran

    def __init__(self, node: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        exe = check_installation(node)
        self.timeout = timeout
        self.server = ModelServer()
        self.node = self._process(exe)
        self.timings: list[Timing] = []

    def _process(self, node: str) -> NodeProcess:
        return NodeProcess(node)

    def execute(
        self,
        model_dir: Path,
        kind: str,
        inputs: Sequence[tuple[str, Any]],
        outputs: Optional[Sequence[str]] = None,
        backend: str = "cpu",
        label: Optional[str] = None,
        runs: int = 0,
        warmup: int = 1,
        inner: int = 1,
        sample_ms: float = 0.0,
        warmup_ms: float = 0.0,
    ) -> Run:
        """Loads and runs a model; with ``runs`` > 0 (graph models) first times that many samples
        after ``warmup`` untimed inferences.  A sample is the mean of ``inner`` inferences, each
        waiting for all output values; ``sample_ms`` raises ``inner`` until a sample lasts that long;
        the warm-up lasts at least ``warmup_ms``."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        if backend not in self.backends:
            raise ValueError(f"backend must be one of {self.backends}, not {backend!r}")
        label = label or Path(model_dir).name
        url = self.server.publish(Path(model_dir), label)
        request: dict[str, Any] = {
            "url": url,
            "kind": kind,
            "backend": backend,
            "inputs": [encode_tensor(name, value) for name, value in inputs],
        }
        if outputs is not None:
            request["outputs"] = list(outputs)
        if runs:
            request["timing"] = {"runs": int(runs), "warmup": max(1, int(warmup)),
                                 "inner": max(1, int(inner)), "sample_ms": float(sample_ms),
                                 "warmup_ms": float(warmup_ms)}
        http_errors_before = len(self.server.errors)
        start = time.perf_counter()
        answer = self.node.request(request, timeout=self.timeout)
        self.timings.append(Timing(label, backend, time.perf_counter() - start))
        http_errors = self.server.errors[http_errors_before:]
        if "error" in answer or http_errors:
            # TF.js 4.22 does not check the HTTP status of weight shards: a 404 page is read as
            # weights and the model "works" with garbage, so any HTTP error fails the run.
            error = answer.get("error", "model loaded, but some files could not be fetched")
            details = [f"TF.js ({backend}, {kind}{self.where}) failed on {model_dir}: {error}"]
            if http_errors:
                details.append("HTTP errors: " + "; ".join(http_errors))
            if answer.get("_stderr"):
                details.append("node stderr:\n" + answer["_stderr"])
            raise AssertionError("\n".join(details))
        if answer.get("backend") != backend:
            raise AssertionError(
                f"TF.js ran {model_dir} on backend {answer.get('backend')!r}, not {backend!r}"
            )
        named = [(spec["name"], decode_tensor(spec)) for spec in answer["outputs"]]
        return Run(named, [float(t) for t in answer.get("times_ms", [])], str(answer.get("execute", "")),
                   int(answer.get("inner", 0)), [float(t) for t in answer.get("cpu_times_ms", [])],
                   dict(answer.get("info") or {}))

    def run_named(
        self,
        model_dir: Path,
        kind: str,
        inputs: Sequence[tuple[str, Any]],
        outputs: Optional[Sequence[str]] = None,
        backend: str = "cpu",
        label: Optional[str] = None,
    ) -> list[tuple[str, np.ndarray]]:
        """Like ``run`` but keeps the output names TF.js reported (layer or signature names)."""
        return self.execute(model_dir, kind, inputs, outputs, backend, label).outputs

    def run(
        self,
        model_dir: Path,
        kind: str,
        inputs: Sequence[tuple[str, Any]],
        outputs: Optional[Sequence[str]] = None,
        backend: str = "cpu",
        label: Optional[str] = None,
    ) -> list[np.ndarray]:
        """Load ``model_dir/model.json`` with tf.loadLayersModel / tf.loadGraphModel and run it.

        ``inputs`` are (name, array) pairs in model order (names matter for graph models, order for
        layers models). ``outputs`` picks graph-model outputs by signature key or node name
        (default: the model's outputs). ``label`` names the run in timings and served URLs.
        Returns one array per output, in order.
        """
        return [array for _, array in self.run_named(model_dir, kind, inputs, outputs, backend, label)]

    def ping(self) -> dict[str, Any]:
        return self.node.request({"ping": True}, timeout=self.timeout)

    def close(self) -> None:
        self.node.stop()
        self.server.close()
