"""Protocol-buffer messages declared in Python, for the few whose generated modules no
dependency ships (TF Serving's ``BatchingParameters`` and ``MonitoringConfig``, gRPC's health
messages).

Each set lives in a private descriptor pool: a package that registers the same names in the
default pool (grpcio-health-checking, a fuller tensorflow-serving-api) never clashes with it.

Example:
    >>> from google.protobuf import descriptor_pb2
    >>> file_proto = descriptor_pb2.FileDescriptorProto(name="demo.proto", package="demo")
    >>> add_field(file_proto.message_type.add(name="Ping"), "n", 1, "int64")
    >>> (Ping,) = message_classes(file_proto, ["Ping"])
    >>> Ping(n=3).n
    3
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def add_field(message, name: str, number: int, kind: str, type_name=None, *, repeated=False):
    """Declare ``kind name = number;`` on ``message`` (a ``DescriptorProto``), as a ``.proto``
    line would: ``kind`` is a scalar type (``int64``, ``bool``, ``string``) or ``message`` /
    ``enum`` with the full ``type_name`` (``.google.protobuf.Int64Value``)."""
    field = descriptor_pb2.FieldDescriptorProto
    declared = message.field.add(
        name=name,
        number=number,
        type=getattr(field, "TYPE_" + kind.upper()),
        label=field.LABEL_REPEATED if repeated else field.LABEL_OPTIONAL,
    )
    if type_name is not None:  # descriptor.proto is proto2: an empty name would still be set
        declared.type_name = type_name


def message_classes(file_proto, names, dependencies=()) -> tuple:
    """The classes of the messages ``names`` that ``file_proto`` declares, from a private pool.

    ``dependencies`` are the generated modules (``wrappers_pb2``, ...) of the files that
    ``file_proto`` imports.
    """
    pool = descriptor_pool.DescriptorPool()
    for module in dependencies:
        pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    pool.Add(file_proto)
    return tuple(
        message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{file_proto.package}.{name}"))
        for name in names
    )
