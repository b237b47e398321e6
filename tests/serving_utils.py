"""Run ``kerascnn serve`` as a real subprocess for tests (contract 6 of the brief).

Example:
    from tests.serving_utils import start_server   # or: from serving_utils import start_server

    with start_server(model_base_path=export_dir, model_name="digits") as server:
        requests.get(f"{server.rest_url}/v1/models/digits").json()
        grpc.insecure_channel(server.grpc_target)
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = float(os.environ.get("KERASCNN_SERVE_START_TIMEOUT", "180"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningServer:
    """A started server: its URLs, the process and everything it printed so far."""

    rest_url: str
    grpc_target: str
    process: subprocess.Popen
    rest_port: int
    grpc_port: int
    lines: list = field(default_factory=list)

    @property
    def output(self) -> str:
        """stdout and stderr so far (interleaved), for assertion messages."""
        return "".join(self.lines)

    def wait_for_output(self, text: str, timeout: float = 60.0) -> bool:
        """Wait until the server has printed ``text``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return True
            time.sleep(0.05)
        return False

    def stop(self, sig=signal.SIGTERM, timeout: float = 60.0) -> int:
        """Signal the server and wait for it; returns its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _pump(stream, lines):
    for line in iter(stream.readline, ""):
        lines.append(line)
    stream.close()


@contextlib.contextmanager
def start_server(*, model_base_path=None, model_name=None, model_config_file=None,
                 extra_args=(), env=None, cwd=None, timeout: float = START_TIMEOUT):
    """Start ``python -m kerascnn serve`` on free loopback ports; yield a RunningServer.

    Waits until the REST port answers HTTP (the server opens its ports only after the initial
    model versions are loaded). Stops it with SIGTERM on exit. Raises RuntimeError with the
    server's output if it exits or does not come up in ``timeout`` seconds.
    """
    grpc_port, rest_port = _free_port(), _free_port()
    while rest_port == grpc_port:
        rest_port = _free_port()
    args = [sys.executable, "-m", "kerascnn", "serve",
            "--port", str(grpc_port), "--rest-api-port", str(rest_port)]
    if model_base_path is not None:
        args += ["--model-base-path", str(model_base_path)]
    if model_name is not None:
        args += ["--model-name", str(model_name)]
    if model_config_file is not None:
        args += ["--model-config-file", str(model_config_file)]
    args += [str(a) for a in extra_args]
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1",
                **(env or {})}
    process = subprocess.Popen(
        args, cwd=cwd or ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, bufsize=1,
    )
    server = RunningServer(
        rest_url=f"http://127.0.0.1:{rest_port}", grpc_target=f"127.0.0.1:{grpc_port}",
        process=process, rest_port=rest_port, grpc_port=grpc_port,
    )
    reader = threading.Thread(target=_pump, args=(process.stdout, server.lines), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                reader.join(timeout=5)
                raise RuntimeError(
                    f"kerascnn serve exited with {process.returncode} before it was ready:\n"
                    + server.output
                )
            try:
                requests.get(f"{server.rest_url}/v1/models", timeout=2)
                break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"kerascnn serve was not ready after {timeout:.0f}s:\n{server.output}"
                )
            time.sleep(0.1)
        yield server
    finally:
        server.stop()
        reader.join(timeout=5)
