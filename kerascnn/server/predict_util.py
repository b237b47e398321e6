"""The checks a Predict request passes before its signature runs, with TF Serving's messages.

Mirrors ``tensorflow_serving/servables/tensorflow/predict_util.cc`` (``RunPredict`` and its
``PreProcessPrediction``): the signature must exist and be a predict/classify/regress one, the
inputs must name exactly the signature's inputs, an output filter only its outputs, and each
input must have the signature's dtype. Our one addition: a shape the signature cannot take is
refused here, before running (TF Serving lets the session fail).

Example:
    >>> from tensorflow.core.protobuf import meta_graph_pb2
    >>> proto = meta_graph_pb2.SignatureDef(inputs={"x": meta_graph_pb2.TensorInfo(dtype=1)})
    >>> check_predict_inputs(proto, {"y": [1.0]}, ())
    Traceback (most recent call last):
    ...
    kerascnn.server.status.ServingError: input tensor alias not found in signature: y. Inputs expected to be in the set {x}.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from kerascnn.contract import DEFAULT_SIGNATURE
from kerascnn.server.dtypes import dtype_name
from kerascnn.server.status import ServingError, invalid

# The method names a signature may declare and still be run by Predict (signature_constants).
PREDICT_METHOD = tf.saved_model.PREDICT_METHOD_NAME
CLASSIFY_METHOD = tf.saved_model.CLASSIFY_METHOD_NAME
REGRESS_METHOD = tf.saved_model.REGRESS_METHOD_NAME


def predict_signature(signatures: dict, signature_name: str):
    """The signature a Predict request names ('' is the default one), checked as RunPredict does.

    Example:
        >>> predict_signature({}, "")
        Traceback (most recent call last):
        ...
        kerascnn.server.status.ServingError: Serving signature key "serving_default" not found.
    """
    name = signature_name or DEFAULT_SIGNATURE
    sig = signatures.get(name)
    if sig is None:
        raise ServingError("FAILED_PRECONDITION", f'Serving signature key "{name}" not found.')
    proto = sig.proto
    if proto.method_name not in ("", PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD):
        raise ServingError(
            "INTERNAL",
            "Expected prediction signature method_name to be one of {"
            f"{PREDICT_METHOD}, {CLASSIFY_METHOD}, {REGRESS_METHOD}}}. Was: "
            f"{proto.method_name}",
        )
    return sig


def check_predict_inputs(proto, inputs: dict, output_filter=()) -> tuple[dict, list]:
    """Check a request's inputs and output filter against a SignatureDef.

    Returns ``({alias: array}, [wanted output aliases])``; raises TF Serving's
    INVALID_ARGUMENT otherwise (see the module example).

    Example:
        >>> from tensorflow.core.protobuf import meta_graph_pb2
        >>> x = meta_graph_pb2.TensorInfo(dtype=1, tensor_shape={"dim": [{"size": -1}]})
        >>> proto = meta_graph_pb2.SignatureDef(inputs={"x": x})
        >>> arrays, wanted = check_predict_inputs(proto, {"x": np.ones(2, np.float32)})
        >>> arrays["x"].tolist(), wanted
        ([1.0, 1.0], [])
    """
    sent, expected = set(inputs), set(proto.inputs)
    if len(sent) > len(expected) or (len(sent) < len(expected) and not proto.defaults):
        raise invalid(
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
            f"Sent extra: {{{','.join(sorted(sent - expected))}}}. Missing but required: "
            f"{{{','.join(sorted(expected - sent))}}}."
        )
    for alias in inputs:
        if alias not in proto.inputs:
            raise invalid(
                f"input tensor alias not found in signature: {alias}. Inputs expected to be "
                f"in the set {{{','.join(sorted(proto.inputs))}}}."
            )
    wanted = list(output_filter)
    seen = set()
    for alias in wanted:
        if alias not in proto.outputs:
            raise invalid(
                f"output tensor alias not found in signature: {alias} Outputs expected to "
                f"be in the set {{{','.join(sorted(proto.outputs))}}}."
            )
        if alias in seen:
            raise invalid(f"duplicate output tensor alias: {alias}")
        seen.add(alias)
    arrays = {}
    for index, (alias, value) in enumerate(sorted(inputs.items())):
        expected_dtype = proto.inputs[alias].dtype
        arr = np.asarray(value) if not isinstance(value, np.ndarray) else value
        if arr.dtype.kind in "OSU":
            got = 7  # DT_STRING
        else:
            try:
                got = tf.dtypes.as_dtype(arr.dtype).as_datatype_enum
            except TypeError:
                got = -1
        if got != expected_dtype:
            raise invalid(
                f"Expects arg[{index}] to be {dtype_name(expected_dtype)} but "
                f"{dtype_name(got) if got >= 0 else str(arr.dtype)} is provided"
            )
        check_shape(alias, arr.shape, proto.inputs[alias].tensor_shape)
        arrays[alias] = arr
    return arrays, wanted


def check_shape(alias, shape, expected):
    """Refuse a tensor whose shape the signature's placeholder cannot take.

    Example:
        >>> from tensorflow.core.framework import tensor_shape_pb2
        >>> placeholder = tensor_shape_pb2.TensorShapeProto(dim=[{"size": -1}, {"size": 2}])
        >>> check_shape("x", (1, 3), placeholder)
        Traceback (most recent call last):
        ...
        kerascnn.server.status.ServingError: input tensor x has shape [1,3], which is not compatible with the signature's shape [?,2]
    """
    if expected.unknown_rank:
        return
    dims = [d.size for d in expected.dim]
    if len(dims) != len(shape) or any(d >= 0 and d != s for d, s in zip(dims, shape)):
        want = ",".join("?" if d < 0 else str(d) for d in dims)
        raise invalid(
            f"input tensor {alias} has shape [{','.join(map(str, shape))}], which is not "
            f"compatible with the signature's shape [{want}]"
        )
