"""Conversion options: one frozen dataclass mirroring the official converter's flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from .errors import OptionsError

DEFAULT_SHARD_SIZE_BYTES = 4 * 1024 * 1024

# The valid --input_format / --output_format names are those of the registered routes
# (routes.input_formats() / routes.output_formats()), so no list here can promise a route that is missing.

# A quantization flag is off (None), on for every weight not claimed by another flag (True),
# or limited to fnmatch patterns over weight names.
QuantizePatterns = Union[None, bool, tuple[str, ...]]


@dataclass(frozen=True)
class ConvertOptions:
    input_format: Optional[str] = None  # None: detect from the input
    output_format: Optional[str] = None  # None: inferred from the input format
    signature_name: Optional[str] = None
    saved_model_tags: str = "serve"
    quantize_float16: QuantizePatterns = None
    quantize_uint8: QuantizePatterns = None
    quantize_uint16: QuantizePatterns = None
    quantization_bytes: Optional[int] = None  # deprecated: 1 -> uint8, 2 -> uint16 for every weight
    split_weights_by_layer: bool = False
    skip_op_check: bool = False
    strip_debug_ops: bool = False
    use_structured_outputs_names: bool = False
    weight_shard_size_bytes: Optional[int] = None
    output_node_names: Optional[str] = None
    control_flow_v2: bool = False
    experiments: bool = False
    metadata: dict[str, object] = field(default_factory=dict)  # already parsed JSON, by key
    max_tensor_bytes: Optional[int] = None  # None: limits.DEFAULT_MAX_TENSOR_BYTES
    strict: bool = False  # quantization patterns that match no weight are errors, not warnings

    @property
    def shard_size(self) -> int:
        return self.weight_shard_size_bytes or DEFAULT_SHARD_SIZE_BYTES

    @property
    def tags(self) -> set[str]:
        return {t.strip() for t in self.saved_model_tags.split(",") if t.strip()}

    def quantization_map(self) -> dict[str, Union[bool, tuple[str, ...]]]:
        """``{"float16"|"uint8"|"uint16": True | patterns}`` for the flags that are set."""
        chosen: dict[str, Union[bool, tuple[str, ...]]] = {}
        for dtype, value in (("float16", self.quantize_float16), ("uint8", self.quantize_uint8),
                             ("uint16", self.quantize_uint16)):
            if value:
                chosen[dtype] = value
        if self.quantization_bytes is not None:
            if chosen:
                raise OptionsError("--quantization_bytes cannot be combined with --quantize_float16, "
                                   "--quantize_uint8 or --quantize_uint16")
            if self.quantization_bytes not in (1, 2):
                raise OptionsError(f"--quantization_bytes must be 1 or 2, not {self.quantization_bytes}")
            chosen["uint8" if self.quantization_bytes == 1 else "uint16"] = True
        return chosen
