"""A SavedModel's object graph (``SavedObjectGraph``) under construction: the objects
``tf.saved_model.load`` recreates (user objects, variables, resources, functions) and the
concrete functions their ``bound_inputs`` capture."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from ..._proto import saved_object_graph_pb2
from ...ir.types import Shape
from .protos import shape_proto
from .structs import function_spec
from .variables import Variable


class ObjectGraph:
    """A SavedObjectGraph under construction (node 0 is the root user object)."""

    def __init__(self, root_identifier: str = "_generic_user_object") -> None:
        self.proto = saved_object_graph_pb2.SavedObjectGraph()
        self.user_object(None, "", root_identifier)

    def _add(self, parent: Optional[int], name: str) -> tuple[int, Any]:
        node_id = len(self.proto.nodes)
        node = self.proto.nodes.add()
        if parent is not None:
            child = self.proto.nodes[parent].children.add()
            child.node_id, child.local_name = node_id, name
        return node_id, node

    def user_object(self, parent: Optional[int], name: str, identifier: str) -> int:
        node_id, node = self._add(parent, name)
        node.user_object.identifier = identifier
        node.user_object.version.producer = 1
        node.user_object.version.min_consumer = 1
        return node_id

    def reference(self, parent: int, name: str, node_id: int) -> None:
        """A second name for an existing node (Keras: ``layer-3`` and ``layer_with_weights-1``)."""
        child = self.proto.nodes[parent].children.add()
        child.node_id, child.local_name = node_id, name

    def variable(self, parent: int, name: str, variable: Variable) -> int:
        node_id, node = self._add(parent, name)
        node.variable.dtype = int(variable.dtype)
        shape_proto(Shape.of(variable.shape), node.variable.shape)
        node.variable.trainable = variable.trainable
        node.variable.name = variable.name
        return node_id

    def resource(self, parent: int, name: str) -> int:
        node_id, node = self._add(parent, name)
        node.resource.SetInParent()
        return node_id

    def function(self, parent: int, name: str, concrete: str, args: Sequence[str] = ()) -> int:
        node_id, node = self._add(parent, name)
        node.function.concrete_functions.append(concrete)
        node.function.function_spec.CopyFrom(function_spec(args))
        return node_id

    def bare_function(self, parent: int, name: str, concrete: str, keywords: Sequence[str]) -> int:
        node_id, node = self._add(parent, name)
        node.bare_concrete_function.concrete_function_name = concrete
        node.bare_concrete_function.argument_keywords.extend(keywords)
        return node_id

    def concrete(self, name: str, bound: Sequence[int], inputs: Any, outputs: Any) -> None:
        fn = self.proto.concrete_functions[name]
        fn.bound_inputs.extend(bound)
        fn.canonicalized_input_signature.CopyFrom(inputs)
        fn.output_signature.CopyFrom(outputs)

    def child(self, parent: int, name: str) -> int:
        """The existing child ``name`` of ``parent``, or a new generic user object."""
        for child in self.proto.nodes[parent].children:
            if child.local_name == name:
                return int(child.node_id)
        return self.user_object(parent, name, "_generic_user_object")
