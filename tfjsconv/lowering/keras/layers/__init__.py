"""The built-in Keras layer lowerings, one module per family; importing this package registers them."""

from . import (  # noqa: F401
    conv,
    core,
    keras_ops,
    merging,
    normalization,
    pooling,
    preprocessing,
    reshaping,
)
