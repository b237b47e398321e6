"""Protocol-buffer messages declared in Python, for the few whose generated modules no
dependency ships (TF Serving's ``BatchingParameters`` and ``MonitoringConfig``, gRPC's health
messages).

Each set lives in a private descriptor pool: a package that registers the same names in the
default pool (grpcio-health-checking, a fuller tensorflow-serving-api) never clashes with it.

Example:
    >>> from google.protobuf import descriptor_pb2
    >>> F = descriptor_pb2.FieldDescriptorProto
    >>> file_proto = descriptor_pb2.FileDescriptorProto(name="demo.proto", package="demo")
    >>> ping = file_proto.message_type.add(name="Ping")
    >>> _ = ping.field.add(name="n", number=1, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    >>> (Ping,) = message_classes(file_proto, ["Ping"])
    >>> Ping(n=3).n
    3
"""

from __future__ import annotations

from google.protobuf import descriptor_pool, message_factory


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
