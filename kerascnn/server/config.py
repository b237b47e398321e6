"""Server options and the text-proto configs TF Serving reads.

``models.config`` is parsed with ``ModelServerConfig`` from tensorflow-serving-api. The pip
package ships neither ``BatchingParameters`` nor ``MonitoringConfig``, so those two small messages
are declared here with the same fields and numbers as TF Serving's ``.proto`` files and parsed
with ``google.protobuf.text_format`` too: a file that TF Serving accepts is accepted here, and a
typo is rejected the same way.

Example:
    >>> opts = ServerOptions(model_name="digits", model_base_path="serving/models/digits")
    >>> cfg = opts.model_server_config()
    >>> cfg.model_config_list.config[0].name
    'digits'
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import descriptor_pb2, text_format, wrappers_pb2
from tensorflow_serving.config import model_server_config_pb2

from kerascnn.errors import UsageError
from kerascnn.server.descriptors import add_field, message_classes

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"


def _declare_messages():
    """Declare BatchingParameters and MonitoringConfig exactly as TF Serving's protos do."""
    fdp = descriptor_pb2.FileDescriptorProto(
        name="kerascnn/server/tf_serving_extra.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    batching = fdp.message_type.add(name="BatchingParameters")
    for name, number, wrapper in [
        ("max_batch_size", 1, "Int64Value"),
        ("batch_timeout_micros", 2, "Int64Value"),
        ("max_enqueued_batches", 3, "Int64Value"),
        ("num_batch_threads", 4, "Int64Value"),
        ("thread_pool_name", 5, "StringValue"),
        ("enable_large_batch_splitting", 8, "BoolValue"),
        ("max_execution_batch_size", 9, "Int64Value"),
    ]:
        add_field(batching, name, number, "message", ".google.protobuf." + wrapper)
    add_field(batching, "allowed_batch_sizes", 6, "int64", repeated=True)
    add_field(batching, "pad_variable_length_inputs", 7, "bool")
    prometheus = fdp.message_type.add(name="PrometheusConfig")
    add_field(prometheus, "enable", 1, "bool")
    add_field(prometheus, "path", 2, "string")
    monitoring = fdp.message_type.add(name="MonitoringConfig")
    add_field(monitoring, "prometheus_config", 1, "message", ".tensorflow.serving.PrometheusConfig")
    return message_classes(
        fdp, ["BatchingParameters", "MonitoringConfig"], dependencies=[wrappers_pb2]
    )


BatchingParameters, MonitoringConfig = _declare_messages()


def _read_text_proto(path, message, what):
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {what} {str(path)!r}: {exc.strerror}") from None
    try:
        return text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raise UsageError(f"{what} {str(path)!r} is not valid: {exc}") from None


def read_model_server_config(path) -> model_server_config_pb2.ModelServerConfig:
    """Parse a TF Serving ``models.config`` (text ``ModelServerConfig``).

    Example:
        >>> read_model_server_config("serving/models.config")  # doctest: +SKIP
    """
    return _read_text_proto(path, model_server_config_pb2.ModelServerConfig(), "model config file")


def read_batching_parameters(path):
    """Parse a ``batching_parameters_file`` (text ``BatchingParameters``).

    Example:
        >>> read_batching_parameters("serving/batching.config")  # doctest: +SKIP
    """
    return _read_text_proto(path, BatchingParameters(), "batching parameters file")


def read_monitoring_config(path):
    """Parse a ``monitoring_config_file`` (text ``MonitoringConfig``).

    Example:
        >>> read_monitoring_config("serving/monitoring.config")  # doctest: +SKIP
    """
    return _read_text_proto(path, MonitoringConfig(), "monitoring config file")


@dataclass
class BatchingOptions:
    """TF Serving's batching parameters with its defaults filled in."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False
    enable_large_batch_splitting: bool = False
    thread_pool_name: str = "batch_threads"

    @classmethod
    def from_proto(cls, proto) -> BatchingOptions:
        """Fill defaults for the wrapper fields a batching file leaves out.

        Example:
            >>> BatchingOptions.from_proto(BatchingParameters()).max_batch_size
            1000
        """
        opts = cls()
        for name in (
            "max_batch_size",
            "batch_timeout_micros",
            "max_enqueued_batches",
            "num_batch_threads",
            "thread_pool_name",
            "enable_large_batch_splitting",
        ):
            if proto.HasField(name):
                setattr(opts, name, getattr(proto, name).value)
        opts.allowed_batch_sizes = tuple(proto.allowed_batch_sizes)
        opts.pad_variable_length_inputs = proto.pad_variable_length_inputs
        opts.validate()
        return opts

    def validate(self):
        """Reject settings TF Serving rejects at start-up."""
        if self.max_batch_size <= 0:
            raise UsageError("batching parameter max_batch_size must be positive")
        if self.num_batch_threads <= 0:
            raise UsageError("batching parameter num_batch_threads must be positive")
        if self.max_enqueued_batches <= 0:
            raise UsageError("batching parameter max_enqueued_batches must be positive")
        sizes = self.allowed_batch_sizes
        if sizes:
            if any(b <= a for a, b in zip(sizes, sizes[1:])) or sizes[0] <= 0:
                raise UsageError("allowed_batch_sizes entries must be monotonically increasing")
            if sizes[-1] != self.max_batch_size:
                raise UsageError(
                    "Last entry in allowed_batch_sizes must match max_batch_size; last "
                    f"entry was {sizes[-1]}; expected {self.max_batch_size}"
                )


@dataclass
class ServerOptions:
    """Every ``kerascnn serve`` flag, with TF Serving's names and defaults.

    The CLI takes its flag defaults from these fields, so this is the one place to change one.

    Example:
        >>> ServerOptions().model_name, ServerOptions().rest_api_port
        ('default', 8501)
    """

    model_name: str = "default"
    model_base_path: str | None = None
    model_config_file: str | None = None
    port: int = 8500
    rest_api_port: int = 8501
    rest_api_host: str = "127.0.0.1"
    grpc_host: str = "127.0.0.1"
    file_system_poll_wait_seconds: float = 1.0
    model_config_file_poll_wait_seconds: float = 0.0
    enable_batching: bool = False
    batching_parameters_file: str | None = None
    monitoring_config_file: str | None = None
    rest_api_timeout_in_ms: int = 30000
    rest_api_num_threads: int = 0
    grpc_max_threads: int = 0
    # 64 MiB holds a JSON batch of 32 224x224x3 float images (~30 MB) while a handful of
    # concurrent oversized bodies cannot exhaust memory.
    max_request_bytes: int = 64 * 1024 * 1024
    enable_model_warmup: bool = True
    num_request_iterations_for_warmup: int = 1
    allow_version_labels_for_unavailable_models: bool = False
    # TensorFlow's thread pools; 0 lets TensorFlow choose.
    tensorflow_session_parallelism: int = 0
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0
    rest_api_enable_cors_support: bool = False
    enable_grpc_healthcheck_service: bool = False
    # A failed load is retried this many times (0: tried once), this far apart (negative: no
    # wait); TF Serving's defaults, 5 retries one minute apart.
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 60 * 1000 * 1000
    saved_model_tags: str = "serve"

    def thread_pool_sizes(self) -> tuple[int, int]:
        """(intra-op, inter-op) threads as TF Serving's ``server.cc`` derives them; 0 = TF's
        choice.

        ``--tensorflow_intra_op_parallelism`` / ``--tensorflow_inter_op_parallelism`` win over
        ``--tensorflow_session_parallelism`` (which sets both); all three at once is an error.

        Example:
            >>> ServerOptions(tensorflow_session_parallelism=2).thread_pool_sizes()
            (2, 2)
            >>> ServerOptions(tensorflow_intra_op_parallelism=4).thread_pool_sizes()
            (4, 0)
        """
        intra = self.tensorflow_intra_op_parallelism
        inter = self.tensorflow_inter_op_parallelism
        session = self.tensorflow_session_parallelism
        if min(intra, inter, session) < 0:
            raise UsageError("TensorFlow parallelism flags take a thread count, or 0 for auto")
        if intra > 0 and inter > 0 and session > 0:
            raise UsageError(
                "Either configure --tensorflow_session_parallelism or "
                "(--tensorflow_intra_op_parallelism, --tensorflow_inter_op_parallelism) "
                "separately. You cannot configure all."
            )
        if intra > 0 or inter > 0:
            return intra, inter
        return session, session

    def saved_model_tag_set(self) -> list[str]:
        """The MetaGraphDef tags to load (``--saved_model_tags``, comma-separated).

        Example:
            >>> ServerOptions(saved_model_tags="serve,gpu").saved_model_tag_set()
            ['serve', 'gpu']
        """
        tags = [tag.strip() for tag in self.saved_model_tags.split(",") if tag.strip()]
        if not tags:
            raise UsageError("--saved_model_tags needs at least one tag (TF Serving: serve)")
        return tags

    def load_retry_interval_seconds(self) -> float:
        """Seconds between load retries; a negative ``--load_retry_interval_micros`` is 0.

        Example:
            >>> ServerOptions(load_retry_interval_micros=-1).load_retry_interval_seconds()
            0.0
        """
        return max(0, self.load_retry_interval_micros) / 1e6

    def model_server_config(self) -> model_server_config_pb2.ModelServerConfig:
        """The ModelServerConfig these options describe (one model, or the config file).

        Example:
            >>> ServerOptions(model_config_file=None, model_base_path=None).model_server_config()
            Traceback (most recent call last):
            ...
            kerascnn.errors.UsageError: give either --model-base-path (with --model-name) or --model-config-file
        """
        if self.model_config_file and self.model_base_path:
            raise UsageError(
                "give --model-config-file or --model-base-path, not both "
                "(TF Serving ignores --model-base-path when a config file is given)"
            )
        if self.model_config_file:
            return read_model_server_config(self.model_config_file)
        if not self.model_base_path:
            raise UsageError(
                "give either --model-base-path (with --model-name) or --model-config-file"
            )
        config = model_server_config_pb2.ModelServerConfig()
        entry = config.model_config_list.config.add()
        entry.name = self.model_name or "default"
        entry.base_path = str(Path(self.model_base_path).expanduser().resolve())
        entry.model_platform = "tensorflow"
        return config

    def batching_options(self) -> BatchingOptions | None:
        """The batching settings, or None when batching is off.

        Example:
            >>> ServerOptions().batching_options() is None
            True
        """
        if not self.enable_batching:
            return None
        if self.batching_parameters_file:
            return BatchingOptions.from_proto(
                read_batching_parameters(self.batching_parameters_file)
            )
        return BatchingOptions()

    def prometheus_path(self) -> str | None:
        """The metrics path when Prometheus export is enabled, else None.

        Example:
            >>> ServerOptions().prometheus_path() is None
            True
        """
        if not self.monitoring_config_file:
            return None
        cfg = read_monitoring_config(self.monitoring_config_file)
        if not cfg.prometheus_config.enable:
            return None
        return cfg.prometheus_config.path or DEFAULT_PROMETHEUS_PATH


def resolve_base_path(base_path: str, config_file: str | None) -> Path:
    """Where a model's versions live on this machine.

    TF Serving resolves a relative path against its working directory; so do we. For the
    docker-compose layout (``/models/NAME`` inside the container, ``serving/models`` on the host)
    a missing ``/models/...`` path falls back to ``models/...`` beside the config file, so the
    same ``serving/models.config`` works without Docker.

    Example:
        >>> resolve_base_path("/tmp", None)
        PosixPath('/tmp')
    """
    path = Path(base_path).expanduser()
    if not path.is_absolute():
        here = Path.cwd() / path
        if here.exists() or not config_file:
            return here.resolve()
        return (Path(config_file).resolve().parent / path).resolve()
    if not path.exists() and config_file and base_path.startswith("/models/"):
        beside = Path(config_file).resolve().parent / "models" / base_path[len("/models/") :]
        if beside.exists():
            return beside
    return path
