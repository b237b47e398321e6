"""TF Serving's gRPC services: PredictionService and ModelService.

Mirrors ``tensorflow_serving/model_servers/prediction_service_impl.cc`` and
``model_service_impl.cc``, with the adapters between gRPC messages and arrays beside them.

The servicer base classes and messages come from tensorflow-serving-api, so any TF Serving
client (``PredictionServiceStub``) talks to this server unchanged. Status codes follow TF
Serving: NOT_FOUND for an unknown model/version, INVALID_ARGUMENT for bad input or a missing
ModelSpec, FAILED_PRECONDITION for an unknown predict signature.

Example:
    >>> import grpc
    >>> from tensorflow_serving.apis import prediction_service_pb2_grpc
    >>> stub = prediction_service_pb2_grpc.PredictionServiceStub(
    ...     grpc.insecure_channel("127.0.0.1:8500"))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from kerascnn.contract import DEFAULT_SIGNATURE
from kerascnn.server.classify_regress import run_multi_inference
from kerascnn.server.health import HealthServicer
from kerascnn.server.servable import model_spec_for
from kerascnn.server.server_core import ServerCore
from kerascnn.server.status import CODE_NUMBER, ServingError, as_serving_error, invalid
from kerascnn.server.tensor_proto import array_from_proto, array_to_proto

SIGNATURE_DEF = "signature_def"


# -- adapters between gRPC messages and the servable's arrays ----------------------------------
def predict_request_to_arrays(request: predict_pb2.PredictRequest) -> dict[str, np.ndarray]:
    """A gRPC PredictRequest's inputs as arrays.

    Example:
        >>> import tensorflow as tf
        >>> request = predict_pb2.PredictRequest()
        >>> request.inputs["x"].CopyFrom(tf.make_tensor_proto([[1.0, 2.0]]))
        >>> predict_request_to_arrays(request)["x"].tolist()
        [[1.0, 2.0]]
    """
    return {alias: array_from_proto(proto) for alias, proto in request.inputs.items()}


def check_inputs_named(signature_proto, request_inputs) -> None:
    """TF Serving 2.x's ``saved_model::GetInputValues`` check, with its exact words.

    Runs after the size check (``input size does not match signature``), so it only speaks
    when the request has as many inputs as the signature but names one the signature lacks.
    The request's extra name is missing from the signature, so the answer names the
    signature's input that the request did not send.

    Example:
        >>> from tensorflow.core.protobuf import meta_graph_pb2
        >>> proto = meta_graph_pb2.SignatureDef()
        >>> proto.inputs["x"].name = "x:0"
        >>> try:
        ...     check_inputs_named(proto, {"key": None})
        ... except ServingError as err:
        ...     print(err.code, err.message.split(". ")[0])
        INVALID_ARGUMENT Signature input alias: x(feed name: x:0) not found in request and no default value provided
    """
    sent, expected = set(request_inputs), set(signature_proto.inputs)
    defaults = signature_proto.defaults
    if len(sent) > len(expected) or (len(sent) < len(expected) and not defaults):
        return  # the size check answers first (predict_util.check_predict_inputs)
    used = set()
    for alias in sorted(expected):
        if alias in sent:
            used.add(alias)
        elif alias not in defaults:
            raise invalid(
                f"Signature input alias: {alias}(feed name: {signature_proto.inputs[alias].name}"
                ") not found in request and no default value provided. Inputs expected to be "
                f"in the request {{{','.join(sorted(sent))}}}, or default input alias set: "
                f"{','.join(sorted(defaults))}"
            )
    if sent and used != sent:
        raise invalid(
            f"Inputs contains invalid name. Used request inputs: {','.join(sorted(used))}, "
            f"request input: {','.join(sorted(sent))}"
        )


def outputs_to_response(servable, signature_name, outputs) -> predict_pb2.PredictResponse:
    """Arrays -> PredictResponse (typed value fields, as TF Serving's kAsProtoField).

    Example:
        >>> from types import SimpleNamespace
        >>> servable = SimpleNamespace(name="m", version=2)
        >>> response = outputs_to_response(servable, "", {"y": np.array([0.5], np.float32)})
        >>> response.model_spec.signature_name, list(response.outputs["y"].float_val)
        ('serving_default', [0.5])
    """
    response = predict_pb2.PredictResponse()
    response.model_spec.CopyFrom(model_spec_for(servable, signature_name or DEFAULT_SIGNATURE))
    for alias, arr in outputs.items():
        response.outputs[alias].CopyFrom(array_to_proto(arr))
    return response


def _spec_args(spec):
    which = spec.WhichOneof("version_choice")
    version = spec.version.value if which == "version" else None
    label = spec.version_label if which == "version_label" else None
    return spec.name, version, label


def _abort(context, err: ServingError):
    """End the RPC with ``err``'s status code (UNKNOWN for a name gRPC lacks) and message."""
    context.abort(getattr(grpc.StatusCode, err.code, grpc.StatusCode.UNKNOWN), err.message)


class _Base:
    def __init__(self, core: ServerCore):
        self.core = core
        self.metrics = core.metrics

    def _run(self, context, api, model_name, fn):
        start = time.monotonic()
        try:
            result = fn()
        except Exception as exc:  # never a traceback on the wire, never a dead server
            err = as_serving_error(exc)
            self.metrics.record_request_since(
                start, model_name, err.code, api=api, entrypoint="GRPC"
            )
            _abort(context, err)
        self.metrics.record_request_since(start, model_name, "OK", api=api, entrypoint="GRPC")
        return result


class PredictionServicer(_Base, prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict, GetModelMetadata, Classify, Regress, MultiInference."""

    def Predict(self, request, context):
        def run():
            if not request.HasField("model_spec"):
                raise invalid("Missing ModelSpec")
            arrays = predict_request_to_arrays(request)
            with self.core.handle(*_spec_args(request.model_spec)) as servable:
                sig = servable.signatures.get(
                    request.model_spec.signature_name or DEFAULT_SIGNATURE
                )
                if sig is not None:
                    check_inputs_named(sig.proto, request.inputs)
                outputs = servable.predict(
                    request.model_spec.signature_name, arrays, list(request.output_filter)
                )
                return outputs_to_response(servable, request.model_spec.signature_name, outputs)

        return self._run(context, "Predict", request.model_spec.name, run)

    def GetModelMetadata(self, request, context):
        def run():
            if not request.HasField("model_spec"):
                raise invalid("Missing ModelSpec")
            if not request.metadata_field:
                raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
            for field in request.metadata_field:
                if field != SIGNATURE_DEF:
                    raise invalid(f"Metadata field {field} is not supported")
            with self.core.handle(*_spec_args(request.model_spec)) as servable:
                response = get_model_metadata_pb2.GetModelMetadataResponse()
                response.model_spec.CopyFrom(model_spec_for(servable))
                response.metadata[SIGNATURE_DEF].Pack(servable.signature_def_map())
                return response

        return self._run(context, "GetModelMetadata", request.model_spec.name, run)

    def Classify(self, request, context):
        return self._example_task(
            request, context, "Classify", "classify", classification_pb2.ClassificationResponse
        )

    def Regress(self, request, context):
        return self._example_task(
            request, context, "Regress", "regress", regression_pb2.RegressionResponse
        )

    def _example_task(self, request, context, method, servable_method, response_type):
        """Classify and Regress: the same tf.Example request, a different signature kind."""

        def run():
            if not request.HasField("model_spec"):
                raise invalid("Missing ModelSpec")
            signature = request.model_spec.signature_name
            with self.core.handle(*_spec_args(request.model_spec)) as servable:
                result = getattr(servable, servable_method)(signature, request.input)
                response = response_type(result=result)
                response.model_spec.CopyFrom(model_spec_for(servable, signature or DEFAULT_SIGNATURE))
                return response

        return self._run(context, method, request.model_spec.name, run)

    def MultiInference(self, request, context):
        def run():
            if not request.tasks:
                raise invalid("Expected at least one task")
            first = request.tasks[0].model_spec
            if not first.name:
                raise invalid("Found ModelSpec with an empty model name.")
            with self.core.handle(*_spec_args(first)) as servable:
                return run_multi_inference(servable, request)

        name = request.tasks[0].model_spec.name if request.tasks else ""
        return self._run(context, "MultiInference", name, run)


class ModelServicer(_Base, model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus and HandleReloadConfigRequest."""

    def GetModelStatus(self, request, context):
        def run():
            if not request.HasField("model_spec"):
                raise invalid("Missing ModelSpec")
            return self.core.model_status(*_spec_args(request.model_spec))

        return self._run(context, "GetModelStatus", request.model_spec.name, run)

    def HandleReloadConfigRequest(self, request, context):
        """Apply a new ModelConfigList; like TF Serving, a failure is both in the response's
        status and the RPC's status."""
        response = model_management_pb2.ReloadConfigResponse()
        try:
            if request.config.WhichOneof("config") != "model_config_list":
                raise invalid(
                    "ServerModelConfig type not supported by HandleReloadConfigRequest. "
                    "Only ModelConfigList is currently supported"
                )
            self.core.apply_config(request.config)
        except Exception as exc:
            err = as_serving_error(exc)
            response.status.error_code = CODE_NUMBER.get(err.code, 2)
            response.status.error_message = err.message
            _abort(context, err)
        return response


class _OneLineErrors(logging.Filter):
    """grpc logs a full traceback for every request it cannot deserialize (any client can
    send garbage); keep the log to one line per such request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()} {record.exc_info[1]}"
            record.args = ()
            record.exc_info = None
        return True


def create_grpc_server(
    core: ServerCore,
    address: str,
    *,
    max_workers: int,
    max_receive_bytes: int,
    health: HealthServicer | None = None,
) -> tuple[grpc.Server, int]:
    """Build (not start) the gRPC server; returns it and the bound port.

    ``health`` adds ``grpc.health.v1.Health`` (``--enable_grpc_healthcheck_service``).
    """
    logging.getLogger("grpc._common").addFilter(_OneLineErrors())
    server = grpc.server(
        ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        options=[
            ("grpc.max_receive_message_length", min(max_receive_bytes, 2**31 - 1)),
            ("grpc.max_send_message_length", 2**31 - 1),
            ("grpc.so_reuseport", 0),
        ],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(core), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(core), server)
    if health is not None:
        server.add_generic_rpc_handlers((health.handler(),))
    port = server.add_insecure_port(address)
    if port == 0:
        raise ServingError("UNAVAILABLE", f"cannot listen for gRPC on {address}")
    return server, port


__all__ = [
    "PredictionServicer",
    "ModelServicer",
    "create_grpc_server",
    "get_model_status_pb2",
]
