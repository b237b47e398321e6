"""kerascnn as a user runs it, for the tests: the CLI and ``kerascnn serve`` as subprocesses.

The one home of the tests' free-port helper, ``run_cli`` and ``start_server``; ``conftest.py``
builds its fixtures (``cli``, ``serve``) on them, and tests import them normally (never from
``conftest``).

Example:
    from _processes import start_server

    with start_server(model_base_path=export_dir, model_name="digits") as server:
        requests.get(f"{server.rest_url}/v1/models/digits").json()
        grpc.insecure_channel(server.grpc_target)
"""

from __future__ import annotations

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

# Quiet TensorFlow's C++ logging in every subprocess the tests start.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(*args, cwd=None, env=None, timeout=600, check=False):
    """Run ``python -m kerascnn ARGS`` as a user would; returns the CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "kerascnn", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"kerascnn {' '.join(map(str, args))} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


@dataclass
class RunningServer:
    """A started server: its URLs, the process and everything it printed so far.

    A context manager: leaving ``with`` stops it (``stop``).
    """

    rest_url: str
    grpc_target: str
    process: subprocess.Popen
    rest_port: int
    grpc_port: int
    lines: list = field(default_factory=list)
    reader: threading.Thread | None = None

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
        """Signal this server's own process (by its PID, through its Popen) and wait for it;
        SIGKILL when it does not exit in ``timeout``. Returns its exit code; a no-op once it
        has exited."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.reader is not None:
            self.reader.join(timeout=5)
        return self.process.returncode

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _pump(stream, lines):
    for line in iter(stream.readline, ""):
        lines.append(line)
    stream.close()


def start_server(*, model_base_path=None, model_name=None, model_config_file=None,
                 extra_args=(), env=None, cwd=None,
                 timeout: float = START_TIMEOUT) -> RunningServer:
    """Start ``python -m kerascnn serve`` on free loopback ports; return it once it answers.

    Waits until the REST port answers HTTP (the server opens its ports only after the initial
    model versions are loaded). Use it in ``with`` (or the ``serve`` fixture) so it is stopped.
    Raises RuntimeError with the server's output if it exits or does not come up in ``timeout``
    seconds (having stopped it).
    """
    grpc_port, rest_port = free_port(), free_port()
    while rest_port == grpc_port:
        rest_port = free_port()
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
    server.reader = threading.Thread(target=_pump, args=(process.stdout, server.lines),
                                     daemon=True)
    server.reader.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                server.reader.join(timeout=5)
                raise RuntimeError(
                    f"kerascnn serve exited with {process.returncode} before it was ready:\n"
                    + server.output
                )
            try:
                requests.get(f"{server.rest_url}/v1/models", timeout=2)
                return server
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"kerascnn serve was not ready after {timeout:.0f}s:\n{server.output}"
                )
            time.sleep(0.1)
    except BaseException:
        server.stop()
        raise
