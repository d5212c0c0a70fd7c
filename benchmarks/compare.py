"""tfjsconv side by side with the official converter: wall time, peak memory, start-up, install size.

    python benchmarks/compare.py [--models /work/bench-models] [--official /work/official-env]
        [--repeat 3] [--official-repeat N] [--repeat-big N] [--official-repeat-big N]
        [--sections startup,install,fixtures,big] [--only NAME,...] [--json out.json]

Every conversion runs in a child process; its peak RSS is the child's own ``ru_maxrss`` (``os.wait4``).
With ``--official VENV`` (a venv holding ``tensorflowjs_converter``) each model is converted by both
tools in alternating runs, so that both see the same machine load; medians are reported.

Sections:
- ``startup``: ``tfjsconv --help`` and ``tensorflowjs_converter --help`` (median of ``--repeat`` x 5).
- ``install``: site-packages of a fresh venv holding tfjsconv without extras (pip, setuptools and
  wheel, which every venv carries, are not counted; they are listed apart), and of ``--official``.
- ``fixtures``: every committed fixture (``fixtures/models/*``) whose input format the official
  converter reads, plus ``python -c "import numpy, h5py"`` as the yardstick for small models.
- ``big``: the models of ``benchmarks/generate.py`` (``manifest.json`` in ``--models``), with and
  without ``--quantize_uint8``; the memory bound is 100 MiB + the model's largest tensor.

The install section runs first (it is not timed); the timed sections follow each other, bracketed by a
measure of the machine's load (the wall / CPU time of a CPU-bound child: 1.0 when idle).

tfjsconv runs from a fresh non-editable venv (``--tfjsconv-venv``, built on first use, bytecode
compiled as pip does for users), never from the development tree.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[1]
OFFICIAL_FORMATS = (
    "keras",
    "keras_saved_model",
    "keras_keras",
    "tf_saved_model",
    "tf_frozen_model",
    "tf_hub",
    "tfjs_layers_model",
)
_SKIP_SIZE = ("pip", "setuptools", "wheel", "_distutils_hack", "pkg_resources", "distutils-precedence.pth")
MIB = 2**20
LARGE_MODEL_BYTES = 512 * MIB  # --repeat-big applies to models from this size on (the ~1 GiB ones)


# ----- running one child ------------------------------------------------------------------------------


def run(cmd: list[str], env: Optional[dict[str, str]] = None, timeout: float = 3600) -> dict[str, Any]:
    """Wall time, peak RSS (bytes) and exit code of one child process."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=env)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.002)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        tail = log.read().decode("utf-8", "replace").strip().splitlines()[-1:]
    return {
        "wall": wall,
        "rss": usage.ru_maxrss * 1024,
        "cpu": usage.ru_utime + usage.ru_stime,
        "code": proc.returncode,
        "error": tail[0][:200] if tail and proc.returncode else "",
    }


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # users have compiled bytecode; so do the children
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ----- venvs -------------------------------------------------------------------------------------------


def site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise SystemExit(f"no site-packages under {venv}")
    return found[0]


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def packages_size(venv: Path) -> tuple[int, int]:
    """(bytes of site-packages without pip/setuptools/wheel, bytes of those)."""
    counted = skipped = 0
    for entry in site_packages(venv).iterdir():
        size = tree_size(entry)
        if entry.name.split("-")[0].lower() in _SKIP_SIZE or entry.name in _SKIP_SIZE:
            skipped += size
        else:
            counted += size
    return counted, skipped


def fresh_tfjsconv_venv(path: Path, rebuild: bool) -> Path:
    """A venv with tfjsconv installed from this tree (not editable), as a user would have it."""
    python = path / "bin" / "python"
    if rebuild or not python.exists():
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(REPO)],
            check=True,
            env=child_env(),
        )
    return path


# ----- sections ----------------------------------------------------------------------------------------


