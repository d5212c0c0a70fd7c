"""The built-in Keras layer lowerings, one module per family; importing this package registers them."""

from . import (  # noqa: F401
    conv,
    core,
    merging,
    normalization,
    pooling,
    preprocessing,
    reshaping,
)
