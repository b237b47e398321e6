"""``kerascnn serve`` behaviour: version hot swap under load, config reload, batching, limits,
signals, warmup, the CLI, and a real export from kerascnn.export."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import threading
import time

import grpc
import numpy as np
import pytest
import requests
from _hardening_utils import receive_head
from _processes import free_port
from _server_models import build_toy

tf = pytest.importorskip("tensorflow")

from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc  # noqa: E402

MONITORING = 'prometheus_config { enable: true path: "/monitoring/prometheus/metrics" }\n'
METRICS_PATH = "/monitoring/prometheus/metrics"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Toy versions 1 (with 2 warmup records) and 2, built once and copied where needed."""
    root = tmp_path_factory.mktemp("built")
    return {1: build_toy(root / "v1", 1, warmup_records=2), 2: build_toy(root / "v2", 2)}


def copy_version(built, version, base, as_version=None):
    target = base / str(as_version or version)
    staging = base.parent / f".staging-{base.name}-{target.name}"
    shutil.copytree(built[version], staging)
    base.mkdir(parents=True, exist_ok=True)
    os.rename(staging, target)  # atomic, like kerascnn export
    return target


def metrics_text(server):
    resp = requests.get(server.rest_url + METRICS_PATH, timeout=30)
    assert resp.status_code == 200
    return resp.text


def metric(text, name, **labels):
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"(\S+?)(\{.*\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(found.get(k) == str(v) for k, v in labels.items()):
            total += float(m.group(3))
    return total


def predict_rest(server, body, path="/v1/models/toy:predict", timeout=60):
    return requests.post(server.rest_url + path, data=json.dumps(body), timeout=timeout)


# --- versions ---------------------------------------------------------------------------------

def test_hot_swap_under_concurrent_load_has_zero_failures(serve, built, tmp_path):
    base = tmp_path / "models" / "toy"
    copy_version(built, 1, base)
    (tmp_path / "monitoring.config").write_text(MONITORING)
    args = ["--file-system-poll-wait-seconds", "0.2",
            "--monitoring-config-file", tmp_path / "monitoring.config"]
    with serve(model_base_path=base, model_name="toy", extra_args=args) as server:
        stop = threading.Event()
        failures, seen = [], []
        lock = threading.Lock()

        def rest_worker():
            session = requests.Session()
            while not stop.is_set():
                try:
                    r = session.post(server.rest_url + "/v1/models/toy:predict",
                                     data='{"instances": [[2.0, 4.0]]}', timeout=60)
                    row = r.json()["predictions"][0]
                    ok = r.status_code == 200 and row["y"] == [1.0 + row["version"],
                                                               2.0 + row["version"]]
                    with lock:
                        (seen if ok else failures).append(row["version"] if ok else r.text)
                except Exception as exc:  # any transport failure is a failed request
                    with lock:
                        failures.append(repr(exc))

        def grpc_worker():
            channel = grpc.insecure_channel(server.grpc_target)
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "toy"
            request.inputs["x"].CopyFrom(tf.make_tensor_proto([[2.0, 4.0]], tf.float32))
            while not stop.is_set():
                try:
                    response = stub.Predict(request, timeout=60)
                    with lock:
                        seen.append(response.model_spec.version.value)
                except grpc.RpcError as exc:
                    with lock:
                        failures.append(f"{exc.code()}: {exc.details()}")
            channel.close()

        workers = [threading.Thread(target=rest_worker) for _ in range(2)]
        workers += [threading.Thread(target=grpc_worker) for _ in range(2)]
        for w in workers:
            w.start()
        try:
            time.sleep(1.0)
            copy_version(built, 2, base)
            deadline = time.monotonic() + 90
            swapped = False
            while time.monotonic() < deadline and not swapped:
                status = requests.get(server.rest_url + "/v1/models/toy", timeout=30).json()
                states = {s["version"]: s["state"] for s in status["model_version_status"]}
                swapped = states == {"2": "AVAILABLE", "1": "END"}
                time.sleep(0.2)
            time.sleep(0.5)
        finally:
            stop.set()
            for w in workers:
                w.join(timeout=60)
        assert swapped, status
        assert failures == []
        assert 1 in seen and 2 in seen
        assert [s["version"] for s in status["model_version_status"]] == ["2", "1"]
        assert predict_rest(server, {"instances": [[0, 0]]}).json()["predictions"][0][
            "version"] == 2

        text = metrics_text(server)
        assert metric(text, ":tensorflow:serving:model_warmup_records_read",
                      model_path=str(base / "1")) == 2
        assert metric(text, ":tensorflow:serving:request_count", model_name="toy",
                      status="OK") >= len(seen)
        assert "# TYPE :tensorflow:serving:request_count counter" in text
        assert metric(text, ":tensorflow:serving:request_latency_count", model_name="toy",
                      API="predict", entrypoint="REST") > 0
        assert metric(text, ":tensorflow:serving:request_latency_count", model_name="toy",
                      API="Predict", entrypoint="GRPC") > 0


