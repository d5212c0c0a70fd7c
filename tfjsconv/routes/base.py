"""The route registry.

A route turns one input (file or directory) into files inside a fresh output directory.  It gets a
``RouteContext`` and appends user-facing warnings to ``ctx.warnings``; it raises ``ConverterError``
subclasses for anything the user must fix.  Routes never create the final output directory
themselves: ``api.convert`` hands them a temporary one and moves it into place on success.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..errors import OptionsError
from ..options import ConvertOptions
from ..registry import Registry


@dataclass
class RouteContext:
    input_path: Path
    output_dir: Path  # temporary, empty, already created
    options: ConvertOptions
    warnings: list[str] = field(default_factory=list)
    # The input exactly as the user gave it: an http(s):// handle for tf_hub, else str(input_path).
    source: str = ""

    def warn(self, message: str) -> None:
        self.warnings.append(" ".join(message.split()))


Route = Callable[[RouteContext], None]

ROUTES: Registry[tuple[str, str], Route] = Registry("route")

# Modules that register routes, imported on first lookup so that `tfjsconv --help` stays instant.
_ROUTE_MODULES = (
    "tfjsconv.routes.keras_to_layers",
    "tfjsconv.routes.tf_to_graph",
    "tfjsconv.routes.onnx_to_graph",
    "tfjsconv.routes.tfjs_layers_routes",
    "tfjsconv.routes.keras_saved_model_to_layers",
    "tfjsconv.routes.tfjs_graph_to_tf",
    "tfjsconv.routes.keras_to_graph",
)


def register_route(input_format: str, output_format: str) -> Callable[[Route], Route]:
    return ROUTES.register((input_format, output_format))


# The modules that register the routes from each input format.  A conversion imports only these (and
# what they need), so converting a SavedModel never loads h5py, nor an .h5 file protobuf; a pair not
# found there falls back to importing every module above.
_MODULES_BY_INPUT: dict[str, tuple[str, ...]] = {
    "keras": ("tfjsconv.routes.keras_to_layers",),
    "keras_keras": ("tfjsconv.routes.keras_to_layers",),
    "keras_saved_model": ("tfjsconv.routes.keras_saved_model_to_layers",),
    "tf_saved_model": ("tfjsconv.routes.tf_to_graph",),
    "tf_frozen_model": ("tfjsconv.routes.tf_to_graph",),
    "tf_hub": ("tfjsconv.routes.tf_to_graph",),
    "onnx": ("tfjsconv.routes.onnx_to_graph",),
    "tfjs_layers_model": ("tfjsconv.routes.tfjs_layers_routes",),
    "tfjs_graph_model": ("tfjsconv.routes.tfjs_graph_to_tf",),
}


def _import_routes(modules: tuple[str, ...]) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a route module that exists but fails to import is a bug
                raise


def _load_routes() -> None:
    _import_routes(_ROUTE_MODULES)


def supported_pairs() -> list[tuple[str, str]]:
    _load_routes()
    return sorted(ROUTES.keys())


def input_formats() -> list[str]:
    """Every --input_format some route reads."""
    return sorted({i for i, _ in supported_pairs()})


def output_formats() -> list[str]:
    """Every --output_format some route writes."""
    return sorted({o for _, o in supported_pairs()})


def find_route(input_format: str, output_format: Optional[str]) -> Route:
    key = (input_format, output_format or "")
    _import_routes(_MODULES_BY_INPUT.get(input_format, ()))
    if key not in ROUTES:
        _load_routes()
    route = ROUTES.get(key)
    if route is None:
        built = ", ".join(f"{i} -> {o}" for i, o in sorted(ROUTES.keys()))
        raise OptionsError(f"converting {input_format} to {output_format} is not supported yet "
                           f"(supported: {built or 'none'})")
    return route