def startup(
    tool: list[str], official: Optional[list[str]], repeat: int, official_repeat: Optional[int] = None
) -> dict[str, Any]:
    env = child_env()
    ours, theirs = [], []
    for _ in range(repeat * 5):
        ours.append(run([*tool, "--help"], env))
    for _ in range((repeat if official_repeat is None else official_repeat) if official else 0):
        theirs.append(run([*official, "--help"], env))  # type: ignore[list-item]
    result = {
        "tfjsconv_help_s": median([r["wall"] for r in ours]),
        "tfjsconv_help_cpu_s": median([r["cpu"] for r in ours]),
        "runs": len(ours),
    }
    if theirs:
        result["official_help_s"] = median([r["wall"] for r in theirs])
    return result


def install(ours: Path, official: Optional[Path]) -> dict[str, Any]:
    counted, skipped = packages_size(ours)
    result = {
        "tfjsconv_site_packages": counted,
        "venv_tooling": skipped,
        "tfjsconv_packages": sorted(
            p.name
            for p in site_packages(ours).glob("*.dist-info")
            if p.name.split("-")[0].lower() not in _SKIP_SIZE
        ),
    }
    if official is not None:
        result["official_site_packages"] = packages_size(official)[0]
    return result


def fixture_cases() -> list[dict[str, Any]]:
    cases = []
    for spec in sorted((REPO / "fixtures" / "models").glob("*/fixture.json")):
        meta = json.loads(spec.read_text())
        fmt = meta.get("input_format")
        if fmt not in OFFICIAL_FORMATS or meta.get("topology_from"):
            continue
        source = spec.parent / meta["source"]
        args = [f"--input_format={fmt}"]
        options = meta.get("options") or {}
        if options.get("output_node_names"):
            args.append(f"--output_node_names={options['output_node_names']}")
        if options.get("signature_name"):
            args.append(f"--signature_name={options['signature_name']}")
        if fmt == "keras_keras":
            args.append("--output_format=tfjs_layers_model")
        cases.append({"name": spec.parent.name, "source": str(source), "args": args, "format": fmt})
    return cases


def compare_one(
    source: str,
    ours: list[str],
    ours_args: list[str],
    official: Optional[list[str]],
    official_args: Optional[list[str]],
    repeat: int,
    work: Path,
    official_repeat: Optional[int] = None,
    yardstick: Optional[list[str]] = None,
) -> dict[str, Any]:
    env = child_env()
    mine, theirs, base = [], [], []
    if official_repeat is None:
        official_repeat = repeat
    rounds = max(repeat, official_repeat)
    for i in range(rounds):
        if i < repeat:
            if yardstick:  # right before each of our runs: both see the same load
                base.append(run(yardstick, env))
            out = work / "ours"
            shutil.rmtree(out, ignore_errors=True)
            mine.append(run([*ours, *ours_args, source, str(out)], env))
        if official and official_args is not None and i < official_repeat:
            out = work / "official"
            shutil.rmtree(out, ignore_errors=True)
            theirs.append(run([*official, *official_args, source, str(out)], env))
    result: dict[str, Any] = {
        "wall": median([r["wall"] for r in mine]),
        "rss": max(r["rss"] for r in mine),
        "cpu": median([r["cpu"] for r in mine]),
        "ok": all(r["code"] == 0 for r in mine),
        "error": next((r["error"] for r in mine if r["code"]), ""),
    }
    if base:
        result.update(
            yardstick_wall=median([r["wall"] for r in base]), yardstick_cpu=median([r["cpu"] for r in base])
        )
    if theirs:
        result.update(
            {
                "official_wall": median([r["wall"] for r in theirs]),
                "official_rss": max(r["rss"] for r in theirs),
                "official_ok": all(r["code"] == 0 for r in theirs),
                "official_error": next((r["error"] for r in theirs if r["code"]), ""),
            }
        )
    return result


