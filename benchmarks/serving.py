"""Throughput, latency and CPU cost of ``kerascnn serve`` against the same signature in-process.

Exports a registered model (random weights: the figures do not depend on them), starts
``kerascnn serve`` twice on free loopback ports (batching off, then on with the parameters of
``serving/batching.config``), and loads it with one PNG per request to ``serving_default``:
REST (``{"instances": [{"b64": ...}]}``) and gRPC (a PredictRequest), 1 and 16 connections.
The load generators are wrk (REST) and h2load (gRPC-framed PredictRequests) when installed
(``apt-get install wrk nghttp2-client``), else Python threads; every row says which one
produced it. The limit is the same signature called in-process on a batch of 32 (measured
before and after the served runs, the better of the two kept), so each ratio is measured side
by side in one run.

    python benchmarks/serving.py                    # LeNet-5, writes results/serving.json
    python benchmarks/serving.py --model resnet20   # writes results/serving_resnet20.json
    python benchmarks/serving.py --smoke            # one second per row (CI)
    python benchmarks/serving.py --server-arg=--tensorflow_intra_op_parallelism=1

Two more rows load do-nothing servers of the same protocols (``_floor_servers.py``: grpcio
with a fixed reply, aiohttp with fixed JSON) with the same generator: the CPU per request that
any Python server on these libraries pays.

"Server CPU per request" is the server process's user + system CPU time over the requests it
answered; "beyond the model" subtracts the CPU one image costs inside a batch of 32 in-process.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    ROOT,
    free_port,
    machine_info,
    machine_line,
    percentiles,
    png_bytes,
    print_targets,
    serve,
    table,
    target,
    write_result,
)
from _loadgen import (  # noqa: E402
    native_available,
    run_h2load,
    run_python_threads,
    run_wrk,
)

MODEL = "lenet5"
# The floor gRPC server's pool: as large as kerascnn serve's default on a 2-core machine.
FLOOR_GRPC_THREADS = 32
# The targets: served / in-process batched, per model (others: the stricter one).
SERVED_RATIO_TARGET = {"lenet5": 0.6, "resnet20": 0.85}
BATCHING_FILE = ROOT / "serving" / "batching.config"
FALLBACK_BATCHING = """max_batch_size { value: 32 }
batch_timeout_micros { value: 2000 }
max_enqueued_batches { value: 1000 }
num_batch_threads { value: 2 }
"""


def in_process(path, image: bytes, *, single_calls: int, batch: int, batch_calls: int) -> dict:
    """``serving_default`` called directly (``tf.saved_model.load``): 1 image and ``batch``.

    Besides latency and images/s, ``cpu_ms_per_image``: this process's CPU time per image in
    the batched calls, the model's share of what a served request costs.
    """
    import tensorflow as tf

    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    one = tf.constant([image])
    many = tf.constant([image] * batch)
    for _ in range(5):
        fn(image_bytes=one)
        fn(image_bytes=many)
    latencies = []
    for _ in range(single_calls):
        start = time.perf_counter()
        fn(image_bytes=one)["probabilities"].numpy()
        latencies.append(time.perf_counter() - start)
    single = {**percentiles(latencies), "images_per_s": single_calls / sum(latencies)}
    batch_lat = []
    cpu_start, start = time.process_time(), time.perf_counter()
    for _ in range(batch_calls):
        t0 = time.perf_counter()
        fn(image_bytes=many)["probabilities"].numpy()
        batch_lat.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    cpu_ms = (time.process_time() - cpu_start) * 1000 / (batch * batch_calls)
    batched = {**percentiles(batch_lat), "images_per_s": batch * batch_calls / elapsed,
               "batch": batch, "cpu_ms_per_image": cpu_ms}
    return {"single": single, "batched": batched}


def _cpu_seconds(pid) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def check_replies(rest_url: str, grpc_target: str, body: bytes, request) -> None:
    """One real REST and one real gRPC request must answer probabilities (h2load and wrk
    check HTTP status codes only)."""
    import grpc
    import requests
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    reply = requests.post(rest_url, data=body, timeout=60)
    if reply.status_code != 200 or "predictions" not in reply.json():
        raise RuntimeError(f"REST answered {reply.status_code}: {reply.text[:300]}")
    with grpc.insecure_channel(grpc_target) as channel:
        answer = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            request, timeout=60)
    if "probabilities" not in answer.outputs:
        raise RuntimeError(f"gRPC answered without probabilities: {answer}")


def _python_sender(protocol, address, payload):
    def make():
        if protocol == "REST":
            import requests

            session = requests.Session()
            return lambda: session.post(address, data=payload, timeout=60).status_code == 200
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(address))
        return lambda: "probabilities" in stub.Predict(payload, timeout=60).outputs
    return make


def measure(protocol, address, payload, *, connections, seconds, requests, native, server_pid):
    """One row: the load, the replies' latency and the server's CPU per request."""
    if native and protocol == "REST":
        def go():
            return run_wrk(address, payload, connections=connections, seconds=seconds)
    elif native:
        def go():
            return run_h2load(address, payload.SerializeToString(),
                              connections=connections, seconds=seconds)
    else:
        def go():
            return run_python_threads(_python_sender(protocol, address, payload),
                                      connections=connections, requests=requests)
    cpu_before = _cpu_seconds(server_pid)
    result = go()
    cpu = _cpu_seconds(server_pid) - cpu_before
    result["server_cpu_ms_per_request"] = cpu * 1000 / max(1, result["requests"])
    result["images_per_s"] = result["requests_per_s"]  # one image per request
    result["clients"] = connections
    return result


@contextlib.contextmanager
def floor_server(kind: str):
    """Run ``_floor_servers.py KIND`` on a free port; yield (address, pid)."""
    port = free_port()
    args = [sys.executable, str(Path(__file__).with_name("_floor_servers.py")), kind, str(port)]
    if kind == "grpc":
        args.append(str(FLOOR_GRPC_THREADS))
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {kind} floor server did not start")
            time.sleep(0.1)
        yield (f"http://127.0.0.1:{port}/v1/models/floor:predict" if kind == "rest"
               else f"127.0.0.1:{port}"), proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def measure_floors(body, request, *, seconds) -> dict:
    """CPU per request of the do-nothing servers (wrk/h2load only: a Python client would
    measure itself)."""
    floors = {}
    for kind, protocol, payload in (("rest", "REST", body), ("grpc", "gRPC", request)):
        with floor_server(kind) as (address, pid):
            measure(protocol, address, payload, connections=4, seconds=1, requests=8,
                    native=True, server_pid=pid)
            floors[protocol] = measure(protocol, address, payload, connections=16,
                                       seconds=seconds, requests=0, native=True,
                                       server_pid=pid)
    return floors


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one second per row (CI)")
    parser.add_argument("--model", default=MODEL, help="registered model (default lenet5)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds per row with wrk/h2load (default 8; smoke 1)")
    parser.add_argument("--requests", type=int, default=None,
                        help="requests per row with Python threads (default 400; smoke 16)")
    parser.add_argument("--generator", choices=("auto", "python"), default="auto",
                        help="auto: wrk/h2load when both are installed")
    parser.add_argument("--batching-file", type=Path, default=BATCHING_FILE,
                        help="BatchingParameters for the 'on' rows (serving/batching.config)")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="extra `kerascnn serve` argument (repeatable)")
    opts = parser.parse_args(argv)
    seconds = opts.seconds or (1.0 if opts.smoke else 8.0)
    total = opts.requests or (16 if opts.smoke else 400)
    native = opts.generator == "auto" and all(native_available().values())

    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from kerascnn.export import export_model
    from kerascnn.server.config import read_batching_parameters

    batching_text = (opts.batching_file.read_text() if opts.batching_file.exists()
                     else FALLBACK_BATCHING)
    info = machine_info()
    load_before = os.getloadavg()
    image = png_bytes(32, 1)
    rows, results = [], {}
    calls = {"single_calls": max(10, total), "batch": 32,
             "batch_calls": max(3, total // 8 if not opts.smoke else 3)}
    with tempfile.TemporaryDirectory(prefix="kerascnn-bench-serving-") as tmp:
        base = Path(tmp) / "models"
        path = export_model(opts.model, base=base, name=opts.model, version=1)
        limits = [in_process(path, image, **calls)]

        body = json.dumps({"instances": [{"b64": base64.b64encode(image).decode()}]}).encode()
        request = predict_pb2.PredictRequest()
        request.model_spec.name = opts.model
        request.model_spec.signature_name = "serving_default"
        request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([image], dtype=tf.string))
        batching_path = Path(tmp) / "batching.config"
        batching_path.write_text(batching_text)
        batch_timeout_ms = (read_batching_parameters(batching_path).batch_timeout_micros.value
                            / 1000)
        for batching in (False, True):
            extra = [*opts.server_arg]
            if batching:
                extra += ["--enable-batching", "--batching-parameters-file", batching_path]
            with serve(base / opts.model, opts.model, extra_args=extra) as (rest, grpc_target,
                                                                              proc):
                url = f"{rest}/v1/models/{opts.model}:predict"
                check_replies(url, grpc_target, body, request)
                for protocol, address, payload in (("REST", url, body),
                                                   ("gRPC", grpc_target, request)):
                    # Warm the server's code paths for this protocol first.
                    measure(protocol, address, payload, connections=4, seconds=1,
                            requests=8, native=native, server_pid=proc.pid)
                    for connections in (1, 16):
                        r = measure(protocol, address, payload, connections=connections,
                                    seconds=seconds, requests=total, native=native,
                                    server_pid=proc.pid)
                        key = f"{protocol}/{connections}/{'on' if batching else 'off'}"
                        results[key] = r
                        rows.append([protocol, r["generator"], "on" if batching else "off",
                                     connections, r["requests"], r["p50_ms"], r["p95_ms"],
                                     r["p99_ms"], r["images_per_s"],
                                     r["server_cpu_ms_per_request"], r["errors"]])
                        print(f"  {key} ({r['generator']}): p50 {r['p50_ms']:.2f} ms, "
                              f"{r['images_per_s']:.0f} req/s, server CPU "
                              f"{r['server_cpu_ms_per_request']:.2f} ms/req", flush=True)
        limits.append(in_process(path, image, **calls))
        floors = measure_floors(body, request, seconds=seconds) if native else {}
    for protocol, r in floors.items():
        results[f"floor/{protocol}"] = r
        rows.append([f"{protocol}, empty {'aiohttp' if protocol == 'REST' else 'grpcio'} "
                     "server", r["generator"], "-", 16, r["requests"], r["p50_ms"],
                     r["p95_ms"], r["p99_ms"], r["images_per_s"],
                     r["server_cpu_ms_per_request"], r["errors"]])
    limit = max(limits, key=lambda x: x["batched"]["images_per_s"])
    results["in_process"] = limit
    results["in_process_runs"] = limits
    load_after = os.getloadavg()

    rows[:0] = [
        ["in-process", "-", "-", 1, "-", limit["single"]["p50_ms"], limit["single"]["p95_ms"],
         limit["single"]["p99_ms"], limit["single"]["images_per_s"], None, 0],
        ["in-process batch 32", "-", "-", 1, "-", limit["batched"]["p50_ms"],
         limit["batched"]["p95_ms"], limit["batched"]["p99_ms"],
         limit["batched"]["images_per_s"], None, 0],
    ]
    headers = ["path", "generator", "batching", "connections", "requests", "p50 ms", "p95 ms",
               "p99 ms", "req/s", "server CPU ms/req", "errors"]
    best = max(("REST", "gRPC"), key=lambda p: results[f"{p}/16/on"]["images_per_s"])
    served = results[f"{best}/16/on"]
    model_cpu = limit["batched"]["cpu_ms_per_image"]
    summary = {
        "model": opts.model,
        "in_process_batch32_images_per_s": limit["batched"]["images_per_s"],
        "served_best_requests_per_s": served["images_per_s"],
        "served_best_protocol": best,
        "served_best_generator": served["generator"],
        "ratio": served["images_per_s"] / limit["batched"]["images_per_s"],
        "server_cpu_ms_per_request": served["server_cpu_ms_per_request"],
        "model_cpu_ms_per_image": model_cpu,
        "server_cpu_beyond_model_ms": served["server_cpu_ms_per_request"] - model_cpu,
        # What the do-nothing server of the same protocol costs per request (None without
        # wrk/h2load): the part of "beyond the model" no Python code of ours can remove.
        "framework_floor_cpu_ms": floors.get(best, {}).get("server_cpu_ms_per_request"),
        "load_average_before": load_before,
        "load_average_after": load_after,
    }
    print(f"\nServing {opts.model}, one 32x32 PNG per request — {machine_line(info)}; "
          f"load avg {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print(table(headers, rows))
    print(f"\n{opts.model}: in-process batch 32 {summary['in_process_batch32_images_per_s']:,.0f}"
          f" img/s; served ({best}, {served['generator']}) {served['images_per_s']:,.0f} req/s; "
          f"ratio {summary['ratio']:.2f}; server CPU {served['server_cpu_ms_per_request']:.2f}"
          f" ms/req, model {model_cpu:.2f} ms/img"
          + (f", empty {best} server {summary['framework_floor_cpu_ms']:.2f} ms/req"
             if summary["framework_floor_cpu_ms"] is not None else ""))
    on_off = {p: results[f"{p}/16/on"]["images_per_s"] / results[f"{p}/16/off"]["images_per_s"]
              for p in ("REST", "gRPC")}
    p50_one = min(results["REST/1/on"]["p50_ms"], results["gRPC/1/on"]["p50_ms"])
    targets = [
        target(f"served req/s (16 connections, batching on, best of REST/gRPC) / in-process "
               f"batch 32 ({opts.model})", summary["ratio"],
               SERVED_RATIO_TARGET.get(opts.model, 0.85)),
        target("batching on / off req/s at 16 connections (best of REST/gRPC)",
               max(on_off.values()), 2.0),
        target("server CPU per request beyond the model's share (16 connections, batching on)",
               summary["server_cpu_beyond_model_ms"], 0.3, higher_is_better=False, unit=" ms"),
        target(f"p50 at 1 connection, batching on, best of REST/gRPC (<= batch timeout "
               f"{batch_timeout_ms:g} ms + 1.5 ms)", p50_one, batch_timeout_ms + 1.5,
               higher_is_better=False, unit=" ms"),
        target("REST p50 overhead over in-process, 1 image, 1 connection, batching off",
               results["REST/1/off"]["p50_ms"] - limit["single"]["p50_ms"], 2.0,
               higher_is_better=False, unit=" ms"),
        target("gRPC p50 - REST p50 (1 connection, batching off)",
               results["gRPC/1/off"]["p50_ms"] - results["REST/1/off"]["p50_ms"], 0.0,
               higher_is_better=False, unit=" ms"),
    ]
    print_targets(targets)
    out = write_result("serving" if opts.model == MODEL else f"serving_{opts.model}", {
        "machine": info, "model": opts.model, "headers": headers, "rows": rows,
        "results": results, "summary": summary, "batching_parameters": batching_text,
        "server_args": opts.server_arg, "seconds_per_row": seconds, "targets": targets,
    }, smoke=opts.smoke)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
