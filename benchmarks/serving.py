"""Latency and throughput of ``kerascnn serve`` on loopback vs in-process SavedModel calls.

Exports LeNet-5 (random weights: the figures do not depend on them), starts ``kerascnn serve``
twice on free loopback ports (batching off, then on), and measures one-image ``:predict``
requests (``serving_default``, a PNG as ``{"b64": ...}``) over REST and gRPC with 1 and 16
concurrent clients: p50/p95/p99 latency and images/s. The limit is the same signature called
in-process through ``tf.saved_model.load`` (one image per call, and a batch of 32 per call).

    python benchmarks/serving.py            # full run
    python benchmarks/serving.py --smoke    # a handful of requests (CI)

Writes benchmarks/results/serving.json. Clients run as threads of this process, on the same
cores as the server: on a small machine the client's own CPU use is part of what is measured.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
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

MODEL = "lenet5"
BATCHING = """max_batch_size { value: 32 }
batch_timeout_micros { value: %d }
max_enqueued_batches { value: 1000 }
num_batch_threads { value: %d }
"""


def in_process(path, image: bytes, *, single_calls: int, batch: int, batch_calls: int) -> dict:
    """The SavedModel's ``serving_default`` called directly: one image, and ``batch`` images."""
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
    start = time.perf_counter()
    batch_lat = []
    for _ in range(batch_calls):
        t0 = time.perf_counter()
        fn(image_bytes=many)["probabilities"].numpy()
        batch_lat.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    batched = {**percentiles(batch_lat), "images_per_s": batch * batch_calls / elapsed,
               "batch": batch}
    return {"single": single, "batched": batched}


def _rest_worker(url, body, n, latencies, errors):
    import requests

    session = requests.Session()
    for _ in range(n):
        start = time.perf_counter()
        try:
            r = session.post(url, data=body, headers={"Content-Type": "application/json"},
                             timeout=60)
            ok = r.status_code == 200 and "predictions" in r.text
        except requests.RequestException:
            ok = False
        latencies.append(time.perf_counter() - start)
        if not ok:
            errors.append(1)


def _grpc_worker(target_addr, request, n, latencies, errors):
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(target_addr) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for _ in range(n):
            start = time.perf_counter()
            try:
                reply = stub.Predict(request, timeout=60)
                ok = "probabilities" in reply.outputs
            except grpc.RpcError:
                ok = False
            latencies.append(time.perf_counter() - start)
            if not ok:
                errors.append(1)


