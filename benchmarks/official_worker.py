"""Runs the official ``tensorflowjs_converter`` on many models in one process (run by the official venv's
python, from ``graph_quality.py``): its start-up (importing TensorFlow, ~25 s here) is paid once
instead of once per model.

Reads one JSON job per stdin line, ``{"argv": [converter arguments...]}``, calls the converter's own
``convert(argv)`` (what its CLI runs) and answers one JSON line per job: ``{"ok": true}`` or
``{"ok": false, "error": "<last line of the error>"}``.  Keras and TF graph state are cleared between
jobs so one model's leftovers cannot change the next one's output.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    import tensorflow as tf
    import tf_keras
    from tensorflowjs.converters import converter

    # Replies go to a copy of the original stdout; anything the converter (or TensorFlow's C++ side)
    # prints to fd 1 lands in stderr instead, so it cannot break the one-line protocol.
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        try:
            converter.convert(job["argv"])
            answer = {"ok": True}
        except BaseException as exc:  # SystemExit from argparse, any conversion error
            traceback.print_exc()
            detail = [ln for ln in str(exc).splitlines() if ln.strip()]
            answer = {"ok": False, "error": f"{type(exc).__name__}: " + " ".join(detail[-2:])}
        finally:
            tf_keras.backend.clear_session()
            tf.compat.v1.reset_default_graph()
        reply.write(json.dumps(answer) + "\n")
        reply.flush()


if __name__ == "__main__":
    main()
