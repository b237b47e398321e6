"""Shared fixtures: the CLI as a user runs it (``cli``) and ``kerascnn serve`` processes
(``serve``), and a session-end check that no test left a process running. The helpers behind
them live in ``_processes.py``; import those from there, never from this file."""

from __future__ import annotations

# torchvision (a test-only reference) loads triton, whose extension crashes the interpreter when
# it loads after TensorFlow's: import it first, before any test module imports TensorFlow.
try:
    import torchvision  # noqa: F401
except ImportError:  # the reference extra is not installed: its tests skip
    pass

import os
import uuid

import psutil
import pytest
from _processes import SESSION_MARKER, leftover_processes, run_cli, start_server, stop_processes

# A process that is on its way out when the session ends (a test sent SIGTERM but did not wait)
# gets this long to finish before it counts as left behind.
EXIT_GRACE_SECONDS = 3.0

_token_key = pytest.StashKey[str]()


def pytest_sessionstart(session):
    """Mark this session's environment, so that every process it starts can be found at the
    end even if its parent died (see ``_processes.SESSION_MARKER``)."""
    session.config.stash[_token_key] = token = uuid.uuid4().hex
    os.environ[SESSION_MARKER] = token


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """Fail the session when a test left a process running: list, stop and name them.

    Runs last, after session-scoped fixtures were torn down (their servers stopped), and still
    before pytest's summary (which the terminal reporter prints around all these hooks).
    """
    token = session.config.stash.get(_token_key, None)
    _, leftovers = psutil.wait_procs(leftover_processes(token), timeout=EXIT_GRACE_SECONDS)
    if not leftovers:
        return
    commands = stop_processes(leftovers)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"{len(commands)} process(es) left running by the tests (now stopped):", *commands]
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", "processes left behind", red=True)
        for line in lines:
            reporter.write_line(line)
    else:
        print("\n".join(lines))
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    """A tiny trained-looking ``.keras`` classifier (``_export_utils.save_tiny_model``)."""
    from _export_utils import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def keras_model(keras_file):
    """``keras_file`` loaded back, as the reference the exports are compared with."""
    import keras

    return keras.saving.load_model(keras_file, safe_mode=True, compile=False)


@pytest.fixture(scope="module")
def exported(keras_file, tmp_path_factory):
    """``keras_file`` exported as ``BASE/shapes/1``; returns that version folder."""
    from kerascnn.export import export_model

    return export_model(keras_file, base=tmp_path_factory.mktemp("serving") / "models", name="shapes")


@pytest.fixture
def cli():
    """The ``run_cli`` function as a fixture."""
    return run_cli


@pytest.fixture(scope="module")
def serve():
    """Start ``kerascnn serve`` for the tests of one module: ``serve(**options)``.

    ``options`` are ``start_server``'s (``model_base_path``, ``model_name``,
    ``model_config_file``, ``extra_args``, ``env``, ``cwd``), so each test or module fixture
    asks for the model and flags it needs. Each server returned is stopped, by its own PID,
    when the module's tests are done; use it in ``with`` to stop it sooner::

        @pytest.fixture(scope="module")
        def server(serve, tmp_path_factory):
            return serve(model_base_path=build(...), model_name="toy")

        def test_swap(serve, tmp_path):
            with serve(model_base_path=tmp_path / "toy", model_name="toy") as server:
                ...
    """
    started = []

    def start(**options):
        server = start_server(**options)
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()
