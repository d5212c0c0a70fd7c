"""Is the Einsum rewrite (passes/rewrite_einsum.py) no slower than TF.js's own Einsum kernel?

    python benchmarks/einsum_rewrite.py [--runs 30] [--seq 128] [--rounds 3]

For the attention equations of issue 9 (Keras MultiHeadAttention / EinsumDense at ``--seq`` tokens,
4 heads of 64), writes two graph models per equation: the Einsum node as is, and the graph after
the default pipeline (MatMul/BatchMatMulV2 + Transpose/Reshape).  Both are timed in TF.js 4.22 in the
same process (median process CPU time of ``--runs`` samples per round after a warm-up round, order
alternating, so a busy machine does not skew it); the rewritten
form is also timed on wasm, where Einsum has no kernel.  Outputs are checked against numpy.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from tfjs_runner import TfjsRunner  # noqa: E402

from tfjsconv.ir.graph import Graph  # noqa: E402
from tfjsconv.ir.types import DType, Shape  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402
from tfjsconv.passes.pipeline import optimize  # noqa: E402
from tfjsconv.writers.graph_model import write_graph_model  # noqa: E402


def cases(seq: int, heads: int = 4, depth: int = 64) -> list[tuple[str, list[tuple[int, ...]], list[bool]]]:
    """(equation, operand shapes, which operands are constant weights)."""
    model = heads * depth
    return [
        ("abc,cde->abde", [(1, seq, model), (model, heads, depth)], [False, True]),  # query projection
        ("BTNH,BSNH->BNTS", [(1, seq, heads, depth), (1, seq, heads, depth)], [False, False]),  # scores
        ("BNTS,BSNH->BTNH", [(1, heads, seq, seq), (1, seq, heads, depth)], [False, False]),  # context
        ("abcd,cde->abe", [(1, seq, heads, depth), (heads, depth, model)], [False, True]),  # output proj.
    ]


def build(equation: str, shapes: list[tuple[int, ...]], weights: list[bool],
          values: list[np.ndarray]) -> Graph:
    g = Graph()
    inputs = []
    for i, (shape, is_weight, value) in enumerate(zip(shapes, weights, values)):
        if is_weight:
            inputs.append(g.add_const(value, name=f"w{i}").outputs[0])
            continue
        dims = (None,) + tuple(shape[1:])
        node = g.add_node("Placeholder", attrs={"dtype": DType.FLOAT, "shape": Shape.of(dims)}, name=f"in{i}")
        node.outputs[0].dtype, node.outputs[0].shape = DType.FLOAT, Shape.of(dims)
        g.inputs.append(node)
        g.input_keys.append(f"in{i}")
        inputs.append(node.outputs[0])
    y = g.add_node("Einsum", inputs, {"T": DType.FLOAT, "N": 2, "equation": equation.encode()}, name="einsum")
    y.outputs[0].dtype = DType.FLOAT
    g.outputs.append(("y", y.outputs[0]))
    return g


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-einsum-"))
    runner = TfjsRunner(timeout=3600)
    rows = []
    try:
        for equation, shapes, weights in cases(args.seq):
            values = [rng.standard_normal(s).astype(np.float32) * 0.1 for s in shapes]
            feeds = [(f"in{i}", v) for i, (v, w) in enumerate(zip(values, weights)) if not w]
            want = np.einsum(equation, *values)
            dirs = {}
            for form in ("einsum", "rewritten"):
                g = build(equation, shapes, weights, values)
                if form == "rewritten":
                    optimize(g, ConvertOptions())
                ops = sorted(n.op for n in g.nodes if n.op not in ("Const", "Placeholder"))
                out = work / f"{equation.replace(',', '_').replace('->', '_to_')}-{form}"
                out.mkdir()
                write_graph_model(g, out, ConvertOptions())
                dirs[form] = (out, ops)
            times: dict[tuple[str, str], list[float]] = {}
            errors: dict[tuple[str, str], Optional[float]] = {}
            for backend in ("cpu", "wasm"):
                forms = ["einsum", "rewritten"] if backend == "cpu" else ["rewritten"]
                for round_index in range(args.rounds + 1):
                    for form in forms if round_index % 2 == 0 else list(reversed(forms)):
                        run = runner.execute(dirs[form][0], "graph", feeds, ["y"], backend=backend,
                                             runs=args.runs, warmup=3, sample_ms=5, warmup_ms=300)
                        errors[(backend, form)] = float(np.max(np.abs(run.outputs[0][1] - want)))
                        if round_index:
                            times.setdefault((backend, form), []).extend(run.cpu_times_ms or run.times_ms)
            med = {k: statistics.median(v) for k, v in times.items()}
            rows.append((equation, " ".join(dirs["rewritten"][1]), med[("cpu", "einsum")],
                         med[("cpu", "rewritten")], med[("wasm", "rewritten")],
                         max(e for e in errors.values() if e is not None)))
            print(rows[-1], flush=True)
    finally:
        runner.close()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"seq={args.seq}, 4 heads x 64; median CPU ms per inference, {args.rounds} x {args.runs} samples")
    print("| equation | rewritten ops | cpu Einsum | cpu rewritten | wasm rewritten (Einsum: no kernel) "
          "| max abs err |")
    print("|---|---|---|---|---|---|")
    for equation, ops, cpu_e, cpu_r, wasm_r, err in rows:
        print(f"| `{equation}` | {ops} | {cpu_e:.2f} | {cpu_r:.2f} | {wasm_r:.2f} | {err:.1e} |")


if __name__ == "__main__":
    main()
