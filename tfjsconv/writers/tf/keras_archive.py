"""Keras 3 ``.keras`` archive: a zip of ``metadata.json``, ``config.json`` and ``model.weights.h5``
(stored uncompressed, as Keras writes it, so that readers can open the weights in place).

The weights file is written next to the archive first and then streamed into it, so no weight is
held in memory longer than it takes to write it.
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...errors import OutputError
from ...ir.weight import Weight
from .keras_config import model_config as keras3_model_config
from .keras_weights import write_keras3_weights

KERAS_FILE = "model.keras"
# The Keras 3 release whose format this writes (what metadata.json claims).
KERAS_VERSION = "3.15.1"


def write_keras_archive(path: Path, model_config: dict[str, Any], weights: Sequence[Weight],
                        where: Path, compile_config: Any = None) -> None:
    """Writes ``path`` (a .keras zip) from a TF.js topology's ``model_config`` and its weights."""
    config = keras3_model_config(model_config)
    if compile_config is not None:
        config["compile_config"] = compile_config
    metadata = {"keras_version": KERAS_VERSION, "date_saved": time.strftime("%Y-%m-%d@%H:%M:%S")}
    weights_file = path.with_name(path.name + ".weights.h5")
    try:
        write_keras3_weights(weights_file, model_config, weights, where)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr("metadata.json", json.dumps(metadata))
            archive.writestr("config.json", json.dumps(config))
            archive.write(weights_file, "model.weights.h5")
    except OSError as exc:
        raise OutputError(f"cannot write the Keras archive: {exc.strerror or exc}", path) from None
    finally:
        weights_file.unlink(missing_ok=True)