@pytest.mark.stress
def test_repeated_hot_swaps_under_load(serve, built, tmp_path):
    """Five swaps back to back under REST load (run with: pytest -m stress)."""
    base = tmp_path / "toy"
    copy_version(built, 1, base)
    with serve(model_base_path=base, model_name="toy",
               extra_args=["--file-system-poll-wait-seconds", "0.1"]) as server:
        stop = threading.Event()
        failures, count = [], [0]

        def worker():
            session = requests.Session()
            while not stop.is_set():
                try:
                    r = session.post(server.rest_url + "/v1/models/toy:predict",
                                     data='{"instances": [[0, 0]]}', timeout=60)
                    if r.status_code != 200:
                        failures.append(r.text)
                    count[0] += 1
                except Exception as exc:
                    failures.append(repr(exc))

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            for version in range(2, 7):
                copy_version(built, 1 + version % 2, base, as_version=version)
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    status = requests.get(server.rest_url + "/v1/models/toy", timeout=30).json()
                    if status["model_version_status"][0] == {
                            "version": str(version), "state": "AVAILABLE",
                            "status": {"error_code": "OK", "error_message": ""}} and all(
                            s["state"] == "END" for s in status["model_version_status"][1:]):
                        break
                    time.sleep(0.1)
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        assert failures == [] and count[0] > 0