def _cpu_seconds(pid) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def load(protocol, address, payload, *, clients: int, per_client: int, server_pid=None) -> dict:
    """``clients`` threads each sending ``per_client`` one-image requests back to back.

    With ``server_pid``, also the server's CPU time per request (user + system): what one
    request costs the server, whatever the neighbours on the machine do.
    """
    worker = _rest_worker if protocol == "REST" else _grpc_worker
    # Warm the connection(s) and the server's code paths first.
    worker(address, payload, 3, [], [])
    latencies: list[float] = []
    errors: list[int] = []
    threads = [threading.Thread(target=worker, args=(address, payload, per_client, latencies,
                                                     errors)) for _ in range(clients)]
    cpu_before = _cpu_seconds(server_pid) if server_pid else None
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    server_cpu_ms = ((_cpu_seconds(server_pid) - cpu_before) * 1000 / max(1, len(latencies))
                     if server_pid else None)
    return {**percentiles(latencies), "images_per_s": len(latencies) / elapsed,
            "requests": len(latencies), "errors": len(errors), "clients": clients,
            "server_cpu_ms_per_request": server_cpu_ms}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few requests only (CI)")
    parser.add_argument("--requests", type=int, default=None,
                        help="requests per configuration (default 400; smoke 16)")
    parser.add_argument("--batch-timeout-micros", type=int, default=2000)
    parser.add_argument("--num-batch-threads", type=int, default=2)
    parser.add_argument("--model", default=MODEL,
                        help="registered model to export and serve (default lenet5)")
    opts = parser.parse_args(argv)
    model_name = opts.model
    total = opts.requests or (16 if opts.smoke else 400)

    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from kerascnn.export import export_model

    info = machine_info()
    image = png_bytes(32, 1)
    rows, results = [], {}
    with tempfile.TemporaryDirectory(prefix="kerascnn-bench-serving-") as tmp:
        base = Path(tmp) / "models"
        path = export_model(model_name, base=base, name=model_name, version=1)
        limit = in_process(path, image, single_calls=max(10, total), batch=32,
                           batch_calls=max(3, total // 16))
        results["in_process"] = limit
        rows.append(["in-process", "-", 1, "-", limit["single"]["p50_ms"],
                     limit["single"]["p95_ms"], limit["single"]["p99_ms"],
                     limit["single"]["images_per_s"], None, 0])
        rows.append(["in-process batch 32", "-", 1, "-", limit["batched"]["p50_ms"],
                     limit["batched"]["p95_ms"], limit["batched"]["p99_ms"],
                     limit["batched"]["images_per_s"], None, 0])

        body = json.dumps({"instances": [{"b64": base64.b64encode(image).decode()}]}).encode()
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = "serving_default"
        request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([image], dtype=tf.string))
        batching_file = Path(tmp) / "batching.config"
        batching_file.write_text(BATCHING % (opts.batch_timeout_micros, opts.num_batch_threads))
        for batching in (False, True):
            extra = (["--enable-batching", "--batching-parameters-file", batching_file]
                     if batching else [])
            with serve(base / model_name, model_name, extra_args=extra) as (rest_url, grpc_target,
                                                                              proc):
                url = f"{rest_url}/v1/models/{model_name}:predict"
                for protocol, address, payload in (("REST", url, body),
                                                   ("gRPC", grpc_target, request)):
                    for clients in (1, 16):
                        r = load(protocol, address, payload, clients=clients,
                                 per_client=max(1, total // clients), server_pid=proc.pid)
                        key = f"{protocol}/{clients}/{'on' if batching else 'off'}"
                        results[key] = r
                        rows.append([protocol, "on" if batching else "off", clients,
                                     r["requests"], r["p50_ms"], r["p95_ms"], r["p99_ms"],
                                     r["images_per_s"], r["server_cpu_ms_per_request"],
                                     r["errors"]])
                        print(f"  {key}: p50 {r['p50_ms']:.2f} ms, {r['images_per_s']:.0f} img/s",
                              flush=True)

    headers = ["path", "batching", "clients", "requests", "p50 ms", "p95 ms", "p99 ms",
               "images/s", "server CPU ms/req", "errors"]
    print(f"\nServing {model_name}, one 32x32 PNG per request — {machine_line(info)}")
    print(table(headers, rows))
    single = limit["single"]["p50_ms"]
    targets = [
        target("served images/s (16 clients, batching on, best of REST/gRPC) / in-process batched",
               max(results["REST/16/on"]["images_per_s"], results["gRPC/16/on"]["images_per_s"])
               / limit["batched"]["images_per_s"], 0.7),
        target("batching on / off images/s at 16 clients (REST)",
               results["REST/16/on"]["images_per_s"] / results["REST/16/off"]["images_per_s"], 2.0),
        target("batching on / off images/s at 16 clients (gRPC)",
               results["gRPC/16/on"]["images_per_s"] / results["gRPC/16/off"]["images_per_s"], 2.0),
        target(f"REST p50 overhead over in-process, 1 image, 1 client ({model_name})",
               results["REST/1/off"]["p50_ms"] - single, 2.0, higher_is_better=False, unit=" ms"),
        target("gRPC p50 - REST p50 (1 client, batching off)",
               results["gRPC/1/off"]["p50_ms"] - results["REST/1/off"]["p50_ms"], 0.0,
               higher_is_better=False, unit=" ms"),
    ]
    print_targets(targets)
    out = write_result("serving" if model_name == MODEL else f"serving_{model_name}", {
        "machine": info, "model": model_name, "headers": headers, "rows": rows, "results": results,
        "batching_parameters": BATCHING % (opts.batch_timeout_micros, opts.num_batch_threads),
        "targets": targets,
    }, smoke=opts.smoke)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
