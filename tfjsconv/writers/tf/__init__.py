"""Writers back to TensorFlow formats: checkpoint bundles, GraphDefs, SavedModels and Keras 3 archives.

They are built on the project's own protos (``tfjsconv._proto``) and stream weights: one tensor is
materialized, written and dropped before the next one is read.
"""