def test_a_broken_new_version_leaves_the_old_one_serving(serve, built, tmp_path):
    base = tmp_path / "toy"
    copy_version(built, 1, base)

    def states():
        status = requests.get(server.rest_url + "/v1/models/toy", timeout=30).json()
        return {s["version"]: (s["state"], s["status"]["error_code"])
                for s in status["model_version_status"]}

    def wait_for(expected, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and states() != expected:
            time.sleep(0.2)
        return states()

    with serve(model_base_path=base, model_name="toy",
               extra_args=["--file-system-poll-wait-seconds", "0.2"]) as server:
        broken = tmp_path / "broken"
        shutil.copytree(built[2], broken)
        (broken / "saved_model.pb").write_bytes(b"truncated")
        os.rename(broken, base / "2")
        got = wait_for({"2": ("END", "DATA_LOSS"), "1": ("AVAILABLE", "OK")})
        assert got == {"2": ("END", "DATA_LOSS"), "1": ("AVAILABLE", "OK")}
        assert predict_rest(server, {"instances": [[0, 0]]}).json()["predictions"][0][
            "version"] == 1
        # Fixing the folder makes the poller try again.
        shutil.rmtree(base / "2")
        copy_version(built, 2, base)
        assert wait_for({"2": ("AVAILABLE", "OK"), "1": ("END", "OK")}) == {
            "2": ("AVAILABLE", "OK"), "1": ("END", "OK")}


def test_models_config_polling_adds_and_removes_models(serve, built, tmp_path):
    copy_version(built, 1, tmp_path / "a")
    copy_version(built, 2, tmp_path / "b")
    config = tmp_path / "models.config"
    entry = 'config {{ name: "{0}" base_path: "{1}" model_platform: "tensorflow" }}'

    def write(*names):
        body = " ".join(entry.format(n, tmp_path / n) for n in names)
        staging = tmp_path / "models.config.new"
        staging.write_text(f"model_config_list {{ {body} }}")
        os.replace(staging, config)

    def wait_for(check, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.2)
        return False

    write("a")
    args = ["--model_config_file_poll_wait_seconds=0.3"]  # TF Serving's underscore spelling
    with serve(model_config_file=config, extra_args=args) as server:
        assert predict_rest(server, {"instances": [[0, 0]]}, "/v1/models/a:predict").ok
        assert requests.get(server.rest_url + "/v1/models/b", timeout=30).status_code == 404
        write("a", "b")
        assert wait_for(lambda: predict_rest(server, {"instances": [[0, 0]]},
                                             "/v1/models/b:predict").status_code == 200)
        write("b")
        assert wait_for(lambda: predict_rest(server, {"instances": [[0, 0]]},
                                             "/v1/models/a:predict").status_code == 404)
        assert predict_rest(server, {"instances": [[0, 0]]}, "/v1/models/a:predict").json() == {
            "error": "Servable not found for request: Latest(a)"}
        status = requests.get(server.rest_url + "/v1/models/a", timeout=30).json()
        assert status["model_version_status"][0]["state"] == "END"
        # A broken edit is ignored: the running config stays.
        config.write_text("model_config_list { config { name: ")
        time.sleep(1.0)
        assert predict_rest(server, {"instances": [[0, 0]]}, "/v1/models/b:predict").ok
        assert server.process.poll() is None
        assert server.stop(signal.SIGINT) == 0


# --- batching ---------------------------------------------------------------------------------

BATCHING = """
max_batch_size { value: 4 }
batch_timeout_micros { value: 500000 }
max_enqueued_batches { value: 1 }
num_batch_threads { value: 1 }
allowed_batch_sizes: 2
allowed_batch_sizes: 4
"""


@pytest.fixture(scope="module")
def batching_server(serve, built, tmp_path_factory):
    root = tmp_path_factory.mktemp("batching")
    copy_version(built, 2, root / "toy")
    (root / "batching.config").write_text(BATCHING)
    (root / "monitoring.config").write_text(MONITORING)
    args = ["--enable-batching", "--batching-parameters-file", root / "batching.config",
            "--monitoring-config-file", root / "monitoring.config"]
    return serve(model_base_path=root / "toy", model_name="toy", extra_args=args)


def _concurrently(calls):
    results = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i, call):
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_batching_merges_concurrent_requests(batching_server):
    before = metrics_text(batching_server)
    calls = [
        (lambda i=i: predict_rest(batching_server, {"instances": [[float(i), 0.0]]}))
        for i in range(4)
    ]
    results = _concurrently(calls)
    for i, resp in enumerate(results):
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"predictions": [{"y": [i * 0.5 + 2, 2.0], "version": 2}]}
    after = metrics_text(batching_server)
    runs = metric(after, ":tensorflow:serving:batching_session:wrapped_run_count") - metric(
        before, ":tensorflow:serving:batching_session:wrapped_run_count")
    inputs = metric(after, ":tensorflow:serving:batching_session:input_batch_size_sum") - metric(
        before, ":tensorflow:serving:batching_session:input_batch_size_sum")
    batch_sizes = metric(
        after, ":tensorflow:serving:batching_session:processed_batch_size_sum") - metric(
        before, ":tensorflow:serving:batching_session:processed_batch_size_sum")
    assert inputs == 4
    assert 1 <= runs < 4, "four concurrent requests should share model calls"
    assert batch_sizes >= 4


def test_batching_pads_to_allowed_batch_size(batching_server):
    before = metrics_text(batching_server)
    resp = predict_rest(batching_server, {"inputs": [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]})
    assert resp.json()["outputs"]["version"] == [2, 2, 2]
    after = metrics_text(batching_server)
    name = ":tensorflow:serving:batching_session:padding_size_sum"
    assert metric(after, name) - metric(before, name) == 1
    name = ":tensorflow:serving:batching_session:processed_batch_size_sum"
    assert metric(after, name) - metric(before, name) == 4


