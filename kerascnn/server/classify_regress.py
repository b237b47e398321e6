"""Classify, Regress and MultiInference: the signatures that take serialized tf.Examples.

Mirrors TF Serving's ``servables/tensorflow/classifier.cc`` and ``regressor.cc`` (signature
checks and result conversion), ``multi_inference.cc`` (several tasks on one input) and
``util.cc``'s ``InputToSerializedExampleTensor`` (an ``Input`` proto, context merged into each
example, as one string tensor). The servable passed in only needs ``name``, ``version``,
``signatures``, ``run_signature``, ``classify`` and ``regress`` (``servable.Servable``).

Example:
    >>> from tensorflow_serving.apis import input_pb2
    >>> inp = input_pb2.Input()
    >>> inp.example_list.examples.add().features.feature["x"].float_list.value.append(1.0)
    >>> serialized_examples(inp).shape
    (1,)
"""

from __future__ import annotations

import numpy as np
from google.protobuf import text_format
from tensorflow_serving.apis import classification_pb2, inference_pb2, regression_pb2

from kerascnn.contract import DEFAULT_SIGNATURE
from kerascnn.server.predict_util import CLASSIFY_METHOD, REGRESS_METHOD
from kerascnn.server.status import invalid


def example_signature(servable, signature_name: str, method: str):
    """The classify or regress signature a request names, checked as TF Serving does.

    Example:
        >>> example_signature(servable, "", "classify").name  # doctest: +SKIP
        'serving_default'
    """
    name = signature_name or DEFAULT_SIGNATURE
    sig = servable.signatures.get(name)
    if sig is None:
        raise invalid(f"No signature was found with the name: {name}")
    proto = sig.proto
    debug = text_format.MessageToString(proto)
    if len(proto.inputs) != 1:
        raise invalid("Expected one input Tensor.")
    if method == "classify":
        if len(proto.outputs) not in (1, 2):
            raise invalid(f"Expected one or two output Tensors, found {len(proto.outputs)}")
        if "inputs" not in proto.inputs:
            raise invalid(f"No classification inputs found in SignatureDef: {debug}")
        if "classes" not in proto.outputs and "scores" not in proto.outputs:
            raise invalid(
                "Expected classification signature outputs to contain at least one of "
                f'"classes" or "scores". Signature was: {debug}'
            )
    else:
        if len(proto.outputs) != 1:
            raise invalid("Expected one output Tensor.")
        if "inputs" not in proto.inputs:
            raise invalid(f"No regression inputs found in SignatureDef: {debug}")
        if "outputs" not in proto.outputs:
            raise invalid(f"No regression outputs found in SignatureDef: {debug}")
    return sig


def serialized_examples(input_proto) -> np.ndarray:
    """An ``Input`` proto's examples, each with the context merged in, as a string array.

    Example:
        >>> from tensorflow_serving.apis import input_pb2
        >>> serialized_examples(input_pb2.Input())
        Traceback (most recent call last):
        ...
        kerascnn.server.status.ServingError: Input is empty.
    """
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        examples = list(input_proto.example_list.examples)
        records = [e.SerializeToString() for e in examples]
    elif kind == "example_list_with_context":
        ctx = input_proto.example_list_with_context.context
        records = []
        for e in input_proto.example_list_with_context.examples:
            merged = type(e)()
            merged.CopyFrom(ctx)
            merged.MergeFrom(e)
            records.append(merged.SerializeToString())
    else:
        records = []
    if not records:
        raise invalid("Input is empty.")
    arr = np.empty(len(records), dtype=object)
    arr[:] = records
    return arr


def classify(servable, signature_name, input_proto) -> classification_pb2.ClassificationResult:
    """Run a classification signature on tf.Examples.

    Example:
        >>> classify(servable, "", inp).classifications[0].classes[0].label  # doctest: +SKIP
        'neg'
    """
    sig = example_signature(servable, signature_name, "classify")
    serialized = serialized_examples(input_proto)
    outputs = servable.run_signature(sig, {"inputs": serialized})
    classes = outputs.get("classes")
    scores = outputs.get("scores")
    n = len(serialized)
    result = classification_pb2.ClassificationResult()
    for i in range(n):
        row = result.classifications.add()
        k = (
            scores.shape[1]
            if scores is not None and scores.ndim > 1
            else classes.shape[1]
            if classes is not None and classes.ndim > 1
            else 1
        )
        for j in range(k):
            cls = row.classes.add()
            if classes is not None:
                value = classes[i][j] if classes.ndim > 1 else classes[i]
                cls.label = value.decode() if isinstance(value, bytes) else str(value)
            if scores is not None:
                cls.score = float(scores[i][j] if scores.ndim > 1 else scores[i])
    return result


def regress(servable, signature_name, input_proto) -> regression_pb2.RegressionResult:
    """Run a regression signature on tf.Examples.

    Example:
        >>> regress(servable, "regress", inp).regressions[0].value  # doctest: +SKIP
        3.0
    """
    sig = example_signature(servable, signature_name, "regress")
    serialized = serialized_examples(input_proto)
    outputs = servable.run_signature(sig, {"inputs": serialized})["outputs"]
    n = len(serialized)
    if not (outputs.ndim == 1 or (outputs.ndim == 2 and outputs.shape[1] == 1)):
        raise invalid(
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] "
            f"but got {list(outputs.shape)}"
        )
    if outputs.shape[0] != n:
        raise invalid(
            f"Input batch size did not match output batch size: {n} vs. {outputs.shape[0]}"
        )
    result = regression_pb2.RegressionResult()
    for v in outputs.reshape(-1):
        result.regressions.add().value = float(v)
    return result


def run_multi_inference(servable, request) -> inference_pb2.MultiInferenceResponse:
    """TF Serving's MultiInference: several classify/regress tasks on one input.

    Example:
        >>> run_multi_inference(servable, request).results[0].model_spec.name  # doctest: +SKIP
        'toy'
    """
    response = inference_pb2.MultiInferenceResponse()
    seen = set()
    for task in request.tasks:
        if not task.model_spec.name:
            raise invalid("Found ModelSpec with an empty model name.")
        if task.model_spec.name != servable.name:
            raise invalid(
                "All ModelSpecs in a MultiInferenceRequest must access the same model name."
            )
        sig_name = task.model_spec.signature_name or DEFAULT_SIGNATURE
        if sig_name in seen:
            raise invalid(f"Duplicate evaluation of signature: {sig_name}")
        seen.add(sig_name)
        if sig_name not in servable.signatures:
            raise invalid(f"Requested signature not found in model graph: {sig_name}")
        result = response.results.add()
        result.model_spec.name = servable.name
        result.model_spec.version.value = servable.version
        result.model_spec.signature_name = sig_name
        if task.method_name == CLASSIFY_METHOD:
            result.classification_result.CopyFrom(servable.classify(sig_name, request.input))
        elif task.method_name == REGRESS_METHOD:
            result.regression_result.CopyFrom(servable.regress(sig_name, request.input))
        else:
            raise invalid(f"Unsupported signature method_name: {task.method_name}")
    return response
