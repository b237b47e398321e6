"""Wire the ServerCore, REST and gRPC together and run until SIGINT/SIGTERM.

Start-up mirrors TF Serving: the initial versions of every configured model are loaded before
the ports open, so the first request a client can make already finds them. On SIGINT/SIGTERM
both servers stop accepting, requests in flight finish, models unload, and the process exits 0.

Example:
    >>> from kerascnn.server.config import ServerOptions
    >>> serve(ServerOptions(model_name="m", model_base_path="serving/models/m"))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from aiohttp import web

from kerascnn.errors import KerasCNNError
from kerascnn.server.config import ServerOptions
from kerascnn.server.grpc_service import create_grpc_server
from kerascnn.server.health import HealthServicer
from kerascnn.server.rest import RestApi
from kerascnn.server.server_core import ServerCore
from kerascnn.server.status import ServingError
from kerascnn.server.ui import install_ui

log = logging.getLogger("kerascnn.serve")
SHUTDOWN_GRACE_SECONDS = 30.0


def _say(text: str):
    print(text, flush=True)


def serve(options: ServerOptions, *, ui: bool = True) -> None:
    """Run the server in the foreground until SIGINT/SIGTERM.

    Example:
        >>> serve(ServerOptions(model_config_file="serving/models.config"))  # doctest: +SKIP
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=os.environ.get("KERASCNN_LOG_LEVEL", "INFO"),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
    # Before any model loads (which can take minutes) and before gRPC's own log line about it.
    check_ports_free(options)
    intra, inter = apply_thread_pool_sizes(options)
    _say(
        "TensorFlow thread pools: intra-op "
        f"{intra or 'auto'}, inter-op {inter or 'auto'} "
        "(--tensorflow_intra_op_parallelism, --tensorflow_inter_op_parallelism)"
    )
    core = ServerCore(options)
    core.start()
    cpus = os.cpu_count() or 1
    health = HealthServicer() if options.enable_grpc_healthcheck_service else None
    try:
        grpc_server, grpc_port = create_grpc_server(
            core,
            f"{options.grpc_host}:{options.port}",
            max_workers=options.grpc_max_threads or max(32, 4 * cpus),
            max_receive_bytes=options.max_request_bytes,
            health=health,
        )
    except (RuntimeError, ServingError) as exc:
        core.stop()
        raise KerasCNNError(
            f"cannot listen for gRPC on {options.grpc_host}:{options.port} ({exc}); "
            "is another server using the port? (--port)"
        ) from None
    grpc_server.start()
    _say(f"Running gRPC ModelServer at {options.grpc_host}:{grpc_port} ...")
    if health is not None:
        _say("gRPC health service grpc.health.v1.Health: SERVING")
    try:
        asyncio.run(_run_rest(core, options, grpc_server, grpc_port, health, ui))
    finally:
        if health is not None:
            health.shutdown()
        grpc_server.stop(grace=1)
        core.stop()
    _say("kerascnn serve: stopped")


def check_ports_free(options: ServerOptions) -> None:
    """Fail at once, in one line, when the gRPC or REST port is taken by another process.

    Example:
        >>> check_ports_free(ServerOptions(port=0, rest_api_port=0))  # 0: any free port
    """
    import socket

    wanted = [("gRPC", options.grpc_host, options.port, "--port")]
    if options.rest_api_port:
        wanted.append(("REST", options.rest_api_host, options.rest_api_port, "--rest-api-port"))
    for protocol, host, port, flag in wanted:
        if not port:
            continue
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.bind((host, port))
        except OSError as exc:
            raise KerasCNNError(
                f"cannot listen for {protocol} on {host}:{port}: {exc.strerror or exc}; is "
                f"another server using the port? ({flag})"
            ) from None


def apply_thread_pool_sizes(options: ServerOptions) -> tuple[int, int]:
    """Size TensorFlow's intra-op and inter-op pools before any op runs; 0 leaves TF's choice.

    TF Serving puts these in each session's ConfigProto; the embedded server runs every model
    in one process, so the process-wide pools are the equivalent. They can only be set before
    TensorFlow's runtime starts, hence first thing in :func:`serve`.

    Example:
        >>> apply_thread_pool_sizes(ServerOptions(tensorflow_intra_op_parallelism=2))  # doctest: +SKIP
        (2, 0)
    """
    import tensorflow as tf

    intra, inter = options.thread_pool_sizes()
    try:
        if intra:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
        if inter:
            tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError as exc:  # the runtime already started (only when embedded in a program)
        raise KerasCNNError(
            f"cannot size TensorFlow's thread pools: {exc} (start the server before running "
            "any TensorFlow op in this process)"
        ) from None
    return (
        tf.config.threading.get_intra_op_parallelism_threads(),
        tf.config.threading.get_inter_op_parallelism_threads(),
    )


async def _run_rest(
    core: ServerCore, options: ServerOptions, grpc_server, grpc_port, health, ui=True
):
    cpus = os.cpu_count() or 1
    api = runner = None
    rest = "REST disabled (--rest-api-port 0, as TF Serving)"
    if options.rest_api_port:
        api = RestApi(
            core,
            timeout_ms=options.rest_api_timeout_in_ms,
            max_request_bytes=options.max_request_bytes,
            num_threads=options.rest_api_num_threads or max(32, 4 * cpus),
            prometheus_path=options.prometheus_path(),
            cors=options.rest_api_enable_cors_support,
        )
        if ui:  # the browser page at / (kerascnn.server.ui); /v1/... is never its
            install_ui(api.app, core)
        runner = web.AppRunner(
            api.app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
        )
        await runner.setup()
        site = web.TCPSite(runner, options.rest_api_host, options.rest_api_port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise KerasCNNError(
                f"cannot listen for REST on {options.rest_api_host}:{options.rest_api_port} "
                f"({exc.strerror}); is another server using the port? (--rest-api-port)"
            ) from None
        host = options.rest_api_host
        shown = f"[{host}]" if ":" in host else host
        rest = f"REST http://{shown}:{options.rest_api_port}"
        _say(f"Exporting HTTP/REST API at: http://{shown}:{options.rest_api_port} ...")
        if api.prometheus_path:
            _say(f"Prometheus metrics at: http://{shown}:{options.rest_api_port}"
                 f"{api.prometheus_path}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Handlers first, then the ready line: whoever reads "ready" may signal at once (tests do).
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    _say(f"kerascnn serve ready: {rest}  gRPC {options.grpc_host}:{grpc_port}  (Ctrl-C to stop)")
    await stop.wait()
    _say("kerascnn serve: shutting down, letting requests in flight finish ...")
    if health is not None:
        health.shutdown()  # probes see NOT_SERVING while requests in flight finish
    # Stop accepting on both ports first, then wait for what is in flight.
    grpc_done = grpc_server.stop(grace=SHUTDOWN_GRACE_SECONDS)
    if runner is not None:
        await runner.cleanup()
    await loop.run_in_executor(None, grpc_done.wait, SHUTDOWN_GRACE_SECONDS)
    if api is not None:
        await loop.run_in_executor(None, api.close)