def test_batching_rejects_oversize_request(batching_server):
    resp = predict_rest(batching_server, {"instances": [[1.0, 1.0]] * 5})
    assert resp.status_code == 400
    assert resp.json() == {"error": "Task size 5 is larger than maximum input batch size 4"}


def test_batching_full_queue_answers_503(batching_server):
    name = ":tensorflow:serving:batching_session:input_batch_size_count"

    def submitted():
        return metric(metrics_text(batching_server), name)

    def wait_submitted(count, timeout=60):
        deadline = time.monotonic() + timeout
        while submitted() < count and time.monotonic() < deadline:
            time.sleep(0.02)

    slow = {"signature_name": "spin", "instances": [1_000_000] * 4}
    quick = {"signature_name": "spin", "instances": [1] * 4}
    first = {}
    start = submitted()
    t1 = threading.Thread(target=lambda: first.setdefault("a", predict_rest(batching_server, slow)))
    t1.start()
    wait_submitted(start + 1)  # the full batch runs now (seconds of busy loop)
    t2 = threading.Thread(target=lambda: first.setdefault("b", predict_rest(batching_server, quick)))
    t2.start()
    wait_submitted(start + 2)  # the second batch waits in the queue (max_enqueued_batches: 1)
    third = predict_rest(batching_server, {"signature_name": "spin", "instances": [1]})
    t1.join(timeout=120)
    t2.join(timeout=120)
    assert third.status_code == 503
    assert third.json() == {
        "error": "The batch scheduling queue to which this task was submitted is full"}
    assert first["a"].status_code == 200 and first["b"].status_code == 200


# --- limits -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def limited_server(serve, built, tmp_path_factory):
    root = tmp_path_factory.mktemp("limits")
    copy_version(built, 2, root / "toy")
    args = ["--max-request-bytes", "65536", "--rest-api-timeout-in-ms", "400"]
    return serve(model_base_path=root / "toy", model_name="toy", extra_args=args)


def test_body_over_the_limit_is_refused_from_its_header(limited_server):
    body = json.dumps({"instances": [[1.0, 2.0]] * 6000}).encode()
    assert len(body) > 65536
    resp = requests.post(limited_server.rest_url + "/v1/models/toy:predict", data=body,
                         timeout=60)
    assert resp.status_code == 413
    assert "larger than the limit of 65536 bytes" in resp.json()["error"]


def _raw_http(port, head: bytes, chunks, *, pause=0.0):
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        try:
            sock.sendall(head)
            for chunk in chunks:
                sock.sendall(chunk)
                if pause:
                    time.sleep(pause)
        except OSError:
            pass  # the server may answer and close before the upload ends
        return receive_head(sock)


def test_chunked_body_over_the_limit_is_refused_while_streaming(limited_server):
    head = (b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"[" + b"1," * 8000 + b"1]"
    chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
    reply = _raw_http(limited_server.rest_port, head, [chunk] * 40 + [b"0\r\n\r\n"])
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert requests.get(limited_server.rest_url + "/v1/models/toy", timeout=30).ok


def test_request_timeout_is_504(limited_server):
    resp = predict_rest(limited_server, {"signature_name": "spin", "instances": [1_000_000]})
    assert resp.status_code == 504
    assert resp.json() == {"error": "Deadline Exceeded"}
    assert requests.get(limited_server.rest_url + "/v1/models/toy", timeout=30).ok


def test_grpc_message_over_the_limit(limited_server):
    channel = grpc.insecure_channel(limited_server.grpc_target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.zeros((20000, 2), np.float32)))
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=60)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    channel.close()


def test_garbage_on_the_socket_does_not_hurt(limited_server):
    reply = _raw_http(limited_server.rest_port, b"\x16\x03\x01garbage\r\n\r\n", [])
    assert reply == b"" or reply.startswith(b"HTTP/1.")
    reply = _raw_http(limited_server.rest_port,
                      b"POST /v1/models/toy:predict HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
                      [b"{\"in"])
    assert b"400" in reply.split(b"\r\n")[0]
    assert limited_server.process.poll() is None
    assert requests.get(limited_server.rest_url + "/v1/models/toy", timeout=30).ok


