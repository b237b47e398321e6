"""TensorFlow's DataType enum as the server needs it: TF Serving's names for messages and the
NumPy dtype each one becomes.

Mirrors ``tensorflow/core/framework/types.cc`` (``DataTypeString``) and the DataType <-> NumPy
pairing of ``tensorflow/python/framework/dtypes.py``, restricted to what a served tensor can be.

Example:
    >>> dtype_name(7), NUMPY_DTYPE[3]
    ('string', <class 'numpy.int32'>)
"""

from __future__ import annotations

import numpy as np
from tensorflow.core.framework import types_pb2

# DataTypeString names TF Serving puts in its messages.
DTYPE_NAME = {
    types_pb2.DT_FLOAT: "float",
    types_pb2.DT_DOUBLE: "double",
    types_pb2.DT_INT32: "int32",
    types_pb2.DT_UINT8: "uint8",
    types_pb2.DT_INT16: "int16",
    types_pb2.DT_INT8: "int8",
    types_pb2.DT_STRING: "string",
    types_pb2.DT_COMPLEX64: "complex64",
    types_pb2.DT_INT64: "int64",
    types_pb2.DT_BOOL: "bool",
    types_pb2.DT_BFLOAT16: "bfloat16",
    types_pb2.DT_UINT16: "uint16",
    types_pb2.DT_COMPLEX128: "complex128",
    types_pb2.DT_HALF: "half",
    types_pb2.DT_UINT32: "uint32",
    types_pb2.DT_UINT64: "uint64",
}
NUMPY_DTYPE = {
    types_pb2.DT_FLOAT: np.float32,
    types_pb2.DT_DOUBLE: np.float64,
    types_pb2.DT_INT32: np.int32,
    types_pb2.DT_UINT8: np.uint8,
    types_pb2.DT_INT16: np.int16,
    types_pb2.DT_INT8: np.int8,
    types_pb2.DT_STRING: object,
    types_pb2.DT_INT64: np.int64,
    types_pb2.DT_BOOL: np.bool_,
    types_pb2.DT_UINT16: np.uint16,
    types_pb2.DT_HALF: np.float16,
    types_pb2.DT_UINT32: np.uint32,
    types_pb2.DT_UINT64: np.uint64,
}
# numpy dtype -> DataType, and the TensorProto field that carries its values


def dtype_name(dtype: int) -> str:
    """TensorFlow's DataTypeString for an enum value.

    Example:
        >>> dtype_name(1)
        'float'
    """
    if dtype in DTYPE_NAME:
        return DTYPE_NAME[dtype]
    try:
        return types_pb2.DataType.Name(dtype).removeprefix("DT_").lower()
    except ValueError:
        return f"unknown dtype {dtype}"
