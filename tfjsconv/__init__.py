"""tfjsconv: TensorFlow / Keras / ONNX models to TensorFlow.js, without the TensorFlow runtime."""

from .version import __version__

__all__ = ["__version__", "convert"]


def __getattr__(name: str):  # keeps `import tfjsconv` (and the CLI's --help) instant
    if name == "convert":
        from .api import convert

        return convert
    raise AttributeError(name)
