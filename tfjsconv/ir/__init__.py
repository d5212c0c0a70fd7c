from .graph import Graph, LazyArray, Node, Value, as_array, const_of, const_shape, read_array
from .types import DType, FuncAttr, Shape

__all__ = ["DType", "FuncAttr", "Graph", "LazyArray", "Node", "Shape", "Value", "as_array", "const_of",
           "const_shape", "read_array"]
