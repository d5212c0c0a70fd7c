"""ONNX names as valid TF node names."""

from __future__ import annotations

import re


def tf_name(name: str, fallback: str = "t") -> str:
    """``name`` as a valid TF node name (``[A-Za-z0-9.][A-Za-z0-9_./-]*``)."""
    cleaned = re.sub(r"[^A-Za-z0-9_./-]", "_", name).strip("/")
    if not cleaned:
        return fallback
    return cleaned if re.match(r"[A-Za-z0-9.]", cleaned[0]) else f"{fallback}{cleaned}"
