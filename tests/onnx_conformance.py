"""The onnx package's backend test suite, converted with tfjsconv and run in real TF.js.

``load_cases(kinds)`` lists the cases of ``onnx.backend.test.loader.load_model_tests`` (``node``,
``simple``, ``pytorch-converted``, ``pytorch-operator``: 2024 cases with onnx 1.23); ``run_case``
converts one, runs every data set in TF.js through ``tfjs_runner`` and classifies it:

* ``pass``: every output has the expected shape and values (floats within rtol=atol=1e-4, or
  within the case's own onnx tolerance; integers and booleans exactly);
* ``wrong``: TF.js ran the model and some output differs;
* ``runtime_error``: TF.js failed to load or run the converted model;
* ``crash``: the converter raised something that is not a ``ConverterError`` (a bug);
* ``refused``: the converter refused with a ``ConverterError`` (the reasons are kept);
* ``not_tensor``: inputs or outputs are sequences / optionals / maps, which a graph model cannot
  take or return.

A case whose model holds float16, bfloat16 or float64 tensors (or 64-bit integer data outside the
int32 range that TF.js has) is marked ``reduced``: tfjsconv computes it in float32 / int32 with a
warning, so it is compared with onnx's own tolerance and reported in a separate column.

Used by ``benchmarks/onnx_conformance.py`` (whole suite, parallel, writes the committed table) and
``tests/readers/onnx/test_onnx_conformance.py`` (CI subset).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import tempfile
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

KINDS = ("node", "simple", "pytorch-converted", "pytorch-operator")
STATUSES = ("pass", "wrong", "runtime_error", "crash", "refused", "not_tensor")
TOLERANCE = 1e-4
_REDUCED_ELEM = {10: "float16", 11: "float64", 16: "bfloat16"}
_INT32 = np.iinfo(np.int32)


@dataclass
class Case:
    """One backend test case: the serialized model and its (inputs, expected outputs) data sets."""

    kind: str
    name: str
    model_bytes: bytes
    data_sets: list[tuple[list[Any], list[Any]]]
    rtol: float
    atol: float

    @property
    def case_id(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass
class Result:
    case_id: str
    status: str
    detail: str = ""
    reasons: list[str] = field(default_factory=list)  # refusal reasons, one per offending node/op
    reduced: list[str] = field(default_factory=list)  # why the case is computed in reduced precision
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: v for k, v in data.items() if v or k in ("case_id", "status")}


# ------------------------------------------------------------------------------------------ loading


def _load_dir_case(kind: str, test: Any) -> Case:
    import onnx

    model_path = Path(test.model_dir) / "model.onnx"
    model = onnx.load(str(model_path))
    data_sets = []
    for data_dir in sorted(glob.glob(os.path.join(test.model_dir, "test_data_set*"))):
        inputs, outputs = [], []
        n_in = len(glob.glob(os.path.join(data_dir, "input_*.pb")))
        n_out = len(glob.glob(os.path.join(data_dir, "output_*.pb")))
        for i in range(n_in):
            inputs.append(_read_proto(Path(data_dir) / f"input_{i}.pb", model.graph.input[i].type))
        for i in range(n_out):
            outputs.append(_read_proto(Path(data_dir) / f"output_{i}.pb", model.graph.output[i].type))
        data_sets.append((inputs, outputs))
    return Case(kind, test.name, model_path.read_bytes(), data_sets, float(test.rtol), float(test.atol))


def _read_proto(path: Path, type_proto: Any) -> Any:
    import onnx
    from onnx import numpy_helper

    raw = path.read_bytes()
    if type_proto.HasField("sequence_type"):
        seq = onnx.SequenceProto()
        seq.ParseFromString(raw)
        return numpy_helper.to_list(seq)
    if type_proto.HasField("optional_type"):
        opt = onnx.OptionalProto()
        opt.ParseFromString(raw)
        return numpy_helper.to_optional(opt)
    tensor = onnx.TensorProto()
    tensor.ParseFromString(raw)
    return numpy_helper.to_array(tensor)


def _plain(value: Any) -> Any:
    """numpy data for a data-set entry (some node cases hold TensorProtos)."""
    from onnx import TensorProto, numpy_helper

    if isinstance(value, TensorProto):
        return numpy_helper.to_array(value)
    return value


def load_cases(kinds: Sequence[str] = KINDS, names: Optional[Iterable[str]] = None) -> list[Case]:
    """The cases of ``kinds`` (only those whose ``kind/name`` id is in ``names``, when given)."""
    import warnings

    from onnx.backend.test.loader import load_model_tests

    wanted = None if names is None else set(names)
    cases: list[Case] = []
    for kind in kinds:
        if wanted is not None and not any(w.startswith(kind + "/") for w in wanted):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            np_err = np.seterr(all="ignore")
            try:
                tests = load_model_tests(kind=kind)
            finally:
                np.seterr(**np_err)
        for test in tests:
            if wanted is not None and f"{kind}/{test.name}" not in wanted:
                continue
            if test.model is not None:
                data = [([_plain(a) for a in i], [_plain(a) for a in o]) for i, o in (test.data_sets or [])]
                cases.append(
                    Case(kind, test.name, test.model.SerializeToString(), data, test.rtol, test.atol)
                )
            elif test.model_dir is not None:
                cases.append(_load_dir_case(kind, test))
    cases.sort(key=lambda c: c.case_id)
    return cases


# ------------------------------------------------------------------------------------ classification


def _elem_types(model: Any) -> set[int]:
    """Every tensor element type the model mentions (I/O, initializers, value_info, Cast targets,
    tensor attributes), subgraphs included."""
    import onnx

    found: set[int] = set()

    def of_type(tp: Any) -> None:
        which = tp.WhichOneof("value")
        if which == "tensor_type":
            found.add(tp.tensor_type.elem_type)
        elif which == "sequence_type":
            of_type(tp.sequence_type.elem_type)
        elif which == "optional_type":
            of_type(tp.optional_type.elem_type)

    def walk(graph: Any) -> None:
        for info in list(graph.input) + list(graph.output) + list(graph.value_info):
            of_type(info.type)
        found.update(t.data_type for t in graph.initializer)
        for node in graph.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    found.add(attr.t.data_type)
                elif attr.type == onnx.AttributeProto.GRAPH:
                    walk(attr.g)
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    for g in attr.graphs:
                        walk(g)
                elif attr.name in ("to", "output_dtype", "dtype") and attr.type == onnx.AttributeProto.INT:
                    found.add(attr.i)

    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # noqa: BLE001  (only used to find dtypes; the raw model still lists most)
        inferred = model
    walk(inferred.graph)
    return found


def _is_tensor_io(model: Any, case: Case) -> bool:
    for info in list(model.graph.input) + list(model.graph.output):
        if info.type.WhichOneof("value") != "tensor_type":
            return False
    for inputs, outputs in case.data_sets:
        if any(a is None or isinstance(a, (list, tuple, dict)) for a in list(inputs) + list(outputs)):
            return False
    return True


def _int_overflow(arrays: Iterable[Any]) -> bool:
    for a in arrays:
        a = np.asarray(a)
        if isinstance(a, np.ndarray) and a.dtype.kind in "iu" and a.size:
            if a.min() < _INT32.min or a.max() > _INT32.max:
                return True
    return False


def _float_overflow(arrays: Iterable[Any]) -> bool:
    for a in arrays:
        a = np.asarray(a)
        if a.dtype == np.float64 and a.size:
            finite = a[np.isfinite(a)]
            if finite.size and np.abs(finite).max() > np.finfo(np.float32).max:
                return True
    return False


def reduced_reasons(model: Any, case: Case) -> list[str]:
    types = _elem_types(model)
    reasons = sorted(name for elem, name in _REDUCED_ELEM.items() if elem in types)
    data = [a for ins, outs in case.data_sets for a in list(ins) + list(outs)]
    if _float_overflow(data):
        reasons.append("float64 data outside float32")
    if _int_overflow(data):
        reasons.append("int64 data outside int32")
    return reasons


def _feed(array: np.ndarray) -> np.ndarray:
    """What a JS caller would feed TF.js for an ONNX input: float32, int32, bool or strings."""
    if array.dtype.kind == "f" or array.dtype.name == "bfloat16":
        with np.errstate(all="ignore"):
            return array.astype(np.float32)
    if array.dtype.kind in "iu":
        return array.astype(np.int64)  # encode_tensor range-checks, then narrows to int32
    return array


def compare(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float, reduced: bool) -> str:
    """'' when ``got`` matches ``expected``, else what differs."""
    expected = np.asarray(expected)
    if tuple(got.shape) != tuple(expected.shape):
        return f"shape {tuple(got.shape)} != expected {tuple(expected.shape)}"
    if expected.dtype == object:
        ok = [str(a) == (b.decode() if isinstance(b, bytes) else str(b))
              for a, b in zip(got.reshape(-1), expected.reshape(-1))]
        return "" if all(ok) else "string values differ"
    if expected.dtype == np.bool_ or expected.dtype.kind in "iu":
        if got.dtype.kind == "f":
            return f"dtype {got.dtype} where {expected.dtype} was expected"
        bad = got.astype(np.int64) != expected.astype(np.int64)
        return "" if not bad.any() else f"{int(bad.sum())} of {bad.size} values differ"
    exp = expected.astype(np.float64)
    val = got.astype(np.float64)
    out_rtol = max(rtol, 2.0**-6) if expected.dtype.name == "bfloat16" else rtol
    with np.errstate(all="ignore"):
        own = np.isclose(val, exp, rtol=out_rtol, atol=atol, equal_nan=True)
        ok = own if reduced else own | np.isclose(val, exp, rtol=TOLERANCE, atol=TOLERANCE, equal_nan=True)
        if ok.all():
            return ""
        err = np.abs(val - exp)[~ok]
    worst = float(np.max(err)) if err.size else 0.0
    return f"{int((~ok).sum())} of {ok.size} values differ, max abs err {worst:.3g}"


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def refusal_reasons(exc: Exception) -> list[str]:
    """Grouping keys for a refusal: one per offending op / node, without node names."""
    ops = getattr(exc, "ops", None)
    if isinstance(ops, dict):
        return [f"unsupported op {op}" for op in ops]
    problems = getattr(exc, "problems", None)
    if problems:
        return sorted({f"{p.op}: {p.reason}" for p in problems})
    message = getattr(exc, "message", str(exc))
    message = re.sub(r"^(\S+ node )('[^']*'|\"[^\"]*\")", r"\1", message)
    return [_QUOTED.sub("…", message)]


def run_case(case: Case, runner: Any, work: Path, backend: str = "cpu") -> Result:
    """Converts ``case`` into ``work`` and runs it in TF.js; never raises for a case's own failure."""
    import onnx

    import tfjsconv
    from tfjsconv.errors import ConverterError

    model = onnx.load_from_string(case.model_bytes)
    case_dir = work / re.sub(r"[^A-Za-z0-9_.-]", "_", case.case_id)
    shutil.rmtree(case_dir, ignore_errors=True)
    case_dir.mkdir(parents=True)
    result = Result(case.case_id, "pass")
    try:
        if not _is_tensor_io(model, case):
            result.status = "not_tensor"
            result.detail = "sequence, optional or map inputs/outputs"
            return result
        result.reduced = reduced_reasons(model, case)
        source = case_dir / "model.onnx"
        source.write_bytes(case.model_bytes)
        try:
            report = tfjsconv.convert(str(source), str(case_dir / "tfjs"), input_format="onnx")
            result.warnings = list(report.warnings)
        except ConverterError as exc:
            result.status = "refused"
            result.detail = getattr(exc, "message", str(exc))
            result.reasons = refusal_reasons(exc)
            return result
        except Exception as exc:  # noqa: BLE001  (a crash is what the runner reports)
            result.status = "crash"
            result.detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:400]
            result.reasons = [traceback.format_exc().strip().splitlines()[-1][:200]]
            return result
        inits = {t.name for t in model.graph.initializer}
        input_names = [i.name for i in model.graph.input if i.name not in inits]
        output_names = [o.name for o in model.graph.output]
        # The first data set runs again last: a model that changes its own weights (TF.js kernels
        # that write into their inputs) gives other numbers the second time.
        runs = list(enumerate(case.data_sets)) + list(enumerate(case.data_sets))[:1]
        for index, (inputs, expected) in runs:
            feeds = [(n, _feed(np.asarray(a))) for n, a in zip(input_names, inputs)]
            try:
                outs = runner.run(case_dir / "tfjs", "graph", feeds, output_names, backend=backend,
                                  label=case.case_id)
            except AssertionError as exc:
                result.status = "runtime_error"
                result.detail = _first_js_error(str(exc))
                return result
            except (ValueError, TypeError) as exc:  # TF.js answered with data that does not fit its shape
                result.status = "runtime_error"
                result.detail = f"malformed TF.js output: {exc}"
                return result
            for name, got, want in zip(output_names, outs, expected):
                problem = compare(got, want, case.rtol, case.atol, bool(result.reduced))
                if problem:
                    result.status = "wrong"
                    result.detail = f"data set {index}, output {name!r}: {problem}"
                    return result
        return result
    finally:
        shutil.rmtree(case_dir, ignore_errors=True)


def _first_js_error(message: str) -> str:
    for line in message.splitlines():
        if "failed on" in line:
            return line.split(": ", 1)[-1][:400]
    return message.splitlines()[0][:400] if message else "TF.js error"


def new_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="tfjsconv-onnx-conformance-"))


__all__ = ["KINDS", "STATUSES", "Case", "Result", "compare", "load_cases", "new_workdir", "run_case"]
