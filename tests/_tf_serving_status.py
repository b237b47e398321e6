"""A stand-in for TF Serving's REST model-status endpoint, for the health and readiness checks.

``GET /v1/models/NAME`` answers as TF Serving does: 200 with ``model_version_status`` listing
version 1 ``AVAILABLE`` for a name in the live set ``available``, else 404 with TF Serving's
"Servable not found" error. Served from a thread of the test process (no child process).

Example:
    with status_endpoint({"digits"}) as (port, available):
        ...  # a check against 127.0.0.1:port; available.discard("digits") makes it fail
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _StatusHandler(BaseHTTPRequestHandler):
    available: set = set()

    def do_GET(self):  # noqa: N802 - the http.server API
        name = self.path.removeprefix("/v1/models/")
        if name in self.available:
            version = {"version": "1", "state": "AVAILABLE",
                       "status": {"error_code": "OK", "error_message": ""}}
            code, body = 200, {"model_version_status": [version]}
        else:
            code, body = 404, {"error": f"Servable not found for request: Latest({name})"}
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def status_endpoint(available=()):
    """(port, the mutable set of available model names) while the endpoint runs."""
    handler = type("Handler", (_StatusHandler,), {"available": set(available)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler.available
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def probe_passes(script: str, port: int, env: dict) -> bool:
    """Run a bash check written for 127.0.0.1:8501 against ``port``; True when it exits 0."""
    moved = script.replace("/dev/tcp/127.0.0.1/8501", f"/dev/tcp/127.0.0.1/{port}")
    assert moved != script, "the check must ask the REST port 8501 inside the container"
    proc = subprocess.run(["bash", "-c", moved], env={"PATH": os.environ["PATH"], **env},
                          capture_output=True, timeout=30)
    return proc.returncode == 0
