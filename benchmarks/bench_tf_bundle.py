"""Throughput of the checkpoint reader: index parsing, full CRC verification, materialization.

    python3 benchmarks/bench_tf_bundle.py <checkpoint prefix> [--repeat N]

Make a ~100 MB checkpoint with TensorFlow (e.g. /work/fxenv) first, for example:

    /work/fxenv/bin/python -c "import numpy as np, tensorflow as tf; \
      vs = [tf.Variable(np.random.rand(1 << 20).astype('float32')) for _ in range(25)]; \
      tf.train.Checkpoint(vs=vs).write('/tmp/bench_ckpt/ckpt')"
    python3 benchmarks/bench_tf_bundle.py /tmp/bench_ckpt/ckpt
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tfjsconv.readers.tf.bundle import TensorBundle
from tfjsconv.readers.tf.crc32c import crc32c


def _best(repeat: int, run: object) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefix", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    opened = _best(args.repeat, lambda: TensorBundle.open(args.prefix))
    bundle = TensorBundle.open(args.prefix)
    total = bundle.verify()
    mb = total / 1e6
    print(f"checkpoint: {args.prefix} — {len(bundle.keys())} tensors, {bundle.header.num_shards} shard(s), "
          f"{mb:.1f} MB of tensor data")
    print(f"open (index parse + block CRCs): {opened * 1e3:.1f} ms")

    verify = _best(args.repeat, lambda: TensorBundle.open(args.prefix).verify())
    print(f"verify() all CRCs:               {mb / verify:8.1f} MB/s ({verify:.2f} s)")

    def materialize(check: bool) -> None:
        fresh = TensorBundle.open(args.prefix, verify_checksums=check)
        for key in fresh.keys():
            value = fresh.tensor(key).materialize()
            if value.dtype != object:
                np.add.reduce(value.reshape(-1)[:: 4096 // max(value.itemsize, 1)])  # touch every page

    checked = _best(args.repeat, lambda: materialize(True))
    unchecked = _best(args.repeat, lambda: materialize(False))
    print(f"materialize all, CRC verified:   {mb / checked:8.1f} MB/s ({checked:.2f} s)")
    print(f"materialize all, CRC skipped:    {mb / unchecked:8.1f} MB/s ({unchecked:.2f} s)")

    sample = np.random.default_rng(0).integers(0, 256, 64 << 20, dtype=np.uint8)
    raw = _best(args.repeat, lambda: crc32c(sample))
    print(f"crc32c on 64 MiB in memory:      {64 * 1.048576 / raw:8.1f} MB/s")


if __name__ == "__main__":
    main()
