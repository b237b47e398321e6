"""The standard gRPC health service, ``grpc.health.v1.Health`` (``--enable_grpc_healthcheck_service``).

TF Serving turns on gRPC's built-in health service and marks the server (``""``),
``ModelService`` and ``PredictionService`` SERVING once its models are loaded; at shutdown every
service turns NOT_SERVING. Kubernetes' gRPC probes, ``grpc_health_probe`` and load balancers ask
it. ``Check`` answers an unknown service with NOT_FOUND; ``Watch`` streams the status now and
each change after (SERVICE_UNKNOWN for an unknown service, as gRPC's own service does).

grpcio-health-checking is not a dependency: the two small messages are declared here, with the
numbers of ``grpc/health/v1/health.proto``, in a private descriptor pool.

Example:
    >>> health = HealthServicer()
    >>> health.status("PredictionService") == SERVING
    True
    >>> health.shutdown()
    >>> health.status("") == NOT_SERVING
    True
"""

from __future__ import annotations

import threading

import grpc
from google.protobuf import descriptor_pb2

from kerascnn.server.descriptors import add_field, message_classes

SERVICE_NAME = "grpc.health.v1.Health"
UNKNOWN, SERVING, NOT_SERVING, SERVICE_UNKNOWN = 0, 1, 2, 3
# The services TF Serving's server.cc registers (the "" entry is gRPC's overall status).
SERVED = ("", "ModelService", "PredictionService")
# How often a Watch stream looks whether its client went away.
_WATCH_POLL_SECONDS = 1.0


def _declare_messages():
    fdp = descriptor_pb2.FileDescriptorProto(
        name="grpc/health/v1/health.proto", package="grpc.health.v1", syntax="proto3"
    )
    request = fdp.message_type.add(name="HealthCheckRequest")
    add_field(request, "service", 1, "string")
    response = fdp.message_type.add(name="HealthCheckResponse")
    status = response.enum_type.add(name="ServingStatus")
    for name, number in (
        ("UNKNOWN", UNKNOWN),
        ("SERVING", SERVING),
        ("NOT_SERVING", NOT_SERVING),
        ("SERVICE_UNKNOWN", SERVICE_UNKNOWN),
    ):
        status.value.add(name=name, number=number)
    add_field(response, "status", 1, "enum", ".grpc.health.v1.HealthCheckResponse.ServingStatus")
    return message_classes(fdp, ["HealthCheckRequest", "HealthCheckResponse"])


HealthCheckRequest, HealthCheckResponse = _declare_messages()


class HealthServicer:
    """Serving status per service name, answered over ``Check`` and ``Watch``."""

    def __init__(self, services=SERVED):
        self._statuses = dict.fromkeys(services, SERVING)
        self._changed = threading.Condition()
        self._frozen = False

    def status(self, service: str) -> int | None:
        """The status of ``service``, or None when it is not registered."""
        with self._changed:
            return self._statuses.get(service)

    def set(self, service: str, status: int) -> None:
        """Set one service's status and wake its watchers (ignored after shutdown)."""
        with self._changed:
            if self._frozen:
                return
            self._statuses[service] = status
            self._changed.notify_all()

    def shutdown(self) -> None:
        """Every service NOT_SERVING from now on, as gRPC's server does when it shuts down."""
        with self._changed:
            for name in self._statuses:
                self._statuses[name] = NOT_SERVING
            self._frozen = True
            self._changed.notify_all()

    # -- the RPCs --------------------------------------------------------------------------
    def Check(self, request, context):
        status = self.status(request.service)
        if status is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "service name unknown")
        return HealthCheckResponse(status=status)

    def Watch(self, request, context):
        last = None
        while True:
            with self._changed:
                current = self._statuses.get(request.service, SERVICE_UNKNOWN)
                while current == last and context.is_active():
                    self._changed.wait(_WATCH_POLL_SECONDS)
                    current = self._statuses.get(request.service, SERVICE_UNKNOWN)
                frozen = self._frozen
            if current == last:
                return  # the client went away
            last = current
            yield HealthCheckResponse(status=current)
            if frozen:
                return  # the server is going away: NOT_SERVING was the last word

    def handler(self) -> grpc.GenericRpcHandler:
        """The handler to pass to ``grpc.Server.add_generic_rpc_handlers``.

        Example:
            >>> HealthServicer().handler().service_name()
            'grpc.health.v1.Health'
        """
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "Check": grpc.unary_unary_rpc_method_handler(
                    self.Check,
                    request_deserializer=HealthCheckRequest.FromString,
                    response_serializer=HealthCheckResponse.SerializeToString,
                ),
                "Watch": grpc.unary_stream_rpc_method_handler(
                    self.Watch,
                    request_deserializer=HealthCheckRequest.FromString,
                    response_serializer=HealthCheckResponse.SerializeToString,
                ),
            },
        )