# --- signals and the CLI ----------------------------------------------------------------------

def test_sigterm_lets_in_flight_requests_finish(serve, built, tmp_path):
    copy_version(built, 2, tmp_path / "models" / "toy")
    # A relative --model-base-path, and TF Serving's underscore flag spelling with '='.
    with serve(model_base_path="models/toy", model_name="toy", cwd=tmp_path,
               extra_args=["--rest_api_timeout_in_ms=60000"]) as server:
        assert "Exporting HTTP/REST API at: " + server.rest_url in server.output
        assert "Running gRPC ModelServer at " + server.grpc_target in server.output
        result = {}
        worker = threading.Thread(target=lambda: result.setdefault("r", predict_rest(
            server, {"signature_name": "spin", "instances": [1_000_000]}, timeout=120)))
        worker.start()
        time.sleep(0.7)
        server.process.send_signal(signal.SIGTERM)
        worker.join(timeout=120)
        assert server.process.wait(timeout=60) == 0
        assert result["r"].status_code == 200, result["r"].text
        assert result["r"].json() == {"predictions": [1_000_000]}
        assert server.wait_for_output("kerascnn serve: stopped", timeout=10)
        assert "Traceback" not in server.output
        with pytest.raises(requests.ConnectionError):
            requests.get(server.rest_url + "/v1/models/toy", timeout=5)


def test_rest_port_zero_turns_rest_off_like_tf_serving(built, tmp_path):
    import subprocess
    import sys

    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    copy_version(built, 2, tmp_path / "toy")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kerascnn", "serve", "--model-base-path", tmp_path / "toy",
         "--model_name=toy", f"--port={port}", "--rest_api_port=0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "kerascnn serve ready" in line:
                break
        assert "REST disabled" in lines[-1], lines
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "toy"}), timeout=60)
        assert status.model_version_status[0].version == 2
        channel.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_without_a_model_is_a_usage_error(cli):
    proc = cli("serve")
    assert proc.returncode == 2
    assert "--model-base-path" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serve_with_a_broken_config_file(cli, tmp_path):
    bad = tmp_path / "models.config"
    bad.write_text("model_config_list { config { nme: 'x' } }")
    proc = cli("serve", "--model-config-file", bad, "--port", "0", "--rest-api-port", "0",
               "--max_num_load_retries", "0")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f"Error: model config file {str(bad)!r} is not valid")
    assert "Traceback" not in proc.stderr


def test_a_model_that_cannot_load_stops_start_up(cli, tmp_path):
    (tmp_path / "bad" / "1").mkdir(parents=True)
    (tmp_path / "bad" / "1" / "saved_model.pb").write_bytes(b"not a SavedModel")
    proc = cli("serve", "--model-base-path", tmp_path / "bad", "--port", "0",
               "--rest-api-port", "0", "--max_num_load_retries", "0", timeout=300)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: model 'default' version 1 at ") and "failed to load" in last
    assert "Traceback" not in proc.stderr


def test_port_in_use_is_one_line(cli, built, tmp_path):
    copy_version(built, 2, tmp_path / "toy")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = cli("serve", "--model-base-path", tmp_path / "toy", "--port", "0",
                   "--rest-api-port", port, timeout=300)
    assert proc.returncode == 1
    assert "cannot listen for REST on 127.0.0.1:" in proc.stderr
    assert "--rest-api-port" in proc.stderr and "Traceback" not in proc.stderr


def test_busy_grpc_port_is_reported_before_any_model_loads(cli, built, tmp_path):
    """Issue 14: gRPC's own add_port.cc line came first, and our message only after the model
    had loaded. The ports are checked before anything loads."""
    copy_version(built, 2, tmp_path / "toy")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = cli("serve", "--model-base-path", tmp_path / "toy", "--port", port,
                   "--rest-api-port", "0", timeout=300)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [f"Error: cannot listen for gRPC on 127.0.0.1:{port}: Address already in use; "
                     "is another server using the port? (--port)"], proc.stderr


