"""kerascnn as a user runs it, for the tests: the CLI and ``kerascnn serve`` as subprocesses.

The one home of the tests' free-port helper, ``run_cli``, ``start_server`` and the check that
no test leaves a process behind (``leftover_processes``); ``conftest.py`` builds its fixtures
(``cli``, ``serve``) and its session-end check on them, and tests import them normally (never
from ``conftest``).

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

import psutil
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
    if not any("max_num_load_retries" in str(a) for a in extra_args):
        # TF Serving retries a failed load 5 times, a minute apart; tests that break a model on
        # purpose want its failure now.
        args.append("--max_num_load_retries=0")
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


# --- Processes a test left behind -------------------------------------------------------------

# Set (to a per-session token) in the pytest process's environment at session start, so every
# process the session starts inherits it. A process whose parent died is re-parented to init and
# is no longer a descendant of pytest (exactly what a backgrounded shell function leaks); the
# marker still finds it. A process started with an environment built from scratch does not
# inherit it, but while its parent lives it is still a descendant.
SESSION_MARKER = "KERASCNN_TEST_SESSION"

# Long-lived helpers that belong to the pytest process itself and end with it, by design; they
# are not leaks. Matched against the command line.
IGNORED_HELPERS = {
    # multiprocessing starts one resource tracker per interpreter, on first use of a semaphore
    # or shared memory (TensorFlow, Keras' data adapters and joblib may do so); it stays until
    # its parent exits, so that it can clean up what a crashed worker left.
    "from multiprocessing.resource_tracker import main": "multiprocessing's resource tracker",
    # The "forkserver" start method keeps one server process for the interpreter's lifetime.
    "from multiprocessing.forkserver import main": "multiprocessing's fork server",
}


def _command_line(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline()) or process.name()
    except psutil.Error:
        return f"pid {process.pid}"


def _is_leftover(process: psutil.Process) -> bool:
    """A live process that is no known helper. Zombies have already exited (they hold no port
    or memory, only a process-table entry until their parent reaps them), so they are not
    counted."""
    try:
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
    except psutil.Error:
        return False  # exited meanwhile
    command = _command_line(process)
    return not any(helper in command for helper in IGNORED_HELPERS)


def _carries_marker(process: psutil.Process, token: str) -> bool:
    try:
        return process.environ().get(SESSION_MARKER) == token
    except psutil.Error:  # another user's process, or gone
        return False


def leftover_processes(token: str | None = None) -> list[psutil.Process]:
    """The processes this pytest process started (directly or not) that are still running:
    its live descendants plus, when ``token`` is given, every live process whose environment
    carries ``SESSION_MARKER=token`` (orphans re-parented to init). Known helpers
    (``IGNORED_HELPERS``) and zombies are left out.

    Example:
        >>> [process.cmdline() for process in leftover_processes()]  # none left in a clean run
        []
    """
    me = psutil.Process()
    found = {child.pid: child for child in me.children(recursive=True)}
    if token is not None:
        for process in psutil.process_iter():
            if process.pid != me.pid and process.pid not in found and _carries_marker(
                    process, token):
                found[process.pid] = process
    return [process for process in found.values() if _is_leftover(process)]


def stop_processes(processes, grace: float = 10.0) -> list[str]:
    """Stop ``processes`` (SIGTERM, then SIGKILL for those still alive after ``grace`` seconds)
    and return their command lines, read before they were signalled."""
    commands = [f"pid {p.pid}: {_command_line(p)}" for p in processes]
    for process in processes:
        try:
            process.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(processes, timeout=grace)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=grace)
    return commands
