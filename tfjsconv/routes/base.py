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


# Every route, by (input format, output format), and the module that registers it.  With this table
# the CLI lists and checks format names, and a conversion imports only its own route's module (so
# converting a SavedModel never loads h5py, nor an .h5 file protobuf), without importing any route.
# tests/routes/test_route_table.py checks it against what the modules register.
ROUTE_TABLE: dict[tuple[str, str], str] = {
    ("keras", "tfjs_graph_model"): "tfjsconv.routes.keras_to_graph",
    ("keras", "tfjs_layers_model"): "tfjsconv.routes.keras_to_layers",
    ("keras_keras", "tfjs_graph_model"): "tfjsconv.routes.keras_to_graph",
    ("keras_keras", "tfjs_layers_model"): "tfjsconv.routes.keras_to_layers",
    ("keras_saved_model", "tfjs_graph_model"): "tfjsconv.routes.keras_to_graph",
    ("keras_saved_model", "tfjs_layers_model"): "tfjsconv.routes.keras_saved_model_to_layers",
    ("onnx", "tfjs_graph_model"): "tfjsconv.routes.onnx_to_graph",
    ("tf_frozen_model", "tfjs_graph_model"): "tfjsconv.routes.tf_to_graph",
    ("tf_hub", "tfjs_graph_model"): "tfjsconv.routes.tf_to_graph",
    ("tf_saved_model", "tfjs_graph_model"): "tfjsconv.routes.tf_to_graph",
    ("tfjs_graph_model", "tf_frozen_model"): "tfjsconv.routes.tfjs_graph_to_tf",
    ("tfjs_graph_model", "tf_saved_model"): "tfjsconv.routes.tfjs_graph_to_tf",
    ("tfjs_layers_model", "keras"): "tfjsconv.routes.tfjs_layers_routes",
    ("tfjs_layers_model", "keras_keras"): "tfjsconv.routes.tfjs_layers_routes",
    ("tfjs_layers_model", "keras_saved_model"): "tfjsconv.routes.tfjs_layers_routes",
    ("tfjs_layers_model", "tfjs_graph_model"): "tfjsconv.routes.keras_to_graph",
    ("tfjs_layers_model", "tfjs_layers_model"): "tfjsconv.routes.tfjs_layers_routes",
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
    """Every (input, output) pair a route converts, without importing the routes."""
    return sorted(set(ROUTE_TABLE) | set(ROUTES.keys()))


def input_formats() -> list[str]:
    """Every --input_format some route reads."""
    return sorted({i for i, _ in supported_pairs()})


def output_formats() -> list[str]:
    """Every --output_format some route writes."""
    return sorted({o for _, o in supported_pairs()})


def find_route(input_format: str, output_format: Optional[str]) -> Route:
    key = (input_format, output_format or "")
    module = ROUTE_TABLE.get(key)
    if module is not None:
        _import_routes((module,))
    if key not in ROUTES:
        _load_routes()  # a route some module registers without a line in ROUTE_TABLE
    route = ROUTES.get(key)
    if route is None:
        built = ", ".join(f"{i} -> {o}" for i, o in supported_pairs())
        raise OptionsError(f"converting {input_format} to {output_format} is not supported yet "
                           f"(supported: {built or 'none'})")
    return route
