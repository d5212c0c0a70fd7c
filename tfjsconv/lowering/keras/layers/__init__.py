"""The built-in Keras layer lowerings, one module per family; importing this package registers them."""

from ... import shape_rules_split  # noqa: F401  (shape rules of the split/stack/slice ops)
from . import (  # noqa: F401
    attention,
    conv,
    conv_lstm,
    core,
    einsum_dense,
    keras_ops,
    locally_connected,
    merging,
    normalization,
    pooling,
    preprocessing,
    recurrent,
    reshaping,
    tf_op_lambda,
    wrappers,
)