def test_serve_help_lists_tf_serving_flags(cli):
    proc = cli("serve", "--help")
    assert proc.returncode == 0
    for flag in ("--model-base-path", "--model_base_path", "--rest-api-port",
                 "--enable-batching", "--model-config-file-poll-wait-seconds",
                 "--max-request-bytes"):
        assert flag in proc.stdout


# --- a real export ------------------------------------------------------------------------------

@pytest.mark.slow
def test_real_export_serves_both_signatures(serve, tmp_path):
    from _export_utils import CLASS_NAMES, encode, random_pixels, tiny_model

    from kerascnn.client import Client
    from kerascnn.export import export_model

    model = tiny_model()
    export_model(model, base=tmp_path / "models", name="tiny", version=1,
                 class_names=CLASS_NAMES, max_pixels=300)
    pixels = random_pixels(16, 16, seed=3)
    png = encode(pixels)
    too_big = encode(random_pixels(20, 20, seed=4))  # 400 pixels > max_pixels
    with serve(model_base_path=tmp_path / "models" / "tiny", model_name="tiny") as server:
        import base64

        by_bytes = requests.post(server.rest_url + "/v1/models/tiny:predict", data=json.dumps({
            "instances": [{"b64": base64.b64encode(png).decode()}]}), timeout=120)
        assert by_bytes.status_code == 200, by_bytes.text
        row = by_bytes.json()["predictions"][0]
        assert set(row) >= {"probabilities", "class_id", "label"}
        assert row["label"] == CLASS_NAMES[row["class_id"]]
        assert sum(row["probabilities"]) == pytest.approx(1.0, abs=1e-4)
        by_pixels = requests.post(server.rest_url + "/v1/models/tiny:predict", data=json.dumps({
            "signature_name": "serving_pixels",
            "instances": [pixels.astype(float).tolist()]}), timeout=120)
        assert by_pixels.status_code == 200, by_pixels.text
        np.testing.assert_allclose(by_pixels.json()["predictions"][0]["probabilities"],
                                   row["probabilities"], atol=1e-5)
        refused = requests.post(server.rest_url + "/v1/models/tiny:predict", data=json.dumps({
            "instances": [{"b64": base64.b64encode(too_big).decode()}]}), timeout=120)
        assert refused.status_code == 400, refused.text
        assert "300" in refused.json()["error"]
        for target in (server.rest_url, "grpc://" + server.grpc_target):
            predictions = Client(target, model_name="tiny").predict([png])
            assert predictions[0].label == row["label"]


# --- the batcher in process (fast, exact batch sizes) -------------------------------------------

from kerascnn.server.batching import QUEUE_FULL, Batcher  # noqa: E402
from kerascnn.server.config import BatchingOptions, read_batching_parameters  # noqa: E402
from kerascnn.server.status import ServingError  # noqa: E402


def _recording_batcher(**options):
    calls = []
    gate = threading.Event()
    gate.set()

    def run(inputs):
        gate.wait(30)
        calls.append({k: v.copy() for k, v in inputs.items()})
        return {"y": inputs["x"] * 10, "n": np.full(len(inputs["x"]), len(inputs["x"]))}

    opts = BatchingOptions(num_batch_threads=1, **options)
    return Batcher(run, opts), calls, gate


def _submit_together(batcher, arrays, before_join=None):
    results = [None] * len(arrays)

    def go(i):
        try:
            results[i] = batcher.run({"x": arrays[i]})
        except ServingError as exc:
            results[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(arrays))]
    for t in threads:
        t.start()
        time.sleep(0.05)
    if before_join:
        time.sleep(0.2)
        before_join()
    for t in threads:
        t.join(30)
    return results


