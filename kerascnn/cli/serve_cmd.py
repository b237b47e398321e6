"""``kerascnn serve``: the embedded TF-Serving-compatible server.

Flags use TF Serving's names; both ``--model-name`` and ``--model_name`` spellings work, and
boolean flags take TF Serving's ``--enable_batching=true`` form too. Every flag's default is the
matching ``ServerOptions`` field's (``kerascnn.server.config``, which is TensorFlow-free); nothing
here imports TensorFlow until the command runs.

Example:
    $ kerascnn serve --model-name digits --model-base-path serving/models/digits
    $ kerascnn serve --model_config_file=serving/models.config --enable_batching
"""

from __future__ import annotations

import dataclasses
import os
import sys

import click

from kerascnn.cli.common import device_option
from kerascnn.errors import did_you_mean
from kerascnn.server.config import ServerOptions

DEFAULTS = {field.name: field.default for field in dataclasses.fields(ServerOptions)}
"""Each ``ServerOptions`` field's default, by flag name.

Example:
    >>> DEFAULTS["port"], DEFAULTS["enable_model_warmup"]
    (8500, True)
"""


def _opt(name, *args, **kwargs):
    """An option spelled both with hyphens and with TF Serving's underscores, defaulting to
    ``ServerOptions``'s value.

    Example:
        >>> _opt("rest_api_port")(lambda **flags: None).__click_params__[0].opts
        ['--rest-api-port', '--rest_api_port']
    """
    dashed = "--" + name.replace("_", "-")
    under = "--" + name
    names = [dashed] if dashed == under else [dashed, under]
    return click.option(*names, name, *args, default=DEFAULTS[name], **kwargs)


# Every flag of TF Serving's model_servers/main.cc that ``kerascnn serve`` does not implement:
# accepted (a user copies them from TF Serving's docs) with a one-line warning, never "No such
# option". Each other main.cc flag is an option below, with TF Serving's meaning.
TF_SERVING_FLAGS_IGNORED = (
    "grpc_socket_path",
    "enable_per_model_batching_parameters",
    "num_load_threads",
    "num_unload_threads",
    "flush_filesystem_caches",
    "tensorflow_session_config_file",
    "use_alts_credentials",
    "ssl_config_file",
    "platform_config_file",
    "per_process_gpu_memory_fraction",
    "grpc_channel_arguments",
    "version",
    "remove_unused_fields_from_bundle_metagraph",
    "prefer_tflite_model",
    "num_tflite_pools",
    "num_tflite_interpreters_per_pool",
    "enable_signature_method_name_check",
    "xla_cpu_compilation_enabled",
    "xla_gpu_compilation_enabled",
    "enable_profiler",
    "thread_pool_factory_config_file",
    "mixed_precision",
    "skip_initialize_tpu",
    "enable_serialization_as_tensor_content",
)


def ignored_tf_serving_flags(args: list[str], known: list[str]) -> list[str]:
    """The TF Serving flags among ``args`` (what click did not recognise), as warnings.

    A flag's value may follow it (``--num_load_threads 4``) or be joined with ``=``. Anything
    else is an error, with a suggestion from ``known`` (the options ``serve`` has).

    Example:
        >>> ignored_tf_serving_flags(["--num_load_threads=4", "--enable_profiler"], [])
        ['--num_load_threads', '--enable_profiler']
        >>> try:
        ...     ignored_tf_serving_flags(["--rest_api_prot=1"], ["--rest_api_port"])
        ... except click.NoSuchOption as exc:
        ...     print(exc.format_message())
        No such option '--rest_api_prot'. Did you mean '--rest_api_port'?
    """
    found = []
    tokens = iter(enumerate(args))
    for index, token in tokens:
        if not token.startswith("-") or token in ("-", "--"):
            raise click.UsageError(f"Got unexpected extra argument ({token})")
        flag = token.split("=", 1)[0]
        name = flag.lstrip("-").replace("-", "_")
        if name not in TF_SERVING_FLAGS_IGNORED:
            guess = did_you_mean(flag, known)
            raise click.NoSuchOption(flag, possibilities=[guess] if guess else None)
        found.append(flag)
        following = args[index + 1] if index + 1 < len(args) else None
        if "=" not in token and following is not None and not following.startswith("-"):
            next(tokens)  # its value
    return found


def _bool_opt(name, help_text):
    return _opt(
        name,
        type=click.BOOL,
        is_flag=False,
        flag_value=True,
        show_default=True,
        help=help_text + " (also --flag=true/false)",
    )


