"""The gRPC transport: TF Serving's ``PredictionService`` with TensorProtos.

Example:
    >>> GrpcBackend("localhost:8500", model_name="digits", version=None, label=None,
    ...             signature="serving_default", timeout=30).description  # doctest: +SKIP
    'grpc://localhost:8500/digits'
"""

from __future__ import annotations

import re

import numpy as np

from kerascnn.client.prediction import (
    MissingSignature,
    ServerError,
    predict_inputs,
    prediction_rows,
    tf_error_line,
)
from kerascnn.client.retry import ServerUnavailable
from kerascnn.contract import (
    CLASS_ID,
    CLASS_NAMES_SIGNATURE,
    LABEL_OUTPUT,
    PIXELS_INPUT,
    PIXELS_SIGNATURE,
    PROBABILITIES_OUTPUT,
)
from kerascnn.errors import KerasCNNError, UsageError

GRPC_MAX_MESSAGE = 256 * 1024 * 1024  # far above gRPC's 4 MiB default

# gRPC reports a server it never reached as UNAVAILABLE too; these details say so (refused,
# unknown host). Any other UNAVAILABLE comes from a server that is there: busy, loading, restarting.
_NEVER_CONNECTED = re.compile(
    r"failed to connect|connection refused|DNS resolution failed|name resolution|"
    r"Name or service not known|No address associated|Could not resolve",
    re.IGNORECASE,
)


class GrpcBackend:
    def __init__(self, target, *, model_name, version, label, signature, timeout):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.target = target
        self.url = f"grpc://{target}"
        self.model_name = model_name
        self.version = version
        self.label = label
        self.signature = signature
        self.timeout = timeout
        self.description = f"{self.url} model {model_name!r}"
        options = [
            ("grpc.max_receive_message_length", GRPC_MAX_MESSAGE),
            ("grpc.max_send_message_length", GRPC_MAX_MESSAGE),
        ]
        self.channel = grpc.insecure_channel(target, options=options)
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self._names = None
        self._class_count = None
        self.input_shape = None
        self._answered = False  # once the server answered, UNAVAILABLE is worth a retry

    def _spec(self, signature):
        from tensorflow_serving.apis import model_pb2

        spec = model_pb2.ModelSpec(name=self.model_name, signature_name=signature)
        if self.version is not None:
            spec.version.value = int(self.version)
        elif self.label is not None:
            spec.version_label = self.label
        return spec

    def _rpc(self, method, request):
        import grpc

        try:
            response = method(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details() or ""
            if code == grpc.StatusCode.UNAVAILABLE:
                if not self._answered and _NEVER_CONNECTED.search(details):
                    raise KerasCNNError(f"cannot reach the server at {self.url} ({details})") from None
                raise ServerUnavailable(self.url, f"UNAVAILABLE: {tf_error_line(details)}") from None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise KerasCNNError(
                    f"the server at {self.url} did not answer within {self.timeout:g} s"
                ) from None
            if code == grpc.StatusCode.NOT_FOUND:
                raise UsageError(
                    f"{self.url}: model {self.model_name!r} not found: {details}"
                ) from None
            raise ServerError(f"server error {code.name}: {tf_error_line(details)}") from None
        self._answered = True
        return response

    def call_signature(self, signature: str, inputs: dict) -> dict:
        """Run ``signature`` on ``inputs`` ({input name: NumPy array of its dtype, a batch})
        with one ``Predict`` call; {output name: NumPy array} back, string outputs as bytes. A
        signature the model lacks raises :class:`MissingSignature`, a refused input
        :class:`ServerError`."""
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest(model_spec=self._spec(signature))
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
        try:
            response = self._rpc(self.stub.Predict, request)
        except ServerError as exc:
            raise MissingSignature.from_server(exc, signature) from None
        return {name: tf.make_ndarray(value) for name, value in response.outputs.items()}

    def class_names(self):
        if self._names is None:
            if self._class_count is None:
                return None
            ids = np.arange(self._class_count, dtype="int64")
            out = self.call_signature(CLASS_NAMES_SIGNATURE, {CLASS_ID: ids})
            self._names = [s.decode("utf-8") for s in out[LABEL_OUTPUT]]
        return self._names

    def predict(self, payload):
        out = self.call_signature(self.signature, predict_inputs(self.signature, payload))
        self._class_count = out[PROBABILITIES_OUTPUT].shape[-1]
        return prediction_rows(out)

    def fetch_input_shape(self):
        """``(height, width, channels)`` of the model's pixel input, or None if it has none."""
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=self._spec(PIXELS_SIGNATURE)
        )
        request.metadata_field.append("signature_def")
        response = self._rpc(self.stub.GetModelMetadata, request)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sig_map)
        if PIXELS_SIGNATURE not in sig_map.signature_def:
            return None
        inputs = sig_map.signature_def[PIXELS_SIGNATURE].inputs
        if PIXELS_INPUT not in inputs:
            return None
        return tuple(int(d.size) for d in inputs[PIXELS_INPUT].tensor_shape.dim[1:])
