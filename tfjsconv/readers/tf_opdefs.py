"""Output-argument tables of TF ops: what ``node:out_arg:i`` means as a flat output index.

Sources, in order (FORMATS §3.4): the MetaGraph's ``stripped_op_list`` (every primitive op the graph
and its functions use), the signatures of library functions (a node whose op is a function name),
then a built-in table for GraphDefs that come without op lists (frozen ``.pb`` files).  The
stripped op list also gives the default values of attrs that TF2 exports leave out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Optional

from ..ir.types import DType


@dataclass(frozen=True)
class OutArg:
    name: str
    type: Optional[DType] = None  # a fixed type
    type_attr: str = ""
    number_attr: str = ""
    type_list_attr: str = ""


def _arg(spec: str) -> OutArg:
    """Built-in table notation: ``name``, ``name*number_attr`` or ``name[type_list_attr]``."""
    if "*" in spec:
        name, number = spec.split("*")
        return OutArg(name, type_attr="T", number_attr=number)
    if "[" in spec:
        name, rest = spec.split("[")
        return OutArg(name, type_list_attr=rest.rstrip("]"))
    return OutArg(name=spec)


_BUILTIN_SPECS: dict[str, str] = {}


def _table(spec: str, ops: str) -> None:
    for op in ops.split():
        _BUILTIN_SPECS[op] = spec


_table("output", """Identity Const Placeholder PlaceholderWithDefault Reshape ExpandDims Squeeze ConcatV2
       Concat Pack StridedSlice Slice GatherV2 Gather ResourceGather GatherNd Shape Size Rank Fill Range Tile
       Pad PadV2 MirrorPad Mean Sum Max Min Prod All Any ArgMax ArgMin MaxPool AvgPool Conv2D Conv3D
       DepthwiseConv2dNative Conv2DBackpropInput BiasAdd BatchMatMulV2 BatchMatMul BatchMatMulV3 Einsum
       BroadcastTo ClipByValue StopGradient Select SelectV2 OneHot SpaceToBatchND BatchToSpaceND
       DepthToSpace SpaceToDepth Snapshot EnsureShape Bitcast Enter Exit NextIteration LoopCond
       _FusedConv2D _FusedMatMul FusedDepthwiseConv2dNative ResizeBicubic CropAndResize Cumprod
       Reverse ReverseV2 MatrixDiag ScatterNd TensorScatterUpdate LinSpace Multinomial
       RandomUniform RandomStandardNormal TruncatedNormal StringToHashBucketFast Conv1D MaxPool3D AvgPool3D
       MaxPoolV2 Dilation2D Conv3DBackpropInputV2 DepthwiseConv2dNativeBackpropInput Prelu
       FFT IFFT RFFT IRFFT Complex Real Imag EmptyTensorList TensorListReserve TensorListSetItem
       TensorListGetItem TensorListStack TensorListFromTensor StatelessRandomUniformV2 Bincount""")
_table("z", """Add AddV2 Sub Mul RealDiv Div DivNoNan FloorDiv FloorMod Mod Maximum Minimum Pow
       SquaredDifference Equal NotEqual Greater GreaterEqual Less LessEqual LogicalAnd LogicalOr
       TruncateDiv Atan2 BiasAddV1 BitwiseAnd BitwiseOr BitwiseXor LeftShift RightShift""")
_table("y", """Sigmoid Tanh Exp Expm1 Log Log1p Sqrt Rsqrt Square Neg Abs Erf Erfc Cast Transpose ZerosLike
       OnesLike Round Floor Ceil Sign Reciprocal Inv Sin Cos Tan Asin Acos Atan Sinh Cosh Asinh Acosh
       Atanh LogicalNot IsNan IsInf IsFinite Rint Invert""")
_table("activations", "Relu Relu6 Elu Selu LeakyRelu Softplus Softsign")
for _op, _spec in {"MatMul": "product", "Softmax": "softmax", "LogSoftmax": "logsoftmax",
                   "ReadVariableOp": "value", "AddN": "sum", "ResizeBilinear": "resized_images",
                   "ResizeNearestNeighbor": "resized_images", "Where": "index", "Cumsum": "out",
                   "MatrixBandPart": "band", "VarHandleOp": "resource", "VariableV2": "ref",
                   "Variable": "ref", "Assign": "output_ref", "LookupTableFindV2": "values",
                   "LookupTableSizeV2": "size", "HashTableV2": "table_handle",
                   "MutableHashTableV2": "table_handle", "TopKV2": "values indices",
                   "Unique": "y idx", "Switch": "output_false output_true", "Merge": "output value_index",
                   "MaxPoolWithArgmax": "output argmax", "RestoreV2": "tensors[dtypes]",
                   "FusedBatchNorm": "y batch_mean batch_variance reserve_space_1 reserve_space_2",
                   "FusedBatchNormV2": "y batch_mean batch_variance reserve_space_1 reserve_space_2",
                   "FusedBatchNormV3": "y batch_mean batch_variance reserve_space_1 reserve_space_2 "
                                       "reserve_space_3",
                   "NonMaxSuppressionV5": "selected_indices selected_scores valid_outputs",
                   "NonMaxSuppressionV4": "selected_indices valid_outputs",
                   "NonMaxSuppressionV3": "selected_indices", "NonMaxSuppressionV2": "selected_indices",
                   "Unpack": "output*num", "Split": "output*num_split", "SplitV": "output*num_split",
                   "ShapeN": "output*N", "IdentityN": "output[T]", "PartitionedCall": "output[Tout]",
                   "StatefulPartitionedCall": "output[Tout]", "If": "output[Tout]",
                   "StatelessIf": "output[Tout]", "Case": "output[Tout]", "StatelessCase": "output[Tout]",
                   "While": "output[T]", "StatelessWhile": "output[T]", "BroadcastArgs": "r0",
                   "BroadcastGradientArgs": "r0 r1", "SparseToDense": "dense",
                   "ResourceGatherNd": "output", "VariableShape": "output",
                   "VarIsInitializedOp": "is_initialized", "StringSplitV2": "indices values shape",
                   "TensorListLength": "length", "TensorListPopBack": "output_handle tensor",
                   "ListDiff": "out idx", "UniqueV2": "y idx", "SparseFillEmptyRows":
                   "output_indices output_values empty_row_indicator reverse_index_map",
                   "SparseReshape": "output_indices output_shape", "SparseSegmentSum": "output",
                   "StaticRegexReplace": "output", "StringJoin": "output", "SaveV2": "",
                   "NoOp": "", "AssignVariableOp": "", "LookupTableImportV2": "",
                   "InitializeTableFromTextFileV2": "", "InitializeTableV2": "", "Assert": "",
                   "AssignAddVariableOp": "", "AssignSubVariableOp": "", "DisableCopyOnRead": ""}.items():
    _BUILTIN_SPECS[_op] = _spec


def _builtin(op: str) -> Optional[list[OutArg]]:
    spec = _BUILTIN_SPECS.get(op)
    if spec is None:
        return None
    return [_arg(s) for s in spec.split()]


class OpDefs:
    """Output args and attr defaults per op name; library function names resolve to their signature."""

    def __init__(self, op_list: Iterable[Any] = (), functions: Iterable[Any] = ()) -> None:
        self._outputs: dict[str, list[OutArg]] = {}
        self._defaults: dict[str, dict[str, Any]] = {}
        for op_def in op_list:
            self._add(op_def, defaults=True)
        for fdef in functions:
            self._add(fdef.signature, defaults=False)

    def _add(self, op_def: Any, *, defaults: bool) -> None:
        from .tf_proto_convert import attr_to_value  # the converters depend on this module

        args = []
        for a in op_def.output_arg:
            fixed = DType.from_tf(int(a.type)) if a.type else None
            args.append(OutArg(a.name, fixed, a.type_attr, a.number_attr, a.type_list_attr))
        self._outputs[op_def.name] = args
        if defaults:
            self._defaults[op_def.name] = {
                a.name: attr_to_value(a.default_value, f"default of {op_def.name}.{a.name}")
                for a in op_def.attr if a.HasField("default_value")}

    def known(self, op: str) -> bool:
        return op in self._outputs or op in _BUILTIN_SPECS

    def output_args(self, op: str) -> Optional[list[OutArg]]:
        args = self._outputs.get(op)
        return args if args is not None else _builtin(op)

    def fill_defaults(self, op: str, attrs: dict[str, Any]) -> None:
        for key, value in self._defaults.get(op, {}).items():
            if key not in attrs and value is not None:
                attrs[key] = value

    @staticmethod
    def _arg_count(arg: OutArg, attrs: dict[str, Any]) -> int:
        if arg.number_attr:
            return int(attrs.get(arg.number_attr, 1))
        if arg.type_list_attr:
            return len(attrs.get(arg.type_list_attr, []))
        return 1

    def flat_index(self, op: str, attrs: dict[str, Any], out_arg: str, index: int) -> Optional[int]:
        """The flat output index of ``out_arg:index``, or None when the op or arg is unknown."""
        args = self.output_args(op)
        if args is None:
            return None
        base = 0
        for arg in args:
            if arg.name == out_arg:
                return base + index
            base += self._arg_count(arg, attrs)
        return None

    def output_dtypes(self, op: str, attrs: dict[str, Any]) -> Optional[list[Optional[DType]]]:
        args = self.output_args(op)
        if args is None:
            return None
        out: list[Optional[DType]] = []
        for arg in args:
            if arg.type_list_attr:
                types = attrs.get(arg.type_list_attr, [])
                out.extend(t if isinstance(t, DType) else None for t in types)
                continue
            dtype = arg.type
            if dtype is None and arg.type_attr:
                found = attrs.get(arg.type_attr)
                dtype = found if isinstance(found, DType) else None
            if dtype is None and op in _BUILTIN_SPECS:
                found = attrs.get("T", attrs.get("dtype"))
                dtype = found if isinstance(found, DType) else None
            out.extend([dtype] * self._arg_count(arg, attrs))
        return out
