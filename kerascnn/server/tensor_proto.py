"""TensorProto <-> NumPy arrays for gRPC requests, responses and warmup records.

Mirrors ``tensorflow/core/framework/tensor.cc``'s ``Tensor::FromProto`` (through
``tf.make_ndarray``, with a bound on how far a short proto may broadcast) and
``Tensor::AsProtoField`` (typed value fields, small ints in ``int_val``, halves as bit
patterns), which TF Serving's ``PredictResponse`` uses.

Example:
    >>> import numpy as np
    >>> proto = array_to_proto(np.array([[1, 2]], np.int8))
    >>> proto.dtype, list(proto.int_val), array_from_proto(proto).tolist()
    (6, [1, 2], [[1, 2]])
"""

from __future__ import annotations

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from kerascnn.server.dtypes import NUMPY_DTYPE, dtype_name
from kerascnn.server.status import invalid

# numpy dtype -> DataType, and the TensorProto field that carries its values
# (Tensor::AsProtoField: small ints travel in int_val, halves as their bit patterns).
_DTYPE_OF_NUMPY = {np.dtype(t): dt for dt, t in NUMPY_DTYPE.items() if t is not object}
_VALUE_FIELD = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_HALF: "half_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_BOOL: "bool_val",
}

# A TensorProto with fewer values than its shape holds repeats the last one, so a few bytes
# can ask for gigabytes ([2**31] and one float). Dense data never expands beyond its own
# size; allow that (times the 8-byte pointer of a string) plus a fixed margin, no more.
MAX_BROADCAST_BYTES = 64 * 1024 * 1024


def _check_expansion(proto: tensor_pb2.TensorProto) -> None:
    elements = 1  # tf.make_ndarray reads the dims even when unknown_rank is set
    for dim in proto.tensor_shape.dim:
        if dim.size < 0:
            return  # tf.make_ndarray rejects it
        elements *= dim.size
    itemsize = np.dtype(NUMPY_DTYPE[proto.dtype]).itemsize
    limit = MAX_BROADCAST_BYTES + 8 * proto.ByteSize()
    if elements * itemsize > limit:
        shape = [d.size for d in proto.tensor_shape.dim]
        raise invalid(
            f"tensor parsing error: shape {shape} of {dtype_name(proto.dtype)} needs "
            f"{elements * itemsize} bytes, more than the {limit} this request may expand to"
        )


def array_from_proto(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """A request TensorProto -> array (``tf.make_ndarray``), INVALID_ARGUMENT when malformed.

    Example:
        >>> import tensorflow as tf
        >>> array_from_proto(tf.make_tensor_proto([1.0, 2.0])).tolist()
        [1.0, 2.0]
    """
    import tensorflow as tf

    if proto.dtype not in NUMPY_DTYPE:
        raise invalid(f"Unsupported tensor dtype: {dtype_name(proto.dtype)}")
    _check_expansion(proto)
    try:
        return tf.make_ndarray(proto)
    except Exception as exc:  # malformed protos raise ValueError/TypeError/IndexError
        raise invalid(f"Unable to parse tensor proto: {exc}") from None


def array_to_proto(arr: np.ndarray, dtype: int | None = None) -> tensor_pb2.TensorProto:
    """An output array -> TensorProto with typed value fields (Tensor::AsProtoField).

    Example:
        >>> import numpy as np
        >>> list(array_to_proto(np.array([1.5], np.float32)).float_val)
        [1.5]
    """
    arr = np.asarray(arr)
    proto = tensor_pb2.TensorProto()
    proto.tensor_shape.CopyFrom(
        tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=int(d)) for d in arr.shape]
        )
    )
    flat = arr.reshape(-1)
    if arr.dtype.kind in "OSU":
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend(v.encode() if isinstance(v, str) else bytes(v) for v in flat)
    elif arr.dtype in _DTYPE_OF_NUMPY:
        proto.dtype = _DTYPE_OF_NUMPY[arr.dtype]
        values = flat.view(np.uint16) if proto.dtype == types_pb2.DT_HALF else flat
        getattr(proto, _VALUE_FIELD[proto.dtype]).extend(values.tolist())
    else:
        import tensorflow as tf

        return tf.make_tensor_proto(arr)
    if dtype is not None and dtype != proto.dtype:
        proto.dtype = dtype
    return proto
