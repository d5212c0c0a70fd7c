"""Lowering of framework-level models (Keras layers) into the TF-op graph IR.

``builder`` emits TF ops with their static dtypes and shapes; ``keras`` turns each Keras layer class
into such ops through one registered function per class.
"""
