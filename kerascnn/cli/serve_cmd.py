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


def _bool_opt(name, help_text):
    return _opt(
        name,
        type=click.BOOL,
        is_flag=False,
        flag_value=True,
        show_default=True,
        help=help_text + " (also --flag=true/false)",
    )


@click.command(context_settings={"max_content_width": 100})
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
def serve(**flags):
    """Serve SavedModels over TF Serving's REST and gRPC APIs (no Docker needed).

    \b
    Examples:
      kerascnn serve --model-name digits --model-base-path serving/models/digits
      kerascnn serve --model-config-file serving/models.config \\
          --enable-batching --batching-parameters-file serving/batching.config
      curl http://127.0.0.1:8501/v1/models/digits
    """
    if flags["model_config_file"] is None and flags["model_base_path"] is None:
        raise click.UsageError("give --model-base-path (with --model-name) or --model-config-file")
    options = ServerOptions(**flags)
    # Read every config file before paying for TensorFlow, so a typo fails fast.
    options.model_server_config()
    options.batching_options()
    options.prometheus_path()

    from kerascnn.server.app import serve as run_server

    run_server(options)
    # Everything is shut down and unloaded; skip TensorFlow's slow interpreter teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