def test_batcher_merges_pads_and_splits_back():
    batcher, calls, _ = _recording_batcher(max_batch_size=8, batch_timeout_micros=300_000,
                                           allowed_batch_sizes=(4, 8))
    try:
        arrays = [np.full((n, 2), i, np.float32) for i, n in enumerate([1, 2, 2])]
        results = _submit_together(batcher, arrays)
        assert len(calls) == 1 and calls[0]["x"].shape == (8, 2)  # 5 rows padded to 8
        # the padding repeats the first row
        assert calls[0]["x"][5:].tolist() == [[0.0, 0.0]] * 3
        for arr, result in zip(arrays, results):
            np.testing.assert_array_equal(result["y"], arr * 10)
            assert result["n"].tolist() == [8] * len(arr)
    finally:
        batcher.stop()


def test_batcher_pads_variable_length_inputs():
    batcher, calls, _ = _recording_batcher(max_batch_size=4, batch_timeout_micros=300_000,
                                           pad_variable_length_inputs=True)
    try:
        short = np.array([[7.0, 8.0]], np.float32)
        long = np.array([[1.0, 2.0, 3.0]], np.float32)
        results = _submit_together(batcher, [short, long])
        assert len(calls) == 1 and calls[0]["x"].shape == (2, 3)
        assert calls[0]["x"][0].tolist() == [7.0, 8.0, 7.0]  # padded with the first element
        assert results[0]["y"].shape == (1, 3) and results[1]["y"].tolist() == [[10, 20, 30]]
    finally:
        batcher.stop()
    strict, _, _ = _recording_batcher(max_batch_size=4, batch_timeout_micros=300_000)
    try:
        results = _submit_together(strict, [np.zeros((1, 2), np.float32),
                                            np.zeros((1, 3), np.float32)])
        assert all(isinstance(r, ServingError) and "padding is turned off" in r.message
                   for r in results)
    finally:
        strict.stop()


def test_batcher_oversize_split_and_queue_full():
    batcher, calls, gate = _recording_batcher(max_batch_size=2, max_enqueued_batches=1)
    try:
        with pytest.raises(ServingError, match="Task size 3 is larger than maximum input batch "
                                               "size 2"):
            batcher.run({"x": np.zeros((3, 1), np.float32)})
        gate.clear()  # the batch thread blocks inside the model call
        results = _submit_together(batcher, [np.zeros((2, 1), np.float32)] * 3, gate.set)
        errors = [r for r in results if isinstance(r, ServingError)]
        assert [(e.code, e.message) for e in errors] == [("UNAVAILABLE", QUEUE_FULL)]
    finally:
        gate.set()
        batcher.stop()
    splitter, calls, _ = _recording_batcher(max_batch_size=2, enable_large_batch_splitting=True)
    try:
        out = splitter.run({"x": np.arange(5, dtype=np.float32).reshape(5, 1)})
        assert out["y"].ravel().tolist() == [0, 10, 20, 30, 40]
        assert [len(c["x"]) for c in calls] == [2, 2, 1]
    finally:
        splitter.stop()


def test_batching_parameters_file_uses_tf_serving_fields(tmp_path):
    path = tmp_path / "batching.config"
    path.write_text(BATCHING + "pad_variable_length_inputs: true\n")
    opts = BatchingOptions.from_proto(read_batching_parameters(path))
    assert (opts.max_batch_size, opts.batch_timeout_micros, opts.max_enqueued_batches,
            opts.num_batch_threads, opts.allowed_batch_sizes, opts.pad_variable_length_inputs) == (
        4, 500000, 1, 1, (2, 4), True)
    path.write_text("max_batch_size { value: 4 } allowed_batch_sizes: 3")
    from kerascnn.errors import UsageError

    with pytest.raises(UsageError, match="Last entry in allowed_batch_sizes must match"):
        BatchingOptions.from_proto(read_batching_parameters(path))
    path.write_text("max_batch_size: 4")  # not the wrapper form TF Serving requires
    with pytest.raises(UsageError, match="batching parameters file"):
        read_batching_parameters(path)


def test_default_request_limit_is_the_same_for_the_cli_and_the_library():
    from kerascnn.cli.serve_cmd import serve
    from kerascnn.server.config import ServerOptions

    (flag,) = [p for p in serve.params if p.name == "max_request_bytes"]
    assert flag.default == ServerOptions.max_request_bytes == 64 * 1024 * 1024
