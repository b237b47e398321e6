"""Shared fixtures: the CLI as a user runs it (``cli``) and ``kerascnn serve`` processes
(``serve``). The helpers behind them live in ``_processes.py``; import those from there, never
from this file."""

from __future__ import annotations

import pytest
from _processes import run_cli, start_server


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