def fixtures(
    tool: list[str],
    python: str,
    official: Optional[list[str]],
    repeat: int,
    work: Path,
    only: set[str],
    official_repeat: Optional[int] = None,
) -> dict[str, Any]:
    env = child_env()
    yardstick = [run([python, "-c", "import numpy, h5py"], env) for _ in range(repeat * 5)]
    rows = []
    for case in fixture_cases():
        if only and case["name"] not in only:
            continue
        row = compare_one(
            case["source"],
            tool,
            case["args"],
            official,
            case["args"],
            repeat,
            work,
            official_repeat,
            yardstick=[python, "-c", "import numpy, h5py"],
        )
        row.update(name=case["name"], format=case["format"])
        rows.append(row)
        print(
            f"  {case['name']}: {row['wall']:.2f} s"
            + (f" vs {row['official_wall']:.2f} s" if "official_wall" in row else ""),
            file=sys.stderr,
            flush=True,
        )
    return {
        "import_numpy_h5py_s": median([r["wall"] for r in yardstick]),
        "import_numpy_h5py_cpu_s": median([r["cpu"] for r in yardstick]),
        "rows": rows,
    }


def wall_inflation(python: str, runs: int = 3) -> float:
    """Median wall / CPU time of a single-threaded CPU-bound child: 1.0 on an idle machine; above 1
    it says how much the machine's load stretches every wall-clock number measured around it."""
    code = "s = 0\nfor i in range(3_000_000):\n    s += i"
    results = [run([python, "-c", code], child_env()) for _ in range(runs)]
    return median([r["wall"] / max(r["cpu"], 1e-9) for r in results])


def big(
    tool: list[str],
    official: Optional[list[str]],
    models: Path,
    repeat: int,
    work: Path,
    only: set[str],
    official_repeat: int,
    official_quantized: bool,
    repeat_large: Optional[int] = None,
) -> list[dict[str, Any]]:
    manifest = json.loads((models / "manifest.json").read_text())
    rows = []
    for name, entry in manifest.items():
        if only and name not in only:
            continue
        runs = repeat if repeat_large is None or entry["bytes"] < LARGE_MODEL_BYTES else repeat_large
        for quantize in ([], ["--quantize_uint8"]):
            official_args = (
                None if entry.get("official_args") is None else [*entry["official_args"], *quantize]
            )
            if quantize and not official_quantized:
                official_args = None  # each official run of a big model takes minutes
            row = compare_one(
                str(models / entry["path"]),
                tool,
                [*entry["tfjsconv_args"], *quantize],
                official,
                official_args,
                runs,
                work,
                official_repeat,
            )
            bound = 100 * MIB + int(entry["largest_tensor"])
            row.update(
                name=name,
                quantize=bool(quantize),
                bytes=entry["bytes"],
                largest_tensor=entry["largest_tensor"],
                bound=bound,
                within=row["rss"] <= bound,
            )
            rows.append(row)
            print(
                f"  {name}{' uint8' if quantize else ''}: {row['wall']:.2f} s, "
                f"{row['rss'] / MIB:.0f} MiB (bound {bound / MIB:.0f})",
                file=sys.stderr,
                flush=True,
            )
    return rows


def _section(name: str) -> None:
    print(f"== {name} ({time.strftime('%H:%M:%S')})", file=sys.stderr, flush=True)


# ----- report ------------------------------------------------------------------------------------------


