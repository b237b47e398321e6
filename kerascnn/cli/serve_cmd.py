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


def _opt(name, kind, help_text):
    """TF Serving's flag ``name`` as an option spelled both with hyphens and with TF Serving's
    underscores, defaulting to ``ServerOptions``'s value. ``kind`` is the click type; ``bool``
    makes a flag that also takes TF Serving's ``--flag=true/false``.

    Example:
        >>> _opt("rest_api_port", int, "REST port.")(lambda **flags: None).__click_params__[0].opts
        ['--rest-api-port', '--rest_api_port']
    """
    dashed = "--" + name.replace("_", "-")
    under = "--" + name
    names = [dashed] if dashed == under else [dashed, under]
    if kind is bool:
        kind_args = {"type": click.BOOL, "is_flag": False, "flag_value": True}
        help_text += " (also --flag=true/false)"
    else:
        kind_args = {"type": kind}
    # show_default shows nothing where the default is None (no file, no base path).
    return click.option(
        *names, name, default=DEFAULTS[name], show_default=True, help=help_text, **kind_args
    )


_FILE = click.Path(dir_okay=False)
_PORT = click.IntRange(0, 65535)
_COUNT = click.IntRange(0, None)

# The main.cc flags ``kerascnn serve`` implements, in --help order: (ServerOptions field, click
# type, help). Each default is the field's; each flag means what it means in TF Serving.
TF_SERVING_OPTIONS = (
    ("model_name", str, "Name of the model (with --model-base-path)."),
    (
        "model_base_path",
        str,
        "Folder whose numbered subfolders are versions of the model (may be relative).",
    ),
    (
        "model_config_file",
        _FILE,
        "A TF Serving models.config (text ModelServerConfig) listing several models.",
    ),
    ("port", _PORT, "gRPC port (0 picks a free one)."),
    ("rest_api_port", _PORT, "REST port (0 turns REST off, as in TF Serving)."),
    ("rest_api_host", str, "Address REST listens on; 0.0.0.0 to accept other machines."),
    ("grpc_host", str, "Address gRPC listens on; 0.0.0.0 to accept other machines."),
    (
        "file_system_poll_wait_seconds",
        float,
        "Seconds between looks for new model versions (0: look once).",
    ),
    (
        "model_config_file_poll_wait_seconds",
        float,
        "Seconds between re-reads of --model-config-file (0: never).",
    ),
    ("enable_batching", bool, "Merge concurrent requests into batches."),
    (
        "batching_parameters_file",
        _FILE,
        "Text BatchingParameters (max_batch_size, batch_timeout_micros, ...).",
    ),
    (
        "monitoring_config_file",
        _FILE,
        "Text MonitoringConfig enabling Prometheus metrics on the REST port.",
    ),
    ("rest_api_timeout_in_ms", int, "REST request deadline; slower requests answer 504."),
    ("rest_api_num_threads", int, "Threads running REST requests (0: 4 per CPU, at least 32)."),
    ("grpc_max_threads", int, "Threads running gRPC requests (0: 4 per CPU, at least 32)."),
    (
        "max_request_bytes",
        click.IntRange(1, None),
        "Largest request body (REST and gRPC); larger ones are refused before buffering.",
    ),
    ("enable_model_warmup", bool, "Replay assets.extra/tf_serving_warmup_requests."),
    ("num_request_iterations_for_warmup", int, "Times each warmup record is replayed."),
    (
        "allow_version_labels_for_unavailable_models",
        bool,
        "Allow labels that point at versions not loaded yet.",
    ),
    (
        "tensorflow_intra_op_parallelism",
        _COUNT,
        "Threads one TensorFlow op may use (0: TensorFlow chooses).",
    ),
    (
        "tensorflow_inter_op_parallelism",
        _COUNT,
        "TensorFlow ops that may run at once (0: TensorFlow chooses).",
    ),
    (
        "tensorflow_session_parallelism",
        _COUNT,
        "Both of the above at once, unless either is set (0: TensorFlow chooses).",
    ),
    (
        "rest_api_enable_cors_support",
        bool,
        "Send CORS headers (Access-Control-Allow-Origin: *) on REST answers.",
    ),
    (
        "enable_grpc_healthcheck_service",
        bool,
        "Serve the standard grpc.health.v1.Health service on the gRPC port.",
    ),
    ("max_num_load_retries", _COUNT, "Retries of a failed model load (0: try once)."),
    (
        "load_retry_interval_micros",
        int,
        "Microseconds between load retries (negative: no wait).",
    ),
    ("saved_model_tags", str, "Comma-separated tags of the MetaGraphDef to load."),
)


def _tf_serving_options(command):
    """Declare every ``TF_SERVING_OPTIONS`` row on ``command``, in the table's order (click
    lists the decorator applied last first, hence reversed)."""
    for name, kind, help_text in reversed(TF_SERVING_OPTIONS):
        command = _opt(name, kind, help_text)(command)
    return command


# Every flag of TF Serving's model_servers/main.cc that ``kerascnn serve`` does not implement:
# accepted (a user copies them from TF Serving's docs) with a one-line warning, never "No such
# option". Each other main.cc flag is a row of TF_SERVING_OPTIONS above.
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
@_tf_serving_options
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
