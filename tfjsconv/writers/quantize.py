"""Weight quantization as TF.js decodes it: affine uint8/uint16 and float16.

Which weights are quantized is chosen by name: ``{"float16" | "uint8" | "uint16": True | patterns}``,
where patterns are shell wildcards (``*`` also crosses ``/``) and ``True`` is the fallthrough that takes
every name no pattern claimed.  The affine arithmetic reproduces the official converter
(``tensorflowjs/quantization.py``) under numpy 2, i.e. in float64, so shard bytes and the manifest's
``min``/``scale`` match it bit for bit.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Callable, Optional, Union

import numpy as np

from ..errors import OptionsError

QuantizationMap = Mapping[str, Union[bool, tuple[str, ...]]]

FLOAT16_MAX = 65504.0  # largest finite float16


@dataclass(frozen=True)
class Quantized:
    """Quantized data and the manifest ``quantization`` object (key order as the official writer)."""

    data: np.ndarray
    metadata: dict[str, Union[str, float]]


@dataclass(frozen=True)
class QuantizePlan:
    """How one weight is quantized: its manifest ``quantization`` object, and ``encode``, which maps
    any piece of the float32 data to its quantized values element by element - so a large weight is
    quantized one piece at a time, never as a float64 copy of all of it."""

    metadata: dict[str, Union[str, float]]
    encode: Callable[[np.ndarray], np.ndarray]


CHUNK = 1 << 20  # elements per piece: 4 MiB of float32, 8 MiB as float64 while it is quantized


def pieces(flat: np.ndarray, chunk: int = CHUNK) -> Iterator[np.ndarray]:
    """Consecutive views of a 1-D array, ``chunk`` elements each."""
    for start in range(0, flat.size, chunk):
        yield flat[start:start + chunk]


def _affine(qdtype: type[np.unsignedinteger]) -> Callable[[np.ndarray], QuantizePlan]:
    """``q = round((clip(x, lo, hi) - lo) / scale)``, dequantized by TF.js as ``q * scale + lo``."""
    qmax = int(np.iinfo(qdtype).max)
    name = np.dtype(qdtype).name

    def plan(flat: np.ndarray) -> QuantizePlan:
        # float64 as numpy 2 promotes the official float32 maths (min/max of float32 are exact in it).
        low = float(min(float(p.min()) for p in pieces(flat)))
        high = float(max(float(p.max()) for p in pieces(flat)))
        if low == high:
            # A constant tensor: every element dequantizes to ``min`` exactly.
            return QuantizePlan(_affine_meta(name, low, 1.0), lambda p: np.zeros(p.shape, qdtype))
        # The scale comes from the real range, before the zero point is nudged.
        scale = (high - low) / qmax
        if low <= 0.0 <= high:
            # TF-Lite style nudge so that 0.0 is exactly representable (zero padding stays zero).
            zero_point = float(np.round((0.0 - low) / scale))  # 0 - x keeps -0.0 out, as upstream
            low = -zero_point * scale
            high = qmax * scale + low

        def encode(piece: np.ndarray) -> np.ndarray:
            values = piece.astype(np.float64)
            np.clip(values, low, high, out=values)
            values -= low
            values /= scale
            np.round(values, out=values)  # round half to even, as numpy does
            return values.astype(qdtype)

        return QuantizePlan(_affine_meta(name, low, scale), encode)

    return plan


def _affine_meta(name: str, low: float, scale: float) -> dict[str, Union[str, float]]:
    return {"dtype": name, "min": low, "scale": scale, "original_dtype": "float32"}


def _half(piece: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # overflow is reported through the warnings list instead
        return piece.astype("<f2")


def _float16(flat: np.ndarray) -> QuantizePlan:
    return QuantizePlan({"dtype": "float16", "original_dtype": "float32"}, _half)


# Quantization dtype -> (quantizer, bytes per element).
_QUANTIZERS: dict[str, tuple[Callable[[np.ndarray], QuantizePlan], int]] = {
    "float16": (_float16, 2),
    "uint8": (_affine(np.uint8), 1),
    "uint16": (_affine(np.uint16), 2),
}


def quantization_dtypes() -> tuple[str, ...]:
    return tuple(_QUANTIZERS)


def quantized_itemsize(qdtype: str) -> int:
    return _QUANTIZERS[qdtype][1]


def validate_quantization_map(quantization: Optional[QuantizationMap]) -> None:
    """Rejects unknown dtypes, non-pattern values and more than one fallthrough."""
    fallthrough: list[str] = []
    for qdtype, patterns in (quantization or {}).items():
        if qdtype not in _QUANTIZERS:
            raise OptionsError(f"unknown quantization dtype {qdtype!r}; expected one of "
                               + ", ".join(_QUANTIZERS))
        if patterns is True:
            fallthrough.append(qdtype)
        elif patterns is not False and patterns is not None and (
                isinstance(patterns, str) or not all(isinstance(p, str) for p in patterns)):
            raise OptionsError(f"quantize_{qdtype} takes True or a tuple of name patterns, "
                               f"not {patterns!r}")
    if len(fallthrough) > 1:
        raise OptionsError("only one quantization flag may be given without patterns (the fallthrough "
                           "for every other weight), got " + ", ".join(f"quantize_{q}" for q in fallthrough))


def resolve_quantization(names: Sequence[str], quantization: Optional[QuantizationMap]) -> dict[str, str]:
    """Maps each weight name that gets quantized to its quantization dtype.

    Matching is case-sensitive on every platform (``fnmatchcase``): the official converter's
    ``fnmatch.filter`` is case-insensitive only on Windows, which nobody relies on.
    """
    validate_quantization_map(quantization)
    chosen: dict[str, str] = {}
    fallthrough: Optional[str] = None
    for qdtype, patterns in (quantization or {}).items():
        if patterns is True:
            fallthrough = qdtype
            continue
        if patterns is False or patterns is None:
            continue
        for pattern in patterns:
            for name in names:
                if not fnmatch.fnmatchcase(name, pattern):
                    continue
                previous = chosen.setdefault(name, qdtype)
                if previous != qdtype:
                    raise OptionsError(f"weight {name} is matched by both quantize_{previous} and "
                                       f"quantize_{qdtype}; make the patterns disjoint")
    if fallthrough is not None:
        for name in names:
            chosen.setdefault(name, fallthrough)
    return chosen


def unmatched_patterns(names: Sequence[str], quantization: Optional[QuantizationMap]
                       ) -> list[tuple[str, str]]:
    """(dtype, pattern) of every pattern that matches none of ``names``."""
    missed: list[tuple[str, str]] = []
    for qdtype, patterns in (quantization or {}).items():
        if isinstance(patterns, bool) or patterns is None:
            continue
        for pattern in patterns:
            if not any(fnmatch.fnmatchcase(name, pattern) for name in names):
                missed.append((qdtype, pattern))
    return missed


def plan_quantization(name: str, data: np.ndarray, qdtype: str, warnings: Optional[list[str]] = None
                      ) -> Optional[QuantizePlan]:
    """How to quantize float32 ``data``; None when the weight is better left as float32 (with a
    warning).  ``data`` is only read, a piece at a time."""
    if data.size == 0:
        return None  # nothing to compress, and min()/max() are undefined
    flat = data.reshape(-1)
    if qdtype != "float16":
        if not all(np.isfinite(p).all() for p in pieces(flat)):
            # inf/nan make the affine range meaningless (the official converter writes garbage).
            _warn(warnings, f"weight {name} holds inf or nan values; it is kept as float32 instead of "
                            f"{qdtype}")
            return None
    else:
        overflow = sum(int(np.count_nonzero(np.isfinite(p) & (np.abs(p) > FLOAT16_MAX)))
                       for p in pieces(flat))
        if overflow:
            _warn(warnings, f"weight {name}: {overflow} value(s) exceed the float16 range "
                            f"(|x| > {FLOAT16_MAX:g}) and become +-inf or are clamped by "
                            "float16 quantization")
    return _QUANTIZERS[qdtype][0](flat)


def quantize(name: str, data: np.ndarray, qdtype: str, warnings: Optional[list[str]] = None
             ) -> Optional[Quantized]:
    """Quantizes float32 ``data`` as a whole (``plan_quantization`` for large weights)."""
    plan = plan_quantization(name, data, qdtype, warnings)
    if plan is None:
        return None
    return Quantized(plan.encode(data.reshape(-1)).reshape(data.shape), plan.metadata)


def _warn(warnings: Optional[list[str]], message: str) -> None:
    if warnings is not None:
        warnings.append(message)