def _ratio(row: dict[str, Any]) -> str:
    if not row.get("official_ok") or not row.get("ok"):
        return "n/a"
    return f"{row['official_wall'] / row['wall']:.1f}x"


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Measured {results['date']} on {results['machine']} by `python benchmarks/compare.py "
        f"{results['argv']}` (one run; medians of {results['repeat']} alternating runs"
        + (f", {results['repeat_big']} per ~1 GiB model" if results.get("repeat_big") else "")
        + ").",
        "",
    ]
    if "wall_inflation_start" in results:
        lines += [
            f"Load: a CPU-bound single-threaded child took {results['wall_inflation_start']:.2f}x its CPU "
            f"time in wall-clock time at the start of the run and {results['wall_inflation_end']:.2f}x at "
            "the end (1.00 on an idle machine): wall times below are stretched by about that much.",
            "",
        ]
    if "startup" in results:
        s = results["startup"]
        lines += [
            "| start-up | median wall | median CPU |",
            "| --- | ---: | ---: |",
            f"| `tfjsconv --help` ({s['runs']} runs) | {s['tfjsconv_help_s']:.3f} s | "
            f"{s['tfjsconv_help_cpu_s']:.3f} s |",
        ]
        if "official_help_s" in s:
            lines.append(f"| `tensorflowjs_converter --help` | {s['official_help_s']:.3f} s | |")
        lines.append("")
    if "install" in results:
        i = results["install"]
        lines += [
            f"Fresh venv with tfjsconv (no extras): **{i['tfjsconv_site_packages'] / 1e6:.0f} MB** of "
            f"site-packages ({', '.join(p.split('-')[0] for p in i['tfjsconv_packages'])}; the "
            f"venv's own pip/setuptools, {i['venv_tooling'] / 1e6:.0f} MB, not counted)"
            + (
                f"; the official converter's venv: {i['official_site_packages'] / 1e6:.0f} MB."
                if "official_site_packages" in i
                else "."
            ),
            "",
        ]
    if "fixtures" in results:
        f = results["fixtures"]
        rows = f["rows"]
        ratios = [r["official_wall"] / r["wall"] for r in rows if r.get("official_ok") and r["ok"]]
        base, base_cpu = f["import_numpy_h5py_s"], f.get("import_numpy_h5py_cpu_s")
        paired = all("yardstick_wall" in r for r in rows)

        def wall_ratio(r: dict[str, Any]) -> float:
            return r["wall"] / (r["yardstick_wall"] if paired else base)

        def cpu_ratio(r: dict[str, Any]) -> Optional[float]:
            reference = r.get("yardstick_cpu") if paired else base_cpu
            return r["cpu"] / reference if reference else None

        lines += [
            f'Small fixtures: `python -c "import numpy, h5py"` takes {base:.3f} s (median wall)'
            + (f", {base_cpu:.3f} s of CPU" if base_cpu else "")
            + (
                " at the start of the section; each fixture's ratios divide by the yardstick run right "
                "before each of its runs (medians), so that both see the same load."
                if paired
                else "."
            ),
            "",
        ]
        lines += [
            "| fixture | format | tfjsconv | CPU | / import numpy,h5py | CPU / its CPU | peak RSS | official "
            "| official RSS | speed-up |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in rows:
            official = (
                f"{r['official_wall']:.2f} s"
                if r.get("official_ok")
                else ("fails" if "official_ok" in r else "")
            )
            c = cpu_ratio(r)
            cpu_text = f"{c:.2f}" if c is not None else ""
            lines.append(
                f"| {r['name']} | {r['format']} | {r['wall']:.3f} s{'' if r['ok'] else ' (fails)'} | "
                f"{r['cpu']:.3f} s | {wall_ratio(r):.2f} | {cpu_text} | {r['rss'] / MIB:.0f} MiB | "
                f"{official} | {r['official_rss'] / MIB:.0f} MiB |"
                if "official_rss" in r
                else f"| {r['name']} | {r['format']} | {r['wall']:.3f} s | {r['cpu']:.3f} s | "
                f"{wall_ratio(r):.2f} | {cpu_text} | {r['rss'] / MIB:.0f} MiB | | | |"
            )
            if "official_rss" in r:
                lines[-1] += f" {_ratio(r)} |"
        walls = [wall_ratio(r) for r in rows if r["ok"]]
        cpus = [c for c in (cpu_ratio(r) for r in rows if r["ok"]) if c is not None]
        lines += [
            "",
            f"Median over {len(walls)} fixtures: tfjsconv / (import numpy, h5py) = "
            f"{median(walls):.2f} in wall time"
            + (f", {median(cpus):.2f} in CPU time" if cpus else "")
            + (
                f"; official / tfjsconv = **{median(ratios):.1f}x** ({len(ratios)} fixtures both convert)"
                if ratios
                else ""
            )
            + ".",
            "",
        ]
    if "big" in results:
        lines += [
            "| model | size | largest tensor | quantize | tfjsconv | CPU | peak RSS | bound | within "
            "| official "
            "| official RSS | speed-up |",
            "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
        ]
        for r in results["big"]:
            official = (
                (f"{r['official_wall']:.1f} s" if r.get("official_ok") else "fails")
                if "official_ok" in r
                else "n/a"
            )
            official_rss = f"{r['official_rss'] / MIB:.0f} MiB" if "official_rss" in r else ""
            lines.append(
                f"| {r['name']} | {r['bytes'] / MIB:.0f} MiB | {r['largest_tensor'] / MIB:.0f} MiB | "
                f"{'uint8' if r['quantize'] else '-'} | {r['wall']:.2f} s{'' if r['ok'] else ' (fails)'} | "
                f"{r['cpu']:.2f} s | {r['rss'] / MIB:.0f} MiB | {r['bound'] / MIB:.0f} MiB | "
                f"{'yes' if r['within'] else '**no**'} | {official} | {official_rss} | {_ratio(r)} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=Path("/work/bench-models"))
    parser.add_argument("--official", type=Path, default=None, help="venv holding tensorflowjs_converter")
    parser.add_argument(
        "--tfjsconv-venv", type=Path, default=Path(tempfile.gettempdir()) / "tfjsconv-bench-venv"
    )
    parser.add_argument("--rebuild", action="store_true", help="reinstall the tfjsconv venv")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--official-repeat",
        type=int,
        default=None,
        help="official runs per fixture (default: --repeat; each takes 5-30 s)",
    )
    parser.add_argument(
        "--official-repeat-big",
        type=int,
        default=1,
        help="official runs per big model (each takes minutes; 0: none)",
    )
    parser.add_argument(
        "--official-quantized",
        action="store_true",
        help="also run the official converter on the big models with --quantize_uint8",
    )
    parser.add_argument(
        "--repeat-big", type=int, default=None, help="runs per model of 512 MiB or more (default: --repeat)"
    )
    parser.add_argument("--sections", default="startup,install,fixtures,big")
    parser.add_argument("--only", default="", help="fixture or model names")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--render", type=Path, default=None, help="print the tables of a --json file again")
    args = parser.parse_args()
    if args.render is not None:
        print(markdown(json.loads(args.render.read_text())))
        return
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    venv = fresh_tfjsconv_venv(args.tfjsconv_venv, args.rebuild)
    tool = [str(venv / "bin" / "tfjsconv")]
    official = None
    if args.official is not None:
        exe = args.official / "bin" / "tensorflowjs_converter"
        if not exe.exists():
            raise SystemExit(f"{exe} not found")
        official = [str(exe)]
    results: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform(terse=True)}",
        "argv": " ".join(sys.argv[1:]),
        "repeat": args.repeat,
        "repeat_big": args.repeat_big,
    }
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-compare-"))
    try:
        # Installing is not timed: done first, so that the timed sections follow each other.
        if "install" in sections:
            _section("install")
            results["install"] = install(venv, args.official)
        # The ONNX models need the `onnx` extra; installed only now so that the size above is without it.
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                f"{REPO}[onnx]",
            ],
            check=True,
            env=child_env(),
        )
        _section("timed sections")
        results["wall_inflation_start"] = wall_inflation(str(venv / "bin" / "python"))
        if "startup" in sections:
            _section("startup")
            results["startup"] = startup(tool, official, args.repeat, args.official_repeat)
        if "fixtures" in sections:
            _section("fixtures")
            results["fixtures"] = fixtures(
                tool, str(venv / "bin" / "python"), official, args.repeat, work, only, args.official_repeat
            )
        if "big" in sections:
            _section("big")
            results["big"] = big(
                tool,
                official,
                args.models,
                args.repeat,
                work,
                only,
                args.official_repeat_big,
                args.official_quantized,
                args.repeat_big,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["wall_inflation_end"] = wall_inflation(str(venv / "bin" / "python"))
    _section("done")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))


if __name__ == "__main__":
    main()
