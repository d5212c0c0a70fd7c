"""ROUTE_TABLE (what the CLI lists and what a conversion imports) matches what the modules register."""

from __future__ import annotations

import subprocess
import sys

from tfjsconv.routes import base


def test_route_table_matches_registered_routes() -> None:
    base._load_routes()
    registered = {key: base.ROUTES.get(key).__module__ for key in base.ROUTES.keys()}
    assert registered == base.ROUTE_TABLE


def test_a_conversion_imports_only_its_route() -> None:
    # A fresh interpreter: finding the SavedModel route must not import the Keras/ONNX readers.
    code = ("import sys; from tfjsconv.routes import find_route; find_route('tf_saved_model', "
            "'tfjs_graph_model'); print(sorted(m for m in ('h5py', 'onnx', 'tfjsconv.routes.keras_to_layers',"
            " 'tfjsconv.routes.onnx_to_graph') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