@click.command(
    context_settings={
        "max_content_width": 100,
        "ignore_unknown_options": True,
        "allow_extra_args": True,
    },
    epilog="TF Serving's other flags (--num_load_threads, --grpc_channel_arguments, ...) are "
    "accepted and ignored, with a warning.",
)
@click.pass_context
@_opt(
    "model_name",
    show_default=True,
    help="Name of the model (with --model-base-path).",
)
@_opt(
    "model_base_path",
    help="Folder whose numbered subfolders are versions of the model (may be relative).",
)
@_opt(
    "model_config_file",
    type=click.Path(dir_okay=False),
    help="A TF Serving models.config (text ModelServerConfig) listing several models.",
)
@_opt(
    "port",
    show_default=True,
    type=click.IntRange(0, 65535),
    help="gRPC port (0 picks a free one).",
)
@_opt(
    "rest_api_port",
    show_default=True,
    type=click.IntRange(0, 65535),
    help="REST port (0 turns REST off, as in TF Serving).",
)
@_opt(
    "rest_api_host",
    show_default=True,
    help="Address REST listens on; 0.0.0.0 to accept other machines.",
)
@_opt(
    "grpc_host",
    show_default=True,
    help="Address gRPC listens on; 0.0.0.0 to accept other machines.",
)
@_opt(
    "file_system_poll_wait_seconds",
    show_default=True,
    type=float,
    help="Seconds between looks for new model versions (0: look once).",
)
@_opt(
    "model_config_file_poll_wait_seconds",
    show_default=True,
    type=float,
    help="Seconds between re-reads of --model-config-file (0: never).",
)
@_bool_opt("enable_batching", "Merge concurrent requests into batches.")
@_opt(
    "batching_parameters_file",
    type=click.Path(dir_okay=False),
    help="Text BatchingParameters (max_batch_size, batch_timeout_micros, ...).",
)
@_opt(
    "monitoring_config_file",
    type=click.Path(dir_okay=False),
    help="Text MonitoringConfig enabling Prometheus metrics on the REST port.",
)
@_opt(
    "rest_api_timeout_in_ms",
    show_default=True,
    type=int,
    help="REST request deadline; slower requests answer 504.",
)
@_opt(
    "rest_api_num_threads",
    type=int,
    help="Threads running REST requests (0: 4 per CPU, at least 32).",
)
@_opt(
    "grpc_max_threads",
    type=int,
    help="Threads running gRPC requests (0: 4 per CPU, at least 32).",
)
@_opt(
    "max_request_bytes",
    show_default=True,
    type=click.IntRange(1, None),
    help="Largest request body (REST and gRPC); larger ones are refused before buffering.",
)
@_bool_opt("enable_model_warmup", "Replay assets.extra/tf_serving_warmup_requests.")
@_opt(
    "num_request_iterations_for_warmup",
    show_default=True,
    type=int,
    help="Times each warmup record is replayed.",
)
@_bool_opt(
    "allow_version_labels_for_unavailable_models",
    "Allow labels that point at versions not loaded yet.",
)
@_opt(
    "tensorflow_intra_op_parallelism",
    show_default=True,
    type=click.IntRange(0, None),
    help="Threads one TensorFlow op may use (0: TensorFlow chooses).",
)
@_opt(
    "tensorflow_inter_op_parallelism",
    show_default=True,
    type=click.IntRange(0, None),
    help="TensorFlow ops that may run at once (0: TensorFlow chooses).",
)
@_opt(
    "tensorflow_session_parallelism",
    show_default=True,
    type=click.IntRange(0, None),
    help="Both of the above at once, unless either is set (0: TensorFlow chooses).",
)
@_bool_opt(
    "rest_api_enable_cors_support",
    "Send CORS headers (Access-Control-Allow-Origin: *) on REST answers.",
)
@_bool_opt(
    "enable_grpc_healthcheck_service",
    "Serve the standard grpc.health.v1.Health service on the gRPC port.",
)
@_opt(
    "max_num_load_retries",
    show_default=True,
    type=click.IntRange(0, None),
    help="Retries of a failed model load (0: try once).",
)
@_opt(
    "load_retry_interval_micros",
    show_default=True,
    type=int,
    help="Microseconds between load retries (negative: no wait).",
)
@_opt(
    "saved_model_tags",
    show_default=True,
    help="Comma-separated tags of the MetaGraphDef to load.",
)
@click.option(
    "--ui/--no-ui",
    "ui",
    default=True,
    show_default=True,
    help="Serve a browser page at / (models, predictions, Grad-CAM); --no-ui: / is a 404 as in "
    "TF Serving.",
)
@device_option
def serve(ctx, **flags):
    """Serve SavedModels over TF Serving's REST and gRPC APIs (no Docker needed).

    \b
    Examples:
      kerascnn serve --model-name digits --model-base-path serving/models/digits
      kerascnn serve --model-config-file serving/models.config \\
          --enable-batching --batching-parameters-file serving/batching.config
      curl http://127.0.0.1:8501/v1/models/digits
    """
    known = [opt for param in ctx.command.params for opt in param.opts]
    for flag in ignored_tf_serving_flags(ctx.args, known):
        click.echo(
            f"kerascnn serve: {flag} is a TF Serving flag the embedded server does not "
            "implement; ignored",
            err=True,
        )
    if flags["model_config_file"] is None and flags["model_base_path"] is None:
        raise click.UsageError("give --model-base-path (with --model-name) or --model-config-file")
    ui = flags.pop("ui")
    options = ServerOptions(**flags)
    # Read every config file before paying for TensorFlow, so a typo fails fast.
    options.model_server_config()
    options.batching_options()
    options.prometheus_path()
    options.thread_pool_sizes()
    options.saved_model_tag_set()

    from kerascnn.server.app import serve as run_server

    run_server(options, ui=ui)
    # Everything is shut down and unloaded; skip TensorFlow's slow interpreter teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
