"""Load generators for ``serving.py``: wrk (REST) and h2load (gRPC) when installed, else threads.

Native generators matter on a small machine: a Python client spends about as much CPU per
request as the server does, so threads in this process measure the client as much as the
server. wrk and h2load cost a few microseconds per request. gRPC over h2load is a plain
HTTP/2 POST of a gRPC-framed PredictRequest (1 flag byte, 4-byte big-endian length, the
message) to ``/tensorflow.serving.PredictionService/Predict``; h2load checks the HTTP status
only, so ``serving.py`` checks one reply's grpc-status and outputs with a real client first.

Every generator returns the same dict: requests, errors, elapsed_s, p50/p95/p99/mean latency in
ms, requests_per_s and ``generator`` (which tool produced the row).

Example:
    >>> grpc_frame(b"abc")
    b'\\x00\\x00\\x00\\x00\\x03abc'
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

PREDICT_PATH = "/tensorflow.serving.PredictionService/Predict"

# wrk's Lua hooks: the request (method, body, header) and, when done, one JSON line with the
# counts and latency percentiles (wrk's own --latency table has no p95).
_WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = io.open("%(body)s", "rb"):read("*a")
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "errors": %%d, "duration_us": %%d, "p50_us": %%d, ' ..
    '"p95_us": %%d, "p99_us": %%d, "mean_us": %%f}\\n',
    summary.requests, e.connect + e.read + e.write + e.timeout + e.status, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean))
end
"""


def grpc_frame(message: bytes) -> bytes:
    """A gRPC length-prefixed message (uncompressed), as sent in an HTTP/2 DATA frame."""
    return struct.pack(">BI", 0, len(message)) + message


def native_available() -> dict[str, bool]:
    """Which native generators are on PATH: {"wrk": bool, "h2load": bool}."""
    return {tool: shutil.which(tool) is not None for tool in ("wrk", "h2load")}


def _summary(latencies_s, requests, errors, elapsed, generator) -> dict:
    ms = sorted(x * 1000 for x in latencies_s)

    def pick(q):
        return ms[min(len(ms) - 1, max(0, round(q * (len(ms) - 1))))] if ms else None

    return {"requests": requests, "errors": errors, "elapsed_s": elapsed,
            "p50_ms": pick(0.5), "p95_ms": pick(0.95), "p99_ms": pick(0.99),
            "mean_ms": sum(ms) / len(ms) if ms else None,
            "requests_per_s": requests / elapsed if elapsed else 0.0, "generator": generator}


def run_wrk(url: str, body: bytes, *, connections: int, seconds: float) -> dict:
    """``wrk`` POSTing ``body`` as JSON on ``connections`` connections for ``seconds``."""
    with tempfile.TemporaryDirectory(prefix="kerascnn-wrk-") as tmp:
        body_file = Path(tmp) / "body.json"
        body_file.write_bytes(body)
        script = Path(tmp) / "post.lua"
        script.write_text(_WRK_SCRIPT % {"body": body_file})
        threads = min(2, connections)
        proc = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
             "--timeout", "30s", "-s", str(script), url],
            capture_output=True, text=True, timeout=seconds + 120, check=False,
        )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    doc = json.loads(line[len("WRKJSON "):])
    elapsed = doc["duration_us"] / 1e6
    return {"requests": doc["requests"], "errors": doc["errors"], "elapsed_s": elapsed,
            "p50_ms": doc["p50_us"] / 1000, "p95_ms": doc["p95_us"] / 1000,
            "p99_ms": doc["p99_us"] / 1000, "mean_ms": doc["mean_us"] / 1000,
            "requests_per_s": doc["requests"] / elapsed if elapsed else 0.0, "generator": "wrk"}


def run_h2load(target: str, message: bytes, *, connections: int, seconds: float) -> dict:
    """``h2load`` sending gRPC-framed ``message`` to Predict, one stream per connection."""
    with tempfile.TemporaryDirectory(prefix="kerascnn-h2load-") as tmp:
        body_file = Path(tmp) / "request.grpc"
        body_file.write_bytes(grpc_frame(message))
        log_file = Path(tmp) / "requests.log"
        proc = subprocess.run(
            ["h2load", "-D", str(max(1, round(seconds))), "-c", str(connections), "-m", "1",
             "-d", str(body_file), "-H", "content-type: application/grpc",
             "-H", "te: trailers", "--log-file", str(log_file),
             f"http://{target}{PREDICT_PATH}"],
            capture_output=True, text=True, timeout=seconds + 120, check=False,
        )
        # One line per request: start time (us), HTTP status, duration (us).
        rows = [line.split("\t") for line in log_file.read_text().splitlines() if line.strip()]
    if proc.returncode != 0 or not rows:
        raise RuntimeError(f"h2load failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    starts = [int(r[0]) for r in rows]
    ends = [int(r[0]) + int(r[2]) for r in rows]
    errors = sum(1 for r in rows if r[1] != "200")
    elapsed = (max(ends) - min(starts)) / 1e6
    return _summary([int(r[2]) / 1e6 for r in rows], len(rows), errors, elapsed, "h2load")


def run_python_threads(make_sender, *, connections: int, requests: int) -> dict:
    """``connections`` threads, each with its own ``send = make_sender()`` (its connection),
    calling ``send()`` (True when the reply is right) back to back."""
    per_thread = max(1, requests // connections)
    latencies: list[float] = []
    errors: list[int] = []

    def worker():
        send = make_sender()
        for _ in range(per_thread):
            start = time.perf_counter()
            try:
                ok = send()
            except Exception:  # a failed request is counted, not raised
                ok = False
            latencies.append(time.perf_counter() - start)
            if not ok:
                errors.append(1)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return _summary(latencies, len(latencies), len(errors), elapsed, "python threads")
